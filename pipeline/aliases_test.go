package pipeline

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"
)

const oneStage = "stages:\n  - {id: g, kind: gen, with: {tensors: 1, rows: 1, cols: 1}}\n"

// laughs is the "billion laughs" recipe: nine levels of nine aliases each,
// 9^9 (387 million) scalars once expanded, from under 600 bytes. Counting
// by hand, the nodes before l5 expand to 74,744, so the first *l4 of l5
// (line 8, column 12) passes 100,000.
func laughs() string {
	var b strings.Builder
	b.WriteString("version: 1\nvars:\n  l0: &l0 [x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= 8; i++ {
		p := fmt.Sprintf("*l%d", i-1)
		fmt.Fprintf(&b, "  l%d: &l%d [%s%s]\n", i, i, strings.Repeat(p+", ", 8), p)
	}
	return b.String() + oneStage
}

// deepAliases chains 300 one-item lists, each holding the previous one:
// d_i nests i+1 lists inside vars (level 2), so d198 on line 201 is the
// first to pass 200 levels, at its alias (column 16).
func deepAliases() string {
	var b strings.Builder
	b.WriteString("version: 1\nvars:\n  d0: &d0 [x]\n")
	for i := 1; i <= 300; i++ {
		fmt.Fprintf(&b, "  d%d: &d%d [*d%d]\n", i, i, i-1)
	}
	return b.String() + oneStage
}

// TestRecipeAliasesBounded checks that alias cycles and alias bombs are one
// problem at the alias that causes them, found quickly in little memory.
func TestRecipeAliasesBounded(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"cycle", "version: 1\nvars:\n  loop: &a [*a]\n" + oneStage,
			"r.yaml:3:13: alias *a refers to a node that contains it (anchor &a at r.yaml:3:9): it would expand forever"},
		{"cycle in a mapping", "version: 1\nstages:\n  - &s {id: g, kind: gen, with: {tensors: 1, rows: 1, cols: 1, me: *s}}\n",
			"r.yaml:3:68: alias *s refers to a node that contains it (anchor &s at r.yaml:3:5): it would expand forever"},
		{"billion laughs", laughs(),
			"r.yaml:8:12: the recipe grows past 100000 YAML nodes once its aliases are expanded, expected at most 100000 (a recipe needs a few hundred)"},
		{"deep", deepAliases(),
			"r.yaml:201:16: the recipe nests deeper than 200 levels once its aliases are expanded, expected at most 200"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			start := time.Now()
			_, err := Parse("r.yaml", []byte(tc.src), nil, testRegistry())
			took := time.Since(start)
			runtime.ReadMemStats(&after)
			if err == nil || err.Error() != tc.want {
				t.Errorf("got %v\nwant %s", err, tc.want)
			}
			if took > 2*time.Second {
				t.Errorf("took %v", took)
			}
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 64<<20 {
				t.Errorf("allocated %d MiB", alloc>>20)
			}
		})
	}
}

// TestRecipeAliasesAllowed checks that ordinary aliases still work.
func TestRecipeAliasesAllowed(t *testing.T) {
	src := "version: 1\nstages:\n  - id: g\n    kind: gen\n    with: &p {tensors: 1, rows: 2, cols: 2}\n" +
		"  - {id: h, kind: gen, with: *p}\n  - {id: w, kind: raw, inputs: [g], with: {path: o.raw}}\n  - {id: v, kind: raw, inputs: [h], with: {path: p.raw}}\n"
	r, err := Parse("r.yaml", []byte(src), nil, testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if r.Stages[1].With["rows"] != 2 {
		t.Errorf("alias not expanded: %#v", r.Stages[1].With)
	}
}

// TestForEachCopiesBounded: for_each multiplies a stage by its list, a
// bomb of its own (10,000 items over a stage of 18 nodes, counted by hand,
// is 180,000 nodes); it is bounded like aliases, at the for_each.
func TestForEachCopiesBounded(t *testing.T) {
	items := make([]string, 10_000)
	for i := range items {
		items[i] = fmt.Sprintf("i%d", i)
	}
	_, err := Parse("r.yaml", []byte(matrix), map[string]string{"types": strings.Join(items, ","), "out": "${t}.raw"}, testRegistry())
	want := `r.yaml:9:15: stage "s": for_each: 10000 copies would grow the recipe past 100000 YAML nodes, expected at most 100000`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v\nwant %s", err, want)
	}
	items = items[:5000] // 5000 * (18 + 12 for the raw stage fed by it) = 150,000
	_, err = Parse("r.yaml", []byte(matrix), map[string]string{"types": strings.Join(items, ","), "out": "${t}.raw"}, testRegistry())
	want = `r.yaml:12:5: stage "w": copied with its inputs by for_each: 5000 copies would grow the recipe past 100000 YAML nodes, expected at most 100000`
	if ps, _ := AsProblems(err); len(ps) != 1 || ps[0].Error() != want {
		t.Errorf("got %v\nwant only %s", err, want)
	}
	if _, err := Parse("r.yaml", []byte(matrix), map[string]string{"types": strings.Join(items[:3000], ","), "out": "${t}.raw"}, testRegistry()); err != nil {
		t.Errorf("3000 copies (90,000 nodes): %v", err)
	}
}
