package pipeline

import (
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// forEachSchema is the schema of a stage's `for_each:`.
var forEachSchema = map[string]any{
	"type": "object", "additionalProperties": false, "required": []any{"var", "as"},
	"description": "Make one copy of the stage per item of a list var (a YAML list, or comma-separated in --set), with ${as} set to the item in each copy. " +
		"Stages fed by a copied stage are copied with it, so one recipe writes, say, one GGUF per quantization type from one read of the model. " +
		"Copies are named ID-ITEM.",
	"properties": map[string]any{
		"var": map[string]any{"type": "string", "description": "The list var to iterate."},
		"as":  map[string]any{"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$", "description": "The name each item takes inside the stage's parameters, as ${name}."},
	},
}

// expansion is what a copied stage was copied by: the name items take and
// the items, in order.
type expansion struct {
	as    string
	items []string
}

var notInID = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// expandForEach replaces every stage with a for_each, and every stage fed by
// one, with a copy per item, in place in the stages sequence: ids become
// ID-ITEM, inputs point at the copies of the same item, and ${as} is
// substituted in each copy. It runs before substitution and validation, so
// the copies are checked like any stage, at the template's line and column.
// declared holds the recipe's var names, which as may not take. It returns,
// by stage id, the as of a for_each that was reported and left uncopied:
// that stage and those it feeds still hold ${as}, which is no second problem.
func expandForEach(seq *yaml.Node, vals map[string]string, declared map[string]bool, stageOf func(string) string, add addFunc, unset unsetFunc) (muted map[string]string) {
	muted = map[string]string{}
	if seq == nil || seq.Kind != yaml.SequenceNode {
		return muted
	}
	by := map[string]*expansion{} // stage id -> how it is copied
	plan := make([]*expansion, len(seq.Content))
	copies := 0 // nodes the copies will hold
	for i, n := range seq.Content {
		ptr := fmt.Sprintf("/stages/%d", i)
		var listUnset func(at *yaml.Node, name string)
		if unset != nil {
			listUnset = func(at *yaml.Node, name string) { unset(at, stageOf(ptr), false, name) }
		}
		e, ok := stageExpansion(n, vals, declared, by, func(at *yaml.Node, format string, args ...any) {
			add(at, stageOf(ptr), format, args...)
		}, listUnset)
		if e != nil && (!ok || e.items == nil) {
			if id := mapValue(n, "id"); id != nil {
				by[id.Value], muted[id.Value] = e, e.as
			}
			continue
		}
		if !ok || e == nil {
			continue
		}
		// Copies multiply a stage: they are bounded as aliases are (a list
		// of thousands of items over a large stage is a bomb too), before
		// any is made, and then none is.
		size := treeSize(n, maxRecipeNodes)
		if len(e.items) > (maxRecipeNodes-copies)/size {
			at, what := mapValue(n, "for_each"), "for_each"
			if at == nil {
				at, what = n, "copied with its inputs by for_each"
			}
			add(at, stageOf(ptr), "%s: %d copies would grow the recipe past %d YAML nodes, expected at most %[3]d", what, len(e.items), maxRecipeNodes)
			return muted
		}
		copies += len(e.items) * size
		if id := mapValue(n, "id"); id != nil {
			by[id.Value] = e
		}
		plan[i] = e
	}
	var out []*yaml.Node
	for i, n := range seq.Content {
		e := plan[i]
		if e == nil {
			out = append(out, n)
			continue
		}
		for _, item := range e.items {
			c := copyNode(n)
			dropKey(c, "for_each")
			rename(c, e, item, by)
			// Twice: a var's value may name the item too (--set
			// out='model-${type}.gguf'), and the first pass brings it in.
			for range 2 {
				substitute(c, withItem(vals, e.as, item), func(string) string { return "" }, func(*yaml.Node, string, string, ...any) {}, nil)
			}
			out = append(out, c)
		}
	}
	seq.Content = out
	return muted
}

// stageExpansion says how stage n is copied: by its own for_each, or like
// the copied stages among its inputs; nil when it is not copied. ok is false
// after a problem was reported; e is then the failed for_each's as with no
// items (or nil), and stages it feeds get the same.
// With listUnset (an Outline), a list var without a value leaves the stage
// as written, uncopied, and is passed to listUnset.
func stageExpansion(n *yaml.Node, vals map[string]string, declared map[string]bool, by map[string]*expansion, problem func(*yaml.Node, string, ...any),
	listUnset func(at *yaml.Node, name string)) (e *expansion, ok bool) {
	var fed []*expansion
	for _, in := range seqValues(mapValue(n, "inputs")) {
		if x := by[in]; x != nil {
			fed = append(fed, x)
		}
	}
	for _, x := range fed[min(1, len(fed)):] {
		if x.as != fed[0].as || strings.Join(x.items, ",") != strings.Join(fed[0].items, ",") {
			problem(mapValue(n, "inputs"), "inputs copied by for_each over different lists (%s and %s): one list per branch", fed[0].as, x.as)
			return nil, false
		}
	}
	f := mapValue(n, "for_each")
	if len(fed) > 0 && fed[0].items == nil {
		return fed[0], f == nil // copied by a for_each already reported
	}
	if f == nil {
		if len(fed) > 0 {
			return fed[0], true
		}
		return nil, true
	}
	if len(fed) > 0 {
		problem(f, "for_each on a stage whose inputs are already copied by for_each over %s", fed[0].as)
		return nil, false
	}
	var c struct {
		Var string `yaml:"var"`
		As  string `yaml:"as"`
	}
	if f.Kind != yaml.MappingNode || f.Decode(&c) != nil || c.Var == "" || c.As == "" {
		return nil, true // the schema reports it
	}
	failed := &expansion{as: c.As}
	if declared[c.As] {
		problem(mapValue(f, "as"), "for_each: as: %s is a var the recipe declares, expected a name of its own", c.As)
		return failed, false
	}
	v, set := vals[c.Var]
	if !set && listUnset != nil {
		listUnset(f, c.Var)
		return nil, true
	}
	if !set {
		problem(f, "for_each: var %q is not set, expected a list under vars: or --set %s=A,B,...", c.Var, c.Var)
		return failed, false
	}
	e = &expansion{as: c.As}
	seen := map[string]string{} // copy id suffix -> the item that takes it
	for _, it := range strings.Split(v, ",") {
		it = strings.TrimSpace(it)
		id := notInID.ReplaceAllString(it, "_")
		switch first, dup := seen[id]; {
		case it == "":
			continue
		case strings.Contains(it, "${"):
			// Copies are substituted again, so the item would be a template.
			problem(f, "for_each: item %q of var %q holds \"${\", expected a plain value", it, c.Var)
			return failed, false
		case dup && first == it:
			problem(f, "for_each: item %q of var %q is listed twice", it, c.Var)
			return failed, false
		case dup:
			problem(f, "for_each: items %q and %q of var %q both name copy %s-%s, expected items that differ in letters, digits, - or _",
				first, it, c.Var, stageID(n), id)
			return failed, false
		}
		seen[id] = it
		e.items = append(e.items, it)
	}
	if len(e.items) == 0 {
		problem(f, "for_each: var %q is an empty list, expected at least one item", c.Var)
		return failed, false
	}
	return e, true
}

// rename gives copy c of a stage the id of its item and points its inputs
// at the copies of the same item.
func rename(c *yaml.Node, e *expansion, item string, by map[string]*expansion) {
	suffix := "-" + notInID.ReplaceAllString(item, "_")
	if id := mapValue(c, "id"); id != nil && id.Kind == yaml.ScalarNode {
		id.Value += suffix
	}
	if ins := mapValue(c, "inputs"); ins != nil && ins.Kind == yaml.SequenceNode {
		for _, in := range ins.Content {
			if by[in.Value] == e {
				in.Value += suffix
			}
		}
	}
}

// withItem is vals with name set to item, for one copy's substitution
// (unset vars are left for the recipe-wide pass to report).
func withItem(vals map[string]string, name, item string) map[string]string {
	m := make(map[string]string, len(vals)+1)
	for k, v := range vals {
		m[k] = v
	}
	m[name] = item
	return m
}

func stageID(n *yaml.Node) string {
	if id := mapValue(n, "id"); id != nil {
		return id.Value
	}
	return ""
}

func seqValues(n *yaml.Node) []string {
	if n == nil || n.Kind != yaml.SequenceNode {
		return nil
	}
	var out []string
	for _, c := range n.Content {
		out = append(out, c.Value)
	}
	return out
}

// treeSize counts the nodes copyNode would make of n (a node shared
// through an alias counts each time), stopping past limit.
func treeSize(n *yaml.Node, limit int) int {
	size := 1
	for _, c := range n.Content {
		if size += treeSize(c, limit-size); size > limit {
			break
		}
	}
	return size
}

func copyNode(n *yaml.Node) *yaml.Node {
	c := *n
	c.Content = make([]*yaml.Node, len(n.Content))
	for i, k := range n.Content {
		c.Content[i] = copyNode(k)
	}
	return &c
}

func dropKey(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
	}
}
