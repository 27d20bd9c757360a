package pipeline

import (
	"strings"
	"testing"
)

const goodRecipe = `version: 1
vars:
  out: /tmp/x.raw
  n: 2
stages:
  - id: g
    kind: gen
    with: {tensors: "${n}", rows: 4, cols: 8}
  - id: s
    kind: scale
    inputs: [g]
    with: {by: 2}
  - id: w
    kind: raw
    inputs: [s]
    with: {path: "${out}"}
`

// Each case is a malformed recipe with the exact problems it must produce,
// in order: position, stage and message.
var badRecipes = []struct {
	name string
	src  string
	sets map[string]string
	want []string
}{
	// yaml.v3 loses columns; lines are checked by hand: the unclosed "[" is
	// on line 3, the stray "@" on line 2, and a stream that ends inside a
	// list is placed at the end of its last line.
	{"yaml syntax at the end", "version: 1\nstages: [\n", nil, []string{"r.yaml:2:10: invalid YAML: did not find expected node content"}},
	{"yaml unclosed list", "version: 1\nstages:\n- [unclosed\n", nil, []string{"r.yaml:3:1: invalid YAML: did not find expected ',' or ']'"}},
	{"yaml unclosed list mid-file", "version: 1\nstages:\n- [unclosed\n- {id: g, kind: gen}\n", nil, []string{"r.yaml:3:1: invalid YAML: did not find expected ',' or ']'"}},
	{"yaml scanner error", "version: 1\nstages: @x\n", nil, []string{"r.yaml:2:1: invalid YAML: found character that cannot start any token"}},
	{"not a mapping", "- 1\n", nil, []string{"r.yaml:1:1: a recipe is a YAML mapping with version and stages"}},
	{"missing version", "stages:\n  - {id: g, kind: gen, with: {tensors: 1, rows: 1, cols: 1}}\n", nil,
		[]string{`r.yaml:1:1: missing required key "version"`}},
	{"unknown version", "version: 7\nstages:\n  - {id: g, kind: gen, with: {tensors: 1, rows: 1, cols: 1}}\n", nil,
		[]string{"r.yaml:1:10: recipe version 7 is not supported by this mlmf-run, expected one of: 1"}},
	{"version wrong type", "version: one\nstages:\n  - {id: g, kind: gen, with: {tensors: 1, rows: 1, cols: 1}}\n", nil,
		[]string{"r.yaml:1:10: wrong type: expected integer, but got string"}},
	{"missing stages", "version: 1\n", nil, []string{`r.yaml:1:1: missing required key "stages"`}},
	{"empty stages", "version: 1\nstages: []\n", nil, []string{"r.yaml:2:9: minimum 1 items required, but found 0 items"}},
	{"unknown top key", "version: 1\nstagez: []\nstages:\n  - {id: g, kind: gen, with: {tensors: 1, rows: 1, cols: 1}}\n", nil,
		[]string{`r.yaml:2:1: unknown key "stagez", expected one of: description, stages, vars, version`}},
	{"unknown stage key", "version: 1\nstages:\n  - id: g\n    kind: gen\n    wiht: {}\n", nil,
		[]string{`r.yaml:5:5: stage "g": unknown key "wiht", expected one of: description, for_each, id, inputs, kind, when, with`}},
	{"unknown kind", "version: 1\nstages:\n  - {id: g, kind: gne}\n", nil,
		[]string{`r.yaml:3:19: stage "g": "gne" is not allowed, expected one of "gen", "raw", "scale"`}},
	{"missing kind", "version: 1\nstages:\n  - {id: g}\n", nil, []string{`r.yaml:3:5: stage "g": missing required key "kind"`}},
	{"missing id", "version: 1\nstages:\n  - {kind: gen, with: {tensors: 1, rows: 1, cols: 1}}\n", nil,
		[]string{`r.yaml:3:5: stage "#1": missing required key "id"`}},
	{"bad id", "version: 1\nstages:\n  - {id: 9g, kind: gen, with: {tensors: 1, rows: 1, cols: 1}}\n", nil,
		[]string{`r.yaml:3:10: stage "9g": does not match pattern '^[A-Za-z][A-Za-z0-9_-]*$'`}},
	{"unknown param", "version: 1\nstages:\n  - id: g\n    kind: gen\n    with: {tensors: 1, rows: 1, cols: 1, colz: 2}\n", nil,
		[]string{`r.yaml:5:42: stage "g": unknown key "colz", expected one of: cols, delay_ms, fail_at_row, rows, tensors`}},
	{"param wrong type", "version: 1\nstages:\n  - id: g\n    kind: gen\n    with: {tensors: many, rows: 1, cols: 1}\n", nil,
		[]string{`r.yaml:5:21: stage "g": wrong type: expected integer, but got string`}},
	{"param below minimum", "version: 1\nstages:\n  - id: g\n    kind: gen\n    with: {tensors: 0, rows: 1, cols: 1}\n", nil,
		[]string{`r.yaml:5:21: stage "g": must be >= 1 but found 0`}},
	{"missing param", "version: 1\nstages:\n  - id: g\n    kind: gen\n    with: {rows: 1, cols: 1}\n", nil,
		[]string{`r.yaml:5:11: stage "g": missing required key "tensors"`}},
	{"with not a mapping", "version: 1\nstages:\n  - id: g\n    kind: gen\n    with: [1]\n", nil,
		[]string{`r.yaml:5:11: stage "g": wrong type: expected object, but got array`}},
	{"inputs not a list", "version: 1\nstages:\n  - {id: g, kind: gen, with: {tensors: 1, rows: 1, cols: 1}}\n  - {id: w, kind: raw, inputs: g, with: {path: x}}\n", nil,
		[]string{`r.yaml:4:32: stage "w": wrong type: expected array, but got string`, `r.yaml:4:32: stage "w": raw takes at least 1 input(s), got 0`}},
	{"unknown input", "version: 1\nstages:\n  - {id: g, kind: gen, with: {tensors: 1, rows: 1, cols: 1}}\n  - {id: w, kind: raw, inputs: [gg], with: {path: x}}\n", nil,
		[]string{`r.yaml:4:33: stage "w": unknown input "gg", expected the id of another stage (g)`}},
	{"self input", "version: 1\nstages:\n  - {id: w, kind: scale, inputs: [w], with: {by: 1}}\n", nil,
		[]string{`r.yaml:3:35: stage "w": stage lists itself as an input`}},
	{"duplicate id", "version: 1\nstages:\n  - {id: g, kind: gen, with: {tensors: 1, rows: 1, cols: 1}}\n  - {id: g, kind: gen, with: {tensors: 1, rows: 1, cols: 1}}\n", nil,
		[]string{`r.yaml:4:10: stage "g": duplicate stage id, first declared at r.yaml:3:5`}},
	{"cycle", "version: 1\nstages:\n  - {id: a, kind: scale, inputs: [c], with: {by: 1}}\n  - {id: b, kind: scale, inputs: [a], with: {by: 1}}\n  - {id: c, kind: scale, inputs: [b], with: {by: 1}}\n", nil,
		[]string{`r.yaml:3:34: stage "a": inputs form a cycle: a -> c -> b -> a`}},
	{"too many inputs", "version: 1\nstages:\n  - {id: g, kind: gen, with: {tensors: 1, rows: 1, cols: 1}}\n  - {id: h, kind: gen, with: {tensors: 1, rows: 1, cols: 1}}\n  - {id: s, kind: scale, inputs: [g, h], with: {by: 1}}\n", nil,
		[]string{`r.yaml:5:34: stage "s": scale takes at most 1 input(s), got 2`}},
	{"inputs to a source", "version: 1\nstages:\n  - {id: g, kind: gen, with: {tensors: 1, rows: 1, cols: 1}}\n  - {id: h, kind: gen, inputs: [g], with: {tensors: 1, rows: 1, cols: 1}}\n", nil,
		[]string{`r.yaml:4:32: stage "h": gen takes at most 0 input(s), got 1`}},
	{"unset var", "version: 1\nvars:\n  out: null\nstages:\n  - {id: g, kind: gen, with: {tensors: 1, rows: 1, cols: 1}}\n  - {id: w, kind: raw, inputs: [g], with: {path: \"${out}\"}}\n", nil,
		[]string{`r.yaml:6:50: stage "w": var "out" is not set, expected a default under vars: or --set out=VALUE`}},
	{"undeclared var", "version: 1\nstages:\n  - {id: g, kind: gen, with: {tensors: 1, rows: 1, cols: 1}}\n  - {id: w, kind: raw, inputs: [g], with: {path: \"out/${name}.raw\"}}\n", nil,
		[]string{`r.yaml:4:50: stage "w": var "name" is not set, expected a default under vars: or --set name=VALUE`}},
	{"set of undeclared var", goodRecipe, map[string]string{"outt": "y"},
		[]string{`r.yaml:3:3: --set outt: the recipe declares no var "outt", expected one of: n, out`}},
	{"var fills wrong type", goodRecipe, map[string]string{"n": "two"},
		[]string{`r.yaml:8:21: stage "g": wrong type: expected integer, but got string`}},
	{"vars value a nested list", "version: 1\nvars:\n  x: [[1]]\nstages:\n  - {id: g, kind: gen, with: {tensors: 1, rows: 1, cols: 1}}\n", nil,
		[]string{"r.yaml:3:6: wrong type: expected string or number or boolean or null, but got array",
			"r.yaml:3:7: wrong type: expected string or number, but got array"}},
	{"constructor rejects", "version: 1\nstages:\n  - {id: g, kind: gen, with: {tensors: 1, rows: 1, cols: 1}}\n  - {id: s, kind: scale, inputs: [g], with: {by: 0}}\n", nil,
		[]string{`r.yaml:4:45: stage "s": by: must not be 0`}},
	{"several problems sorted", "version: 1\nstages:\n  - {id: a, kind: gen, with: {tensors: x, rows: 1, cols: 1}}\n  - {id: b, kind: nope}\n  - {id: c, kind: raw, inputs: [zz], with: {path: p}}\n", nil,
		[]string{`r.yaml:3:40: stage "a": wrong type: expected integer, but got string`,
			`r.yaml:4:19: stage "b": "nope" is not allowed, expected one of "gen", "raw", "scale"`,
			`r.yaml:5:33: stage "c": unknown input "zz", expected the id of another stage (a, b)`}},
}

func TestMalformedRecipes(t *testing.T) {
	if len(badRecipes) < 25 {
		t.Fatalf("only %d cases", len(badRecipes))
	}
	for _, tc := range badRecipes {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("r.yaml", []byte(tc.src), tc.sets, testRegistry())
			ps, ok := AsProblems(err)
			if !ok {
				t.Fatalf("want Problems, got %v", err)
			}
			var got []string
			for _, p := range ps {
				got = append(got, p.Error())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestGoodRecipeParses(t *testing.T) {
	r, err := Parse("r.yaml", []byte(goodRecipe), map[string]string{"out": "/tmp/y.raw"}, testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if r.Vars["out"] != "/tmp/y.raw" || r.Stages[2].With["path"] != "/tmp/y.raw" {
		t.Errorf("--set not applied: %v %v", r.Vars, r.Stages[2].With)
	}
	if n, ok := r.Stages[0].With["tensors"].(int); !ok || n != 2 {
		t.Errorf("whole-var scalar should take the var's type, got %#v", r.Stages[0].With["tensors"])
	}
}

const branching = `version: 1
vars:
  out: o.raw
stages:
  - {id: g, kind: gen, with: {tensors: 1, rows: 2, cols: 2}}
  - {id: big, kind: scale, inputs: [g], when: {var: out, matches: "*.big"}, with: {by: 0}}
  - {id: w-big, kind: raw, inputs: [big], with: {path: "${out}"}}
  - {id: small, kind: scale, inputs: [g], when: {var: out, not_matches: "*.big"}, with: {by: 2}}
  - {id: w-small, kind: raw, inputs: [small], with: {path: "${out}"}}
`

func TestWhenSkipsStagesAndTheirDependants(t *testing.T) {
	r, err := Parse("r.yaml", []byte(branching), map[string]string{"out": "dir/x.raw"}, testRegistry())
	if err != nil {
		t.Fatal(err) // by: 0 is refused by scale's constructor, but that stage is skipped
	}
	var skipped []string
	for _, d := range r.Stages {
		if d.Skipped {
			skipped = append(skipped, d.ID)
		}
	}
	if strings.Join(skipped, ",") != "big,w-big" {
		t.Errorf("skipped %v, want big and w-big", skipped)
	}
	if _, err := Parse("r.yaml", []byte(branching), map[string]string{"out": "dir/x.big"}, testRegistry()); err == nil ||
		!strings.Contains(err.Error(), `stage "big": by: must not be 0`) {
		t.Errorf("the taken branch must be checked: %v", err)
	}
	bad := strings.Replace(branching, "when: {var: out, matches:", "when: {var: outt, matches:", 1)
	if _, err := Parse("r.yaml", []byte(bad), nil, testRegistry()); err == nil || !strings.Contains(err.Error(), `r.yaml:6:47: stage "big": when: var "outt" is not set`) {
		t.Errorf("unknown when var: %v", err)
	}
}

func TestGlobMatch(t *testing.T) {
	for _, c := range []struct {
		glob, s string
		want    bool
	}{
		{"*.gguf", "out/m.gguf", true}, {"*.gguf", "m.gguf.json", false}, {"*.gguf|*.bin", "a/b.bin", true},
		{"*.gguf|*.bin", "a/b.safetensors", false}, {"m?.gguf", "m1.gguf", true}, {"a+b", "a+b", true}, {"a+b", "aab", false},
	} {
		if got := globMatch(c.glob, c.s); got != c.want {
			t.Errorf("globMatch(%q, %q) = %v", c.glob, c.s, got)
		}
	}
}
