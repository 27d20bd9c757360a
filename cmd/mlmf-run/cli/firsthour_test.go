package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
	"github.com/mlmf-run/mlmf-run/pipeline"
)

func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := corpus.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// shippedNames lists recipes/*.yaml on disk: the expectation for what the
// binary embeds, taken from the folder rather than from the embed.
func shippedNames(t *testing.T, root string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "recipes", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recipes in %s: %v", root, err)
	}
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".yaml"))
	}
	sort.Strings(names)
	return names
}

// TestUsageProblemsExit2PointingAtHelp: exit 2 is "a recipe or usage
// problem, nothing ran", and a usage problem says where help is.
func TestUsageProblemsExit2PointingAtHelp(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{nil, []string{"no recipe given", "Run 'mlmf-run --help' for usage."}},
		{[]string{"--bogus", "x.yaml"}, []string{"unknown flag: --bogus", "Run 'mlmf-run --help' for usage."}},
		{[]string{"-Z"}, []string{"unknown shorthand flag: 'Z'", "Run 'mlmf-run --help' for usage."}},
		{[]string{"validate", "--bogus", "x.yaml"}, []string{"unknown flag: --bogus", "Run 'mlmf-run validate --help' for usage."}},
		{[]string{"graph"}, []string{"accepts 1 arg(s), received 0", "Run 'mlmf-run graph --help' for usage."}},
		{[]string{"recipes", "show"}, []string{"Run 'mlmf-run recipes show --help' for usage."}},
		{[]string{"recipes", "show", "nope"}, []string{`no shipped recipe "nope", expected one of: `, "hf-to-gguf"}},
		{[]string{"valdate", "x.yaml"}, []string{`unknown command or recipe "valdate"; did you mean 'mlmf-run validate'?`}},
		{[]string{"a.yaml", "b.yaml"}, []string{"expected one RECIPE, got 2 arguments"}},
		{[]string{"no-such-recipe.yaml"}, []string{"recipe no-such-recipe.yaml: no such file, and no shipped recipe of that name (shipped: "}},
		{[]string{"recipes/hf-to-gguf.yaml"}, []string{`did you mean the shipped recipe "hf-to-gguf"?`}},
		{[]string{"hf-to-gguf", "--set", "model"}, []string{`--set "model": expected key=value`}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			t.Chdir(t.TempDir()) // no recipes/ folder here
			code, out, errs := runCLI(tc.args...)
			if code != exitUsage {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, exitUsage, errs)
			}
			if out != "" {
				t.Errorf("stdout %q, want nothing", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errs)
				}
			}
		})
	}
	if code, out, _ := runCLI("--help"); code != exitOK || !strings.Contains(out, "Exit codes:") {
		t.Errorf("--help: exit %d, want 0 and the exit codes in the help:\n%s", code, out)
	}
}

// TestExitCodeMeaning: only what stops a run before it starts is 2.
func TestExitCodeMeaning(t *testing.T) {
	ps := pipeline.Problems{{File: "r.yaml", Line: 1, Col: 1, Msg: "bad"}}
	for _, tc := range []struct {
		err  error
		want int
	}{
		{ps, 2},
		{fmt.Errorf("planning: %w", ps), 2},
		{usageError{errors.New("--memory: bad size")}, 2},
		{ranError{ps}, 1}, // a failure once execution began, whatever it carries
		{ranError{usageError{errors.New("x")}}, 1},
		{errors.New("disk full"), 1},
	} {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("exitCode(%#v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

// TestShippedRecipesByName: every recipe in recipes/ is listed, printed as
// it is on disk, and runs by name from a folder that has no recipes/.
func TestShippedRecipesByName(t *testing.T) {
	root := moduleRoot(t)
	names := shippedNames(t, root)
	t.Chdir(t.TempDir())

	code, out, errs := runCLI("recipes", "--json")
	if code != 0 {
		t.Fatalf("recipes --json: exit %d: %s", code, errs)
	}
	var list []recipeInfo
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	var listed []string
	for _, r := range list {
		listed = append(listed, r.Name)
		if r.Description == "" || len(r.Vars) == 0 {
			t.Errorf("%s: description %q, %d vars: want both", r.Name, r.Description, len(r.Vars))
		}
		if r.Name == "hf-to-gguf" {
			req := map[string]bool{}
			for _, v := range r.Vars {
				req[v.Name] = v.Required
			}
			if !req["model"] || !req["out"] || req["type"] {
				t.Errorf("hf-to-gguf vars %+v: want model and out required, type with a default", r.Vars)
			}
		}
	}
	if !reflect.DeepEqual(listed, names) {
		t.Errorf("recipes lists %v, want what recipes/ holds: %v", listed, names)
	}
	code, text, _ := runCLI("recipes")
	for _, n := range names {
		if code != 0 || !strings.Contains(text, "\n"+n+" — ") && !strings.HasPrefix(text, n+" — ") {
			t.Errorf("recipes (text): exit %d, no line for %s:\n%s", code, n, text)
		}
	}
	for _, n := range names {
		want, err := os.ReadFile(filepath.Join(root, "recipes", n+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		if code, got, errs := runCLI("recipes", "show", n); code != 0 || got != string(want) {
			t.Errorf("recipes show %s: exit %d (%s), output differs from recipes/%s.yaml", n, code, errs, n)
		}
	}

	dir := t.TempDir()
	model := filepath.Join(root, "testdata", "tiny-llama")
	gguf := filepath.Join(dir, "tiny.gguf")
	if code, _, errs := runCLI("hf-to-gguf", "-q", "--set", "model="+model, "--set", "out="+gguf, "--set", "type=Q8_0"); code != 0 {
		t.Fatalf("hf-to-gguf by name: exit %d: %s", code, errs)
	}
	if b, err := os.ReadFile(gguf); err != nil || string(b[:4]) != "GGUF" {
		t.Errorf("hf-to-gguf by name wrote no GGUF at %s: %v", gguf, err)
	}
}

// TestEmbeddedRecipePositionsSaySo: a problem in a shipped recipe is
// reported against "NAME (embedded)", at the line and column the file has.
func TestEmbeddedRecipePositionsSaySo(t *testing.T) {
	root := moduleRoot(t)
	src, err := os.ReadFile(filepath.Join(root, "recipes", "hf-to-gguf.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	line, col := 0, 0
	for i, l := range strings.Split(string(src), "\n") {
		if c := strings.Index(l, `"${model}"`); c >= 0 {
			line, col = i+1, c+1
			break
		}
	}
	if line == 0 {
		t.Fatal(`recipes/hf-to-gguf.yaml has no "${model}"`)
	}
	t.Chdir(t.TempDir())
	code, _, errs := runCLI("hf-to-gguf", "--set", "out=x.gguf")
	want := fmt.Sprintf(`hf-to-gguf (embedded):%d:%d: stage "src": var "model" is not set`, line, col)
	if code != exitUsage || !strings.Contains(errs, want) {
		t.Errorf("exit %d, stderr:\n%s\nwant exit 2 and %q", code, errs, want)
	}
	if strings.Contains(errs, "recipes/") {
		t.Errorf("stderr names a file the user does not have:\n%s", errs)
	}
}

// TestRecipeFileWinsOverShippedName: a file called like a shipped recipe is
// what runs; a folder of that name is not a recipe, so the shipped one is.
func TestRecipeFileWinsOverShippedName(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	must(t, os.WriteFile("hf-to-gguf", []byte("version: 1\nstages:\n  - {id: a, kind: lod}\n"), 0o644))
	code, _, errs := runCLI("validate", "hf-to-gguf")
	if code != exitUsage || !strings.Contains(errs, `hf-to-gguf:3:19: stage "a": "lod" is not allowed`) {
		t.Errorf("the file should win: exit %d, stderr:\n%s", code, errs)
	}
	must(t, os.Mkdir("reshard", 0o755))
	if code, out, errs := runCLI("validate", "reshard"); code != 0 || !strings.Contains(out, "reshard: ok") {
		t.Errorf("a folder named reshard hides the shipped recipe: exit %d, %q %q", code, out, errs)
	}
	if code, _, errs := runCLI("validate", "."); code != exitUsage || !strings.Contains(errs, "is a directory") {
		t.Errorf("validate .: exit %d, %q", code, errs)
	}
}

func TestNoShippedRecipeIsShadowedByACommand(t *testing.T) {
	root := newRoot(nil, nil)
	for _, n := range shippedNames(t, moduleRoot(t)) {
		if c, _, err := root.Find([]string{n}); err == nil && c != root || n == "help" || n == "completion" {
			t.Errorf("shipped recipe %s cannot be run by name: it is a command's name", n)
		}
	}
}

// TestValidateAndGraphWithoutVars: what a repository of recipes checks in
// CI, with no model at hand.
func TestValidateAndGraphWithoutVars(t *testing.T) {
	root := moduleRoot(t)
	for _, n := range shippedNames(t, root) {
		for _, arg := range []string{n, filepath.Join(root, "recipes", n+".yaml")} {
			if code, out, errs := runCLI("validate", arg); code != 0 || !strings.Contains(out, ": ok (") {
				t.Errorf("validate %s: exit %d, %q %q", arg, code, out, errs)
			}
			if code, out, errs := runCLI("graph", arg); code != 0 || !strings.HasPrefix(out, "digraph recipe {") {
				t.Errorf("graph %s: exit %d, %q %q", arg, code, out, errs)
			}
			if code, out, errs := runCLI("graph", "--format", "mermaid", arg); code != 0 || !strings.HasPrefix(out, "flowchart LR") {
				t.Errorf("graph --format mermaid %s: exit %d, %q %q", arg, code, out, errs)
			}
		}
	}
	code, out, _ := runCLI("validate", "hf-to-gguf")
	if code != 0 || !strings.Contains(out, "model, out have no default") {
		t.Errorf("validate hf-to-gguf should say which vars it could not plan without: %q", out)
	}
	// Structure is still checked without vars.
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	must(t, os.WriteFile(bad, []byte("version: 1\nvars: {out: null}\nstages:\n  - {id: a, kind: load, with: {path: \"${out}\", pth: x}}\n  - {id: b, kind: export, inputs: [c], with: {path: \"${out}\"}}\n"), 0o644))
	code, _, errs := runCLI("validate", bad)
	for _, w := range []string{bad + `:4:48: stage "a": unknown key "pth"`, bad + `:5:36: stage "b": unknown input "c"`} {
		if code != exitUsage || !strings.Contains(errs, w) {
			t.Errorf("validate without vars: exit %d, stderr lacks %q:\n%s", code, w, errs)
		}
	}
	if strings.Contains(errs, "not set") {
		t.Errorf("validate without --set complains of unset vars:\n%s", errs)
	}
	// --plan plans with the defaults, as --set does.
	if code, _, errs := runCLI("validate", "--plan", "hf-to-gguf"); code != exitUsage || !strings.Contains(errs, `var "model" is not set`) {
		t.Errorf("validate --plan hf-to-gguf: exit %d, %q", code, errs)
	}
}

// dotLabels decodes every label="..." of a DOT file as Graphviz shows it:
// the quoted string's \" unescaped, then its \\ and \n label escapes.
func dotLabels(t *testing.T, dot string) [][]string {
	t.Helper()
	var out [][]string
	for _, m := range regexp.MustCompile(`label="((?:[^"\\]|\\.)*)"`).FindAllStringSubmatch(dot, -1) {
		var lines []string
		var cur strings.Builder
		s := m[1]
		for i := 0; i < len(s); i++ {
			if s[i] != '\\' || i+1 == len(s) {
				cur.WriteByte(s[i])
				continue
			}
			i++
			switch s[i] {
			case 'n':
				lines = append(lines, cur.String())
				cur.Reset()
			default: // \\ and \" stand for the character itself
				cur.WriteByte(s[i])
			}
		}
		out = append(out, append(lines, cur.String()))
	}
	return out
}

func TestGraphDotLabelsBreakLines(t *testing.T) {
	code, dot, errs := runCLI("graph", "hf-to-gguf")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	want := [][]string{{"src", "(load)"}, {"arch", "(detect)"}, {"names", "(remap)"}, {"quant", "(quantize)"}, {"gguf", "(export)"}}
	if got := dotLabels(t, dot); !reflect.DeepEqual(got, want) {
		t.Errorf("labels as Graphviz reads them: %q, want %q\n%s", got, want, dot)
	}
	if _, err := exec.LookPath("dot"); err != nil {
		if corpus.InCI() {
			t.Fatal("Graphviz's dot is not installed: CI renders the labels with it (.ci/run installs graphviz)")
		}
		t.Log("Graphviz's dot is not installed: labels checked by parsing only")
		return
	}
	cmd := exec.Command("dot", "-Tsvg")
	cmd.Stdin = strings.NewReader(dot)
	svg, err := cmd.Output()
	if err != nil {
		t.Fatalf("dot -Tsvg: %v", err)
	}
	for _, w := range []string{">src</text>", ">(load)</text>", ">gguf</text>", ">(export)</text>"} {
		if !strings.Contains(string(svg), w) {
			t.Errorf("dot's SVG lacks %s: a label line not broken", w)
		}
	}
}

func TestStagesShowsNestedFields(t *testing.T) {
	code, out, errs := runCLI("stages")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, w := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^    adapters +array of object \(required\)  adapters applied in order$`),
		regexp.MustCompile(`(?m)^      adapters\[\]\.path +string \(required\)  PEFT adapter folder`),
		regexp.MustCompile(`(?m)^      adapters\[\]\.weight +number  multiplies`),
		regexp.MustCompile(`(?m)^      rules\[\]\.match +string \(required\)`),
		regexp.MustCompile(`(?m)^    metadata +map of string  `),
		regexp.MustCompile(`(?m)^    max_shard_size +string or integer  `),
	} {
		if !w.MatchString(out) {
			t.Errorf("stages output lacks a line matching %s", w)
		}
	}
}

// TestDryRunShapesAsInspectShowsThem compares --dry-run's shapes with what
// inspect reports of the file the same run writes.
func TestDryRunShapesAsInspectShowsThem(t *testing.T) {
	root := moduleRoot(t)
	out := filepath.Join(t.TempDir(), "tiny.gguf")
	args := []string{"hf-to-gguf", "--set", "model=" + filepath.Join(root, "testdata", "tiny-llama"), "--set", "out=" + out, "--set", "type=Q4_K_M"}
	code, plan, errs := runCLI(append(args, "--dry-run", "--json")...)
	if code != 0 {
		t.Fatalf("--dry-run --json: exit %d: %s", code, errs)
	}
	var files []planFile
	if err := json.Unmarshal([]byte(plan), &files); err != nil || len(files) != 1 {
		t.Fatalf("plan %v, %d files", err, len(files))
	}
	_, text, _ := runCLI(append(args, "--dry-run")...)
	if code, _, errs := runCLI(append(args, "-q")...); code != 0 {
		t.Fatalf("run: exit %d: %s", code, errs)
	}
	code, js, errs := runCLI("inspect", "--json", out)
	if code != 0 {
		t.Fatalf("inspect: exit %d: %s", code, errs)
	}
	var in struct {
		Tensors []struct {
			Name  string  `json:"name"`
			Shape []int64 `json:"shape"`
		} `json:"tensors"`
	}
	if err := json.Unmarshal([]byte(js), &in); err != nil {
		t.Fatal(err)
	}
	shapes := map[string][]int64{}
	for _, tn := range in.Tensors {
		shapes[tn.Name] = tn.Shape
	}
	nonSquare := 0
	for _, tn := range files[0].Tensors {
		want := shapes[tn.Name]
		if !reflect.DeepEqual(tn.Shape, want) {
			t.Errorf("%s: --dry-run --json shape %v, inspect %v", tn.Name, tn.Shape, want)
		}
		if !regexp.MustCompile(`(?m)^  ` + regexp.QuoteMeta(tn.Name) + ` .* ` + regexp.QuoteMeta(fmt.Sprint(want)) + ` `).MatchString(text) {
			t.Errorf("%s: --dry-run text does not show shape %v", tn.Name, want)
		}
		if len(want) == 2 && want[0] != want[1] {
			nonSquare++
		}
	}
	if nonSquare == 0 {
		t.Error("no non-square tensor: the test cannot tell the two orders apart")
	}
}

func TestDescribeRecipeVars(t *testing.T) {
	info, err := describeRecipe("r", []byte("version: 1\ndescription: d\nvars:\n  a: null   # the a\n  types: [Q8_0, Q4_K_M]  # list\n  n: 3\nstages: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := []varInfo{{Name: "a", Required: true, Help: "the a"}, {Name: "types", Default: "Q8_0,Q4_K_M", Help: "list"}, {Name: "n", Default: "3"}}
	if info.Description != "d" || !reflect.DeepEqual(info.Vars, want) {
		t.Errorf("got %+v, want description d and vars %+v", info, want)
	}
}
