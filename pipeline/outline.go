package pipeline

import (
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Outline is a recipe checked without its vars: YAML, schema (a ${var}
// reference is accepted wherever a parameter goes), stage kinds, inputs and
// cycles, and the parameters of every stage whose vars all have values. It
// is what a repository of recipes checks in its own CI, and what `graph`
// draws; it cannot be run, which takes a Recipe and so every var.
type Outline struct {
	File        string
	Description string
	// Vars are the values known: defaults overridden by --set.
	Vars map[string]string
	// Unset names, sorted, the vars that are referenced but have no value.
	Unset []string
	// Stages are the declared stages. Skipped is set only where a when:
	// condition could be decided; a stage with parameters that still hold
	// ${var} references was not constructed.
	Stages []*StageDecl
}

// ParseOutline checks a recipe as Parse does, except that a var without a
// value is recorded in Unset instead of being a problem, and a when:
// condition on such a var leaves its stage in.
func ParseOutline(file string, raw []byte, sets map[string]string, reg Registry) (*Outline, error) {
	unset := map[string]bool{}
	r, err := parse(file, raw, sets, reg, unset)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(unset))
	for n := range unset {
		names = append(names, n)
	}
	sort.Strings(names)
	closeStages(r)
	return &Outline{File: r.File, Description: r.Description, Vars: r.Vars, Unset: names, Stages: r.Stages}, nil
}

// outlineUnset is the unsetFunc of an Outline: a declared var without a
// value is recorded in unset, and the stage whose parameters refer to it in
// unresolved (so it is not constructed). The item name of a for_each whose
// list is unset is no var at all; any other undeclared name is a problem,
// found without any value.
func outlineUnset(root *yaml.Node, unset, unresolved map[string]bool, add addFunc) unsetFunc {
	declared := map[string]bool{}
	if vn := mapValue(root, "vars"); vn != nil && vn.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(vn.Content); i += 2 {
			declared[vn.Content[i].Value] = true
		}
	}
	items := map[string]bool{}
	if seq := mapValue(root, "stages"); seq != nil && seq.Kind == yaml.SequenceNode {
		for _, n := range seq.Content {
			if as := mapValue(mapValue(n, "for_each"), "as"); as != nil {
				items[as.Value] = true
			}
		}
	}
	return func(n *yaml.Node, stage string, inParams bool, name string) {
		switch {
		case declared[name]:
			unset[name] = true
		case items[name]:
		default:
			add(n, stage, "var %q is not declared under vars:", name)
		}
		if inParams {
			unresolved[stage] = true
		}
	}
}

// isVarRefMismatch tells the violation of the ${var} pattern that the
// editors' schema offers beside every parameter's own schema: a wrong value
// fails both, and only the parameter's own expectation helps.
func isVarRefMismatch(msg string) bool {
	return strings.Contains(msg, "does not match pattern") && strings.Contains(msg, "[A-Za-z_][A-Za-z0-9_]*")
}
