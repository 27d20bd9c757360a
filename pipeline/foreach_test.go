package pipeline

import (
	"strings"
	"testing"
)

const matrix = `version: 1
vars:
  types: [a, b.c]
  out: null
stages:
  - {id: g, kind: gen, with: {tensors: 1, rows: 2, cols: 2}}
  - id: s
    kind: scale
    for_each: {var: types, as: t}
    inputs: [g]
    with: {by: 2}
  - {id: w, kind: raw, inputs: [s], with: {path: "${out}"}}
`

func TestForEachCopiesTheBranch(t *testing.T) {
	r, err := Parse("r.yaml", []byte(matrix), map[string]string{"out": "d/x-${t}.raw"}, testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range r.Stages {
		got = append(got, s.ID+"<"+strings.Join(s.Inputs, ",")+">"+fmtParam(s.With["path"]))
	}
	want := "g<> s-a<g> s-b_c<g> w-a<s-a>d/x-a.raw w-b_c<s-b_c>d/x-b.c.raw"
	if strings.Join(got, " ") != want {
		t.Fatalf("stages %s\nwant   %s", strings.Join(got, " "), want)
	}
	if r.Stages[1].Line != 7 || r.Stages[2].Line != 7 {
		t.Errorf("copies at lines %d, %d; want the template's, 7", r.Stages[1].Line, r.Stages[2].Line)
	}
}

func TestForEachListFromSet(t *testing.T) {
	r, err := Parse("r.yaml", []byte(matrix), map[string]string{"types": "x, y,z", "out": "${t}.raw"}, testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range r.Stages {
		ids = append(ids, s.ID)
	}
	if strings.Join(ids, " ") != "g s-x s-y s-z w-x w-y w-z" {
		t.Fatalf("stages %v", ids)
	}
}

func TestForEachProblems(t *testing.T) {
	for _, tc := range []struct{ name, types, want string }{
		{"empty list", ",", `r.yaml:9:15: stage "s": for_each: var "types" is an empty list, expected at least one item`},
		{"twice", "a,b,a", `r.yaml:9:15: stage "s": for_each: item "a" of var "types" is listed twice`},
		{"one path for all", "a,b", `r.yaml:12:5: stage "w-b": output same.raw is written twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := "${t}.raw"
			if tc.name == "one path for all" {
				out = "same.raw"
			}
			r, err := Parse("r.yaml", []byte(matrix), map[string]string{"types": tc.types, "out": out}, testRegistry())
			if err == nil {
				_, err = Build(t.Context(), r, Env{})
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v\nwant %s", err, tc.want)
			}
		})
	}
}

func fmtParam(v any) string {
	if v == nil {
		return ""
	}
	return v.(string)
}

// TestForEachOneProblemPerCause: a for_each that cannot be expanded is one
// problem, at the for_each; the ${as} it leaves in the stage is not a
// second "var is not set" problem (seen with --type Q8_0,Q8_0).
func TestForEachOneProblemPerCause(t *testing.T) {
	rec := strings.Replace(matrix, `"${out}"`, `"d/${t}.raw"`, 1)
	_, err := Parse("r.yaml", []byte(rec), map[string]string{"types": "a,b,a"}, testRegistry())
	want := `r.yaml:9:15: stage "s": for_each: item "a" of var "types" is listed twice`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v\nwant %s", err, want)
	}
}

// TestForEachAsShadowsAVar: `as` naming a declared var would silently
// replace the user's value in the copies (with as: out, --set
// out=d/m.gguf wrote ./Q8_0 and ./F16): refused at the as.
func TestForEachAsShadowsAVar(t *testing.T) {
	for _, as := range []string{"out", "types"} {
		rec := strings.Replace(matrix, "as: t}", "as: "+as+"}", 1)
		_, err := Parse("r.yaml", []byte(rec), map[string]string{"out": "d/x.raw"}, testRegistry())
		want := `r.yaml:9:32: stage "s": for_each: as: ` + as + ` is a var the recipe declares, expected a name of its own`
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("as %s: got %v\nwant %s", as, err, want)
		}
	}
}

// TestForEachItemsAreNames: an item is taken as written, never as a
// template (types=${model} wrote under the model's path), and two items
// that name the same copy are both named in the problem (é and ü were
// "ü listed twice").
func TestForEachItemsAreNames(t *testing.T) {
	for _, tc := range []struct{ types, want string }{
		{"${out},b", `r.yaml:9:15: stage "s": for_each: item "${out}" of var "types" holds "${", expected a plain value`},
		{"é,ü", `r.yaml:9:15: stage "s": for_each: items "é" and "ü" of var "types" both name copy s-_, expected items that differ in letters, digits, - or _`},
	} {
		_, err := Parse("r.yaml", []byte(matrix), map[string]string{"types": tc.types, "out": "d/x-${t}.raw"}, testRegistry())
		if err == nil || err.Error() != tc.want {
			t.Errorf("types=%s: got %v\nwant %s", tc.types, err, tc.want)
		}
	}
}
