package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/mlmf-run/mlmf-run/schema"
)

// Versions lists the recipe format versions this engine runs.
var Versions = []int{1}

// Recipe is a parsed, validated recipe with its variables substituted.
type Recipe struct {
	File        string
	SHA256      string
	Raw         []byte
	Version     int
	Description string
	// Vars are the resolved variable values (defaults overridden by --set).
	Vars   map[string]string
	Stages []*StageDecl
}

// StageDecl is one stage as the recipe declares it.
type StageDecl struct {
	// ID names the stage; inputs refer to it.
	ID string
	// Kind selects the registered spec.
	Kind string
	// Inputs are the ids of upstream stages, in order.
	Inputs []string
	// With holds the parameters after variable substitution.
	With Params
	// Line and Col locate the stage in the recipe file.
	Line, Col int

	// Skipped is true when the stage's when: condition (or an input's) is
	// false: it is checked but neither built nor run.
	Skipped bool

	node  *yaml.Node
	stage Stage
}

// Load reads and checks a recipe file; sets are --set overrides.
func Load(path string, sets map[string]string, reg Registry) (*Recipe, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, raw, sets, reg)
}

var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// Parse validates a recipe and returns it, or every problem found (Problems)
// sorted by position: schema violations, unknown versions, kinds and inputs,
// duplicate ids, cycles and unset variables.
func Parse(file string, raw []byte, sets map[string]string, reg Registry) (*Recipe, error) {
	return parse(file, raw, sets, reg, nil)
}

// parse is Parse; with a non-nil unset, a var referenced without a value is
// recorded there instead of being a problem, parameters are checked against
// the editors' schema (which accepts the ${var} references left in place),
// and a stage whose parameters hold such a reference is not constructed.
func parse(file string, raw []byte, sets map[string]string, reg Registry, unset map[string]bool) (*Recipe, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, Problems{yamlProblem(file, raw, err)}
	}
	if p := checkAliases(file, &doc); p != nil {
		return nil, Problems{*p}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, Problems{{File: file, Line: 1, Col: 1, Msg: "a recipe is a YAML mapping with version and stages"}}
	}
	root := doc.Content[0]
	sum := sha256.Sum256(raw)
	r := &Recipe{File: file, Raw: raw, SHA256: hex.EncodeToString(sum[:])}
	var ps Problems
	add := func(n *yaml.Node, stage, format string, args ...any) {
		p := Problem{File: file, Stage: stage, Msg: fmt.Sprintf(format, args...), Line: 1, Col: 1}
		if n != nil {
			p.Line, p.Col = n.Line, n.Column
		}
		ps = append(ps, p)
	}
	r.Vars = resolveVars(root, sets, add)
	unresolved := map[string]bool{} // stages whose parameters hold an unset var
	var onUnset unsetFunc
	if unset != nil {
		onUnset = outlineUnset(root, unset, unresolved, add)
	}
	muted := expandForEach(mapValue(root, "stages"), r.Vars, declaredVars(root), stageIDAt(root), add, onUnset)
	substitute(mapValue(root, "stages"), r.Vars, stageIDAt(root), func(n *yaml.Node, stage, format string, args ...any) {
		if as, ok := muted[stage]; ok && len(args) > 0 && args[0] == as {
			return // the for_each that should have set it is reported
		}
		add(n, stage, format, args...)
	}, onUnset)
	skip := skippedStages(mapValue(root, "stages"), r.Vars, stageIDAt(root), add, onUnset)

	docSchema := RecipeSchema(reg)
	if unset != nil {
		docSchema = schema.ForEditors(docSchema)
	}
	compiled, err := schema.Compile(docSchema)
	if err != nil {
		return nil, err
	}
	value, err := schema.Value(root)
	if err != nil {
		return nil, Problems{{File: file, Line: 1, Col: 1, Msg: err.Error()}}
	}
	ids := stageIDAt(root)
	badVersion := mapValue(root, "version")
	if badVersion != nil {
		if err := badVersion.Decode(&r.Version); err != nil || knownVersion(r.Version) {
			badVersion = nil
		} else {
			add(badVersion, "", "recipe version %d is not supported by this mlmf-run, expected one of: %s", r.Version, versionList())
		}
	}
	for _, v := range schema.Validate(compiled, docSchema, &doc, value) {
		if badVersion != nil && v.Pointer == "/version" {
			continue // replaced by the message above
		}
		if unset != nil && isVarRefMismatch(v.Msg) {
			continue // the editors' ${var} alternative: noise beside what the parameter expects
		}
		var n int
		var rest string
		if _, err := fmt.Sscanf(v.Pointer, "/stages/%d/%s", &n, &rest); err == nil && skip[n] && strings.HasPrefix(rest, "with") {
			continue // the parameters of a stage that will not run
		}
		ps = append(ps, Problem{File: file, Line: v.Line, Col: v.Col, Stage: ids(v.Pointer), Msg: v.Msg})
	}
	if n := mapValue(root, "description"); n != nil {
		r.Description = n.Value
	}
	badStage := unresolved
	for _, p := range ps {
		if p.Stage != "" {
			badStage[p.Stage] = true
		}
	}
	r.Stages = declareStages(file, mapValue(root, "stages"), reg, badStage, skip, add)
	checkGraph(r.Stages, reg, add)
	if len(ps) > 0 {
		return nil, ps.sorted()
	}
	return r, nil
}

// RecipeSchema is the JSON Schema of recipes for the stages in reg.
func RecipeSchema(reg Registry) map[string]any {
	var kinds []schema.StageKind
	for _, s := range reg.Specs() {
		kinds = append(kinds, schema.StageKind{Kind: s.Kind, Summary: s.Summary, Params: s.Params})
	}
	return schema.Build(kinds, Versions, map[string]any{"when": whenSchema, "for_each": forEachSchema})
}

func knownVersion(v int) bool {
	for _, k := range Versions {
		if k == v {
			return true
		}
	}
	return false
}

func versionList() string {
	s := make([]string, len(Versions))
	for i, v := range Versions {
		s[i] = fmt.Sprint(v)
	}
	return strings.Join(s, ", ")
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// stageIDAt maps a JSON pointer under /stages/N to the id of stage N.
func stageIDAt(root *yaml.Node) func(ptr string) string {
	stages := mapValue(root, "stages")
	return func(ptr string) string {
		var i int
		if stages == nil || stages.Kind != yaml.SequenceNode {
			return ""
		}
		if _, err := fmt.Sscanf(ptr, "/stages/%d", &i); err != nil || i < 0 || i >= len(stages.Content) {
			return ""
		}
		if id := mapValue(stages.Content[i], "id"); id != nil {
			return id.Value
		}
		return fmt.Sprintf("#%d", i+1)
	}
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
