package pipeline

import (
	"fmt"

	"gopkg.in/yaml.v3"
)

// The YAML parser keeps an alias as a pointer to its anchor, so a small
// document can stand for a huge or endless tree: `a: &a [*a]` loops, and
// nine lines of nine aliases each ("billion laughs") expand to 9^9 nodes.
// Everything after parsing (schema validation, decoding `with:`) expands
// aliases, so the tree's expanded size is bounded first. The limits are far
// above any real recipe (the shipped ones have a few hundred nodes and a
// depth under ten) and keep the expansion to a few megabytes.
const (
	maxRecipeNodes = 100_000
	maxRecipeDepth = 200
)

// aliasWalk measures the tree as aliases expand it: each node is visited
// once, an alias costs its target's memoized size and height.
type aliasWalk struct {
	file  string
	total int // expanded nodes so far, in document order
	size  map[*yaml.Node]int
	high  map[*yaml.Node]int
	open  map[*yaml.Node]bool // nodes being walked: an alias to one is a cycle
}

// checkAliases returns the problem of a document whose aliases loop, expand
// past maxRecipeNodes nodes or nest past maxRecipeDepth collections, placed
// at the alias that does it. A document that is safe to expand gets each
// alias replaced by its anchor's node, so that the code reading the tree
// (which looks at mappings, sequences and scalars) sees what the schema
// validated instead of skipping aliases.
func checkAliases(file string, doc *yaml.Node) *Problem {
	w := &aliasWalk{file: file, size: map[*yaml.Node]int{}, high: map[*yaml.Node]int{}, open: map[*yaml.Node]bool{}}
	_, _, p := w.walk(doc, 0)
	return p
}

// walk returns n's expanded size and height (in collections); depth is the
// number of collections above n.
func (w *aliasWalk) walk(n *yaml.Node, depth int) (size, height int, p *Problem) {
	if n.Kind == yaml.AliasNode {
		return w.alias(n, depth)
	}
	w.total++
	if w.total > maxRecipeNodes {
		return 0, 0, w.tooMany(n)
	}
	if n.Kind != yaml.MappingNode && n.Kind != yaml.SequenceNode && n.Kind != yaml.DocumentNode {
		return 1, 0, nil
	}
	level := 0
	if n.Kind != yaml.DocumentNode {
		level = 1
	}
	if depth+level > maxRecipeDepth {
		return 0, 0, w.tooDeep(n)
	}
	w.open[n] = true
	size = 1
	for i, c := range n.Content {
		s, h, p := w.walk(c, depth+level)
		if p != nil {
			return 0, 0, p
		}
		size, height = size+s, max(height, h)
		if c.Kind == yaml.AliasNode && c.Alias != nil {
			n.Content[i] = c.Alias
		}
	}
	delete(w.open, n)
	w.size[n], w.high[n] = size, height+level
	return size, height + level, nil
}

func (w *aliasWalk) alias(n *yaml.Node, depth int) (size, height int, p *Problem) {
	t := n.Alias
	if t == nil {
		return 1, 0, nil
	}
	if w.open[t] {
		return 0, 0, &Problem{File: w.file, Line: n.Line, Col: n.Column,
			Msg: fmt.Sprintf("alias *%s refers to a node that contains it (anchor &%s at %s:%d:%d): it would expand forever",
				n.Value, t.Anchor, w.file, t.Line, t.Column)}
	}
	size, seen := w.size[t]
	if !seen {
		// An anchor is defined before its aliases, so this is only reached
		// for a tree not built by the parser; walk it in place.
		return w.walk(t, depth)
	}
	height = w.high[t]
	w.total += size
	if w.total > maxRecipeNodes {
		return 0, 0, w.tooMany(n)
	}
	if depth+height > maxRecipeDepth {
		return 0, 0, w.tooDeep(n)
	}
	return size, height, nil
}

func (w *aliasWalk) tooMany(n *yaml.Node) *Problem {
	return &Problem{File: w.file, Line: n.Line, Col: n.Column,
		Msg: fmt.Sprintf("the recipe grows past %d YAML nodes once its aliases are expanded, expected at most %[1]d (a recipe needs a few hundred)", maxRecipeNodes)}
}

func (w *aliasWalk) tooDeep(n *yaml.Node) *Problem {
	return &Problem{File: w.file, Line: n.Line, Col: n.Column,
		Msg: fmt.Sprintf("the recipe nests deeper than %d levels once its aliases are expanded, expected at most %[1]d", maxRecipeDepth)}
}
