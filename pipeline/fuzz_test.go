package pipeline

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary bytes to the recipe parser: it must return a
// recipe or problems, never panic, and every problem must carry a position.
func FuzzParse(f *testing.F) {
	f.Add([]byte(goodRecipe))
	f.Add([]byte(branching))
	for _, c := range badRecipes {
		f.Add([]byte(c.src))
	}
	// Aliases: cycles direct and through a mapping, an alias bomb, a deep
	// chain, a merge key, aliases as keys and as stage fields.
	f.Add([]byte("version: 1\nvars:\n  loop: &a [*a]\n" + oneStage))
	f.Add([]byte("version: 1\nstages:\n  - &s {id: g, kind: gen, with: {tensors: 1, rows: 1, cols: 1, me: *s}}\n"))
	f.Add([]byte(laughs()))
	f.Add([]byte(deepAliases()))
	f.Add([]byte("version: 1\nstages:\n  - &g {id: g, kind: gen, with: &w {tensors: 1, rows: 1, cols: 1}}\n  - {<<: *g, id: h, with: *w}\n"))
	f.Add([]byte("version: 1\nvars: {&k out: o.raw}\nstages:\n  - {id: &i g, kind: gen, with: {tensors: 1, rows: 1, cols: 1}}\n  - {id: w, kind: raw, inputs: [*i], with: {path: \"${out}\"}}\n"))
	shipped, err := filepath.Glob(filepath.Join("..", "recipes", "*.yaml"))
	if err != nil || len(shipped) == 0 {
		f.Fatalf("no shipped recipes to seed from (%v)", err)
	}
	for _, p := range shipped {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	reg := testRegistry()
	f.Fuzz(func(t *testing.T, src []byte) {
		r, err := Parse("f.yaml", src, map[string]string{}, reg)
		if err == nil {
			if r == nil {
				t.Fatal("nil recipe without error")
			}
			return
		}
		if ps, ok := AsProblems(err); ok {
			for _, p := range ps {
				if p.Line < 1 || p.Col < 1 || p.Msg == "" {
					t.Fatalf("problem without position or message: %+v", p)
				}
			}
		}
	})
}
