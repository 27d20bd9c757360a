package pipeline

import (
	"reflect"
	"strings"
	"testing"
)

// unsetRecipe needs two vars it has no value for: one fills an integer
// parameter (so the strict schema alone would refuse the reference) and one
// decides a when: condition.
const unsetRecipe = `version: 1
vars:
  out: null
  n: null
  by: 2
stages:
  - {id: g, kind: gen, with: {tensors: "${n}", rows: 4, cols: 8}}
  - {id: s, kind: scale, inputs: [g], when: {var: out, matches: "*.raw"}, with: {by: "${by}"}}
  - {id: w, kind: raw, inputs: [s], with: {path: "${out}"}}
`

func TestOutlineAcceptsUnsetVars(t *testing.T) {
	o, err := ParseOutline("r.yaml", []byte(unsetRecipe), nil, testRegistry())
	if err != nil {
		t.Fatalf("outline of a recipe without its vars: %v", err)
	}
	if want := []string{"n", "out"}; !reflect.DeepEqual(o.Unset, want) {
		t.Errorf("Unset %v, want %v", o.Unset, want)
	}
	if len(o.Stages) != 3 || o.Stages[1].Skipped {
		t.Errorf("stages %d, s skipped %v: want 3, an undecided when: leaves the stage in", len(o.Stages), o.Stages[1].Skipped)
	}
	if o.Stages[1].With["by"] != 2 {
		t.Errorf("a var with a default is still substituted: by = %#v", o.Stages[1].With["by"])
	}
	// The same recipe about to run must name both vars.
	_, err = Parse("r.yaml", []byte(unsetRecipe), nil, testRegistry())
	for _, want := range []string{`r.yaml:7:40: stage "g": var "n" is not set`, `r.yaml:8:45: stage "s": when: var "out" is not set`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse: %v\nwant a problem %q", err, want)
		}
	}
}

// TestOutlineStillChecksStructure: without vars, everything that does not
// depend on them is still checked, at its position.
func TestOutlineStillChecksStructure(t *testing.T) {
	src := `version: 1
vars:
  out: null
stages:
  - {id: g, kind: gen, with: {tensors: 1, rows: "${out}", cols: 8, colz: 1}}
  - {id: s, kind: scale, inputs: [w], with: {by: 0}}
  - {id: w, kind: raw, inputs: [s], with: {path: "${out}"}}
  - {id: x, kind: rwa, inputs: [g]}
  - {id: y, kind: scale, inputs: [g], when: {var: out}, with: {by: 1}}
  - {id: z, kind: gen, with: {tensors: many, rows: 1, cols: 1}}
`
	_, err := ParseOutline("r.yaml", []byte(src), nil, testRegistry())
	ps, ok := AsProblems(err)
	if !ok {
		t.Fatalf("want Problems, got %v", err)
	}
	var got []string
	for _, p := range ps {
		got = append(got, p.Error())
	}
	want := []string{
		`r.yaml:5:68: stage "g": unknown key "colz", expected one of: cols, delay_ms, fail_at_row, rows, tensors`,
		`r.yaml:6:34: stage "s": inputs form a cycle: s -> w -> s`,
		`r.yaml:6:45: stage "s": by: must not be 0`,
		`r.yaml:8:19: stage "x": "rwa" is not allowed, expected one of "gen", "raw", "scale"`,
		`r.yaml:9:45: stage "y": when: expected exactly one of matches, not_matches`,
		`r.yaml:10:40: stage "z": wrong type: expected integer, but got string`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestOutlineAppliesSets(t *testing.T) {
	o, err := ParseOutline("r.yaml", []byte(unsetRecipe), map[string]string{"out": "x.bin"}, testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(o.Unset, []string{"n"}) || !o.Stages[1].Skipped || !o.Stages[2].Skipped {
		t.Errorf("Unset %v, s skipped %v, w skipped %v: want [n], true, true", o.Unset, o.Stages[1].Skipped, o.Stages[2].Skipped)
	}
	if _, err := ParseOutline("r.yaml", []byte(unsetRecipe), map[string]string{"outt": "x"}, testRegistry()); err == nil ||
		!strings.Contains(err.Error(), `--set outt: the recipe declares no var "outt"`) {
		t.Errorf("a --set of an undeclared var: %v", err)
	}
}

// FuzzParseOutline: the outline parser must return an outline or problems
// with positions, never panic, and never accept what Parse refuses for a
// reason other than an unset var.
func FuzzParseOutline(f *testing.F) {
	f.Add([]byte(unsetRecipe))
	f.Add([]byte(goodRecipe))
	f.Add([]byte(branching))
	for _, c := range badRecipes {
		f.Add([]byte(c.src))
	}
	reg := testRegistry()
	f.Fuzz(func(t *testing.T, src []byte) {
		o, err := ParseOutline("f.yaml", src, nil, reg)
		if err != nil {
			ps, ok := AsProblems(err)
			if !ok {
				return
			}
			for _, p := range ps {
				if p.Line < 1 || p.Col < 1 || p.Msg == "" {
					t.Fatalf("problem without position or message: %+v", p)
				}
			}
			return
		}
		if o == nil {
			t.Fatal("nil outline without error")
		}
		if len(o.Unset) == 0 {
			if _, err := Parse("f.yaml", src, nil, reg); err != nil {
				t.Fatalf("an outline with every var set is accepted, Parse refuses it: %v", err)
			}
		}
	})
}

// TestOutlineOfAForEach: with its list var unset, a for_each stage stays as
// written (its item name is no var); with the list, it is copied.
func TestOutlineOfAForEach(t *testing.T) {
	src := strings.Replace(matrix, "types: [a, b.c]", "types: null", 1)
	src = strings.Replace(src, "with: {by: 2}", `with: {by: "${t}"}`, 1)
	o, err := ParseOutline("r.yaml", []byte(src), nil, testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range o.Stages {
		ids = append(ids, s.ID)
	}
	if strings.Join(ids, " ") != "g s w" || !reflect.DeepEqual(o.Unset, []string{"out", "types"}) {
		t.Errorf("stages %v, unset %v; want g s w and [out types]", ids, o.Unset)
	}
	o, err = ParseOutline("r.yaml", []byte(matrix), nil, testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if len(o.Stages) != 5 || !reflect.DeepEqual(o.Unset, []string{"out"}) {
		t.Errorf("%d stages, unset %v; want 5 and [out]", len(o.Stages), o.Unset)
	}
}

// TestOutlineRefusesUndeclaredVars: a reference to a name the recipe does
// not declare can never be set, so it is a problem with no value at hand.
func TestOutlineRefusesUndeclaredVars(t *testing.T) {
	src := "version: 1\nvars: {out: null}\nstages:\n  - {id: g, kind: gen, with: {tensors: 1, rows: 1, cols: 1}}\n" +
		"  - {id: w, kind: raw, inputs: [g], when: {var: ext, matches: x}, with: {path: \"${outt}\"}}\n"
	_, err := ParseOutline("r.yaml", []byte(src), nil, testRegistry())
	want := []string{`r.yaml:5:43: stage "w": var "ext" is not declared under vars:`, `r.yaml:5:80: stage "w": var "outt" is not declared under vars:`}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("got:\n%v\nwant:\n%s", err, strings.Join(want, "\n"))
	}
}
