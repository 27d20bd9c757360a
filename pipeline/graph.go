package pipeline

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// declareStages reads the stage list. Schema violations were reported
// already; here only what the schema cannot say is checked: duplicate ids,
// unknown kinds, and the parameters each spec's constructor rejects.
func declareStages(file string, seq *yaml.Node, reg Registry, bad map[string]bool, skip map[int]bool, add addFunc) []*StageDecl {
	if seq == nil || seq.Kind != yaml.SequenceNode {
		return nil
	}
	var out []*StageDecl
	seen := map[string]*StageDecl{}
	for i, n := range seq.Content {
		if n.Kind != yaml.MappingNode {
			continue
		}
		d := &StageDecl{Line: n.Line, Col: n.Column, node: n, With: Params{}, Skipped: skip[i]}
		idn := mapValue(n, "id")
		if idn != nil {
			d.ID = idn.Value
		}
		if kn := mapValue(n, "kind"); kn != nil {
			d.Kind = kn.Value
		}
		if in := mapValue(n, "inputs"); in != nil && in.Kind == yaml.SequenceNode {
			for _, c := range in.Content {
				d.Inputs = append(d.Inputs, c.Value)
			}
		}
		if w := mapValue(n, "with"); w != nil && w.Kind == yaml.MappingNode {
			var m map[string]any
			if err := w.Decode(&m); err == nil {
				d.With = m
			}
		}
		if spec, ok := reg.Lookup(d.Kind); ok && !bad[d.ID] && !d.Skipped {
			st, err := spec.New(d.With)
			if err != nil {
				at := mapValue(n, "with")
				if at == nil {
					at = n
				}
				add(at, d.ID, "%v", err)
			}
			d.stage = st
		}
		if d.ID != "" {
			if prev, dup := seen[d.ID]; dup {
				add(idn, d.ID, "duplicate stage id, first declared at %s:%d:%d", file, prev.Line, prev.Col)
			} else {
				seen[d.ID] = d
			}
		}
		out = append(out, d)
	}
	return out
}

// checkGraph reports unknown inputs, wrong input counts and cycles (each
// cycle once, printed as a path).
func checkGraph(decls []*StageDecl, reg Registry, add addFunc) {
	byID := map[string]*StageDecl{}
	for _, d := range decls {
		if _, ok := byID[d.ID]; !ok && d.ID != "" {
			byID[d.ID] = d
		}
	}
	for _, d := range decls {
		in := mapValue(d.node, "inputs")
		for i, name := range d.Inputs {
			if _, ok := byID[name]; !ok {
				add(in.Content[i], d.ID, "unknown input %q, expected the id of another stage (%s)", name, strings.Join(idsExcept(decls, d.ID), ", "))
			} else if name == d.ID {
				add(in.Content[i], d.ID, "stage lists itself as an input")
			}
		}
		spec, ok := reg.Lookup(d.Kind)
		if !ok {
			continue
		}
		at := in
		if at == nil {
			at = d.node
		}
		switch {
		case len(d.Inputs) < spec.MinInputs:
			add(at, d.ID, "%s takes at least %d input(s), got %d", d.Kind, spec.MinInputs, len(d.Inputs))
		case spec.MaxInputs >= 0 && len(d.Inputs) > spec.MaxInputs:
			add(at, d.ID, "%s takes at most %d input(s), got %d", d.Kind, spec.MaxInputs, len(d.Inputs))
		}
	}
	reportCycles(decls, byID, add)
}

func idsExcept(decls []*StageDecl, self string) []string {
	var out []string
	for _, d := range decls {
		if d.ID != self && d.ID != "" {
			out = append(out, d.ID)
		}
	}
	if len(out) == 0 {
		return []string{"none"}
	}
	return out
}

func reportCycles(decls []*StageDecl, byID map[string]*StageDecl, add addFunc) {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var visit func(d *StageDecl)
	visit = func(d *StageDecl) {
		color[d.ID] = grey
		stack = append(stack, d.ID)
		for _, name := range d.Inputs {
			next, ok := byID[name]
			if !ok || name == d.ID {
				continue
			}
			switch color[name] {
			case white:
				visit(next)
			case grey:
				i := len(stack) - 1
				for stack[i] != name {
					i--
				}
				path := append(append([]string{}, stack[i:]...), name)
				add(mapValue(next.node, "inputs"), name, "inputs form a cycle: %s", strings.Join(path, " -> "))
			}
		}
		stack = stack[:len(stack)-1]
		color[d.ID] = black
	}
	for _, d := range decls {
		if d.ID != "" && color[d.ID] == white {
			visit(d)
		}
	}
}

// topo orders stages so every stage follows its inputs (the recipe order
// among independent stages), assuming checkGraph found no cycle.
func topo(decls []*StageDecl) []*StageDecl {
	byID := map[string]*StageDecl{}
	for _, d := range decls {
		byID[d.ID] = d
	}
	done := map[string]bool{}
	var out []*StageDecl
	var visit func(d *StageDecl)
	visit = func(d *StageDecl) {
		if done[d.ID] {
			return
		}
		done[d.ID] = true
		for _, in := range d.Inputs {
			visit(byID[in])
		}
		out = append(out, d)
	}
	for _, d := range decls {
		visit(d)
	}
	return out
}
