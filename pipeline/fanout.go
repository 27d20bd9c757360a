package pipeline

import (
	"reflect"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// A group is every placed tensor, in every output file, whose rows all derive
// row for row from one root source: the tensor of a loaded file, or the
// last source in a chain that is not a tensor.Derived (a permutation, a
// stack). The executor reads a row block of the root once and walks the
// group's tree of derived sources down to every placement that consumes it,
// so three quantize branches off one remap cost one read of each source byte.
type group struct {
	root   *node
	rows   int64
	rowLen int64
	places []*placement
}

// node is one source of a group's tree. Derived nodes compute their rows
// from their parent's; taps see their parent's rows and share its buffer.
type node struct {
	src      tensor.Source
	derived  tensor.Derived // nil for the root
	tap      bool
	rowBytes int64
	kids     []*node
	places   []*placement
}

// span is rows [lo, hi) of a group: all of them in a run in one process,
// one part's share when a run is divided into parts (parts.go).
type span struct {
	g      *group
	lo, hi int64
}

// wholeGroups is every row of every group.
func wholeGroups(groups []*group) []span {
	spans := make([]span, len(groups))
	for i, g := range groups {
		spans[i] = span{g, 0, g.rows}
	}
	return spans
}

// placement is one tensor at its offset in one output file.
type placement struct {
	file  *outFile
	t     *tensor.Desc
	off   int64
	track *tensorTrack
}

// groupPlacements builds the groups of every placed tensor with rows, in the
// order their roots first appear in the outputs (which is source order: the
// converter keeps it, and splits cut it into consecutive files).
func groupPlacements(files []*outFile) []*group {
	byRoot := map[tensor.Source]*group{}
	var groups []*group
	for _, f := range files {
		for _, pl := range f.out.Tensors {
			t := pl.T
			if t.Rows() == 0 || t.RowBytes() == 0 {
				continue
			}
			p := &placement{file: f, t: t, off: pl.Offset}
			chain := derivedChain(t)
			root := chain[len(chain)-1]
			g := byRoot[root.src]
			if g == nil || g.rows != t.Rows() || !keyable(root.src) {
				g = &group{root: &node{src: root.src, rowBytes: root.rowBytes}, rows: t.Rows(), rowLen: t.RowLen()}
				groups = append(groups, g)
				if keyable(root.src) {
					byRoot[root.src] = g
				}
			}
			g.insert(chain, p)
		}
	}
	return groups
}

// derivedChain follows t's source through Derived links to its root: the
// result runs from t's own source (first) to the root (last), each with the
// byte size of its rows. Sources not safe as map keys end the chain.
func derivedChain(t *tensor.Desc) []*node {
	chain := []*node{{src: t.Src, rowBytes: t.RowBytes()}}
	for {
		cur := chain[len(chain)-1]
		d, ok := cur.src.(tensor.Derived)
		if !ok || !keyable(cur.src) {
			return chain
		}
		in, rb := d.Input()
		if in == nil || rb <= 0 {
			return chain
		}
		cur.derived = d
		_, cur.tap = d.(tensor.Tap)
		if cur.tap && rb != cur.rowBytes {
			cur.derived, cur.tap = nil, false
			return chain
		}
		chain = append(chain, &node{src: in, rowBytes: rb})
	}
}

// insert adds a chain (tensor first, root last) under the group's root,
// sharing the nodes already there, and puts p at the chain's end.
func (g *group) insert(chain []*node, p *placement) {
	at := g.root
	for i := len(chain) - 2; i >= 0; i-- {
		var next *node
		for _, k := range at.kids {
			if k.src == chain[i].src && k.rowBytes == chain[i].rowBytes {
				next = k
				break
			}
		}
		if next == nil {
			next = chain[i]
			next.kids, next.places = nil, nil
			at.kids = append(at.kids, next)
		}
		at = next
	}
	at.places = append(at.places, p)
}

// rowWeight is what one row of the group holds in flight, every node's own
// row buffer (taps share their parent's), and the scratch a chunk needs
// beside them: float32 rows for a worker's conversions and merges.
func (g *group) rowWeight() (perRow, scratch int64) {
	var sum func(n *node) int64
	sum = func(n *node) int64 {
		w := int64(0)
		if !n.tap {
			w = n.rowBytes
		}
		for _, k := range n.kids {
			w += sum(k)
		}
		return w
	}
	return sum(g.root), 8 * g.rowLen
}

// placements lists the group's placements, depth first; computed once, as
// every chunk of the group asks.
func (g *group) placements() []*placement {
	if g.places != nil {
		return g.places
	}
	var walk func(n *node)
	walk = func(n *node) {
		g.places = append(g.places, n.places...)
		for _, k := range n.kids {
			walk(k)
		}
	}
	walk(g.root)
	return g.places
}

// keyable reports whether a source can be a map key: every source in the
// tree is a pointer, but a Source of another kind must not panic the run.
func keyable(s tensor.Source) bool {
	return s != nil && reflect.TypeOf(s).Comparable()
}
