package pipeline

import (
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

type addFunc func(n *yaml.Node, stage, format string, args ...any)

// unsetFunc receives the name of a var that is referenced at n but has no
// value, the id of the stage that refers to it, and whether the reference
// is in the stage's parameters (not in its when: condition). Where it is
// nil, such a reference is a problem (a recipe about to run); where it is
// set, the reference stays in place (an Outline).
type unsetFunc func(n *yaml.Node, stage string, inParams bool, name string)

// resolveVars reads the vars block and applies --set overrides. A var whose
// default is null has no value until set; a --set of an undeclared var is an
// error, since a typo there would otherwise be silently ignored.
func resolveVars(root *yaml.Node, sets map[string]string, add addFunc) map[string]string {
	vals := map[string]string{}
	declared := map[string]bool{}
	vn := mapValue(root, "vars")
	if vn != nil && vn.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(vn.Content); i += 2 {
			k, v := vn.Content[i], vn.Content[i+1]
			declared[k.Value] = true
			if v.Kind == yaml.ScalarNode && v.ShortTag() != "!!null" {
				vals[k.Value] = v.Value
			}
			if items, ok := scalarList(v); ok {
				vals[k.Value] = strings.Join(items, ",")
			}
		}
	}
	names := make([]string, 0, len(sets))
	for k := range sets {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if !declared[k] {
			at := vn
			if at == nil {
				at = root
			}
			known := "none"
			if len(declared) > 0 {
				known = strings.Join(sortedKeys(declared), ", ")
			}
			add(at, "", "--set %s: the recipe declares no var %q, expected one of: %s", k, k, known)
			continue
		}
		vals[k] = sets[k]
	}
	return vals
}

// declaredVars is the names under the recipe's vars:, set or not.
func declaredVars(root *yaml.Node) map[string]bool {
	declared := map[string]bool{}
	if vn := mapValue(root, "vars"); vn != nil && vn.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(vn.Content); i += 2 {
			declared[vn.Content[i].Value] = true
		}
	}
	return declared
}

// substitute replaces ${name} in every scalar under n. A scalar that is
// exactly one reference takes the value's own YAML type, quoted or not (so
// "${threads}" can fill an integer parameter); references inside longer
// strings stay strings.
func substitute(n *yaml.Node, vals map[string]string, stageOf func(string) string, add addFunc, unsetVar unsetFunc) {
	var walk func(n *yaml.Node, ptr string)
	walk = func(n *yaml.Node, ptr string) {
		if n == nil {
			return
		}
		switch n.Kind {
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i+1], ptr+"/"+n.Content[i].Value)
			}
			return
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s/%d", ptr, i))
			}
			return
		case yaml.ScalarNode:
		default:
			return
		}
		refs := varRef.FindAllStringSubmatchIndex(n.Value, -1)
		if len(refs) == 0 {
			return
		}
		whole := len(refs) == 1 && refs[0][0] == 0 && refs[0][1] == len(n.Value)
		unset := false
		out := varRef.ReplaceAllStringFunc(n.Value, func(m string) string {
			name := m[2 : len(m)-1]
			v, ok := vals[name]
			switch {
			case ok:
			case unsetVar != nil:
				unset = true
				unsetVar(n, stageOf(ptr), true, name)
			default:
				unset = true
				add(n, stageOf(ptr), "var %q is not set, expected a default under vars: or --set %s=VALUE", name, name)
			}
			return v
		})
		if unset {
			return // keep the reference, so no second, misleading type error
		}
		n.Value = out
		if whole && out != "" {
			// Quoting is forced by flow mappings ({path: "${x}"}), so the
			// quotes say nothing about the intended type: let YAML resolve it.
			n.Tag, n.Style = "", 0
		}
	}
	walk(n, "/stages")
}

// scalarList reads a list var's default: a sequence of scalars, which
// for_each iterates and --set overrides comma-separated.
func scalarList(n *yaml.Node) ([]string, bool) {
	if n.Kind != yaml.SequenceNode {
		return nil, false
	}
	items := make([]string, 0, len(n.Content))
	for _, c := range n.Content {
		if c.Kind != yaml.ScalarNode {
			return nil, false
		}
		items = append(items, c.Value)
	}
	return items, true
}
