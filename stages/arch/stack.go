package arch

import (
	"fmt"
	"sort"
	"strings"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// stacker collects numbered members ({xid}) of stacked tensors per block and
// emits them when a group is complete, like the converter's _experts
// buffers: Mixtral's w1/w2/w3 experts of one layer come out together, in the
// group's order, at the position of the last member read.
type stacker struct {
	a       *Arch
	h       *hparams
	pending map[string]*pendingGroup // key: group (or GGUF name) + block
	order   []string
}

type pendingGroup struct {
	names   []string // GGUF names in emission order
	count   int64
	members map[string]map[int64]*tensor.Desc
	seen    int64
}

func newStacker(a *Arch, h *hparams) *stacker {
	return &stacker{a: a, h: h, pending: map[string]*pendingGroup{}}
}

func (s *stacker) add(m match, d *tensor.Desc) ([]*tensor.Desc, error) {
	st := m.r.src.Stack
	count, err := s.h.intParam(st.Count)
	if err != nil {
		return nil, fmt.Errorf("stacking %s: %w", m.name, err)
	}
	if m.xid < 0 || m.xid >= count {
		return nil, fmt.Errorf("tensor %q: member %d of %s, but %s = %d", d.Name, m.xid, m.name, st.Count, count)
	}
	names := []string{m.name}
	key := m.name
	if st.Group != "" {
		bid := fmt.Sprint(m.bid)
		names = nil
		for _, n := range s.a.Groups[st.Group] {
			names = append(names, strings.ReplaceAll(n, "{bid}", bid))
		}
		key = st.Group + "/" + bid
	}
	g := s.pending[key]
	if g == nil {
		g = &pendingGroup{names: names, count: count, members: map[string]map[int64]*tensor.Desc{}}
		s.pending[key] = g
		s.order = append(s.order, key)
	}
	if !contains(g.names, m.name) {
		return nil, fmt.Errorf("tensor %q maps to %s, which group %s does not list", d.Name, m.name, st.Group)
	}
	if g.members[m.name] == nil {
		g.members[m.name] = map[int64]*tensor.Desc{}
	}
	if _, dup := g.members[m.name][m.xid]; dup {
		return nil, fmt.Errorf("tensor %q: member %d of %s given twice", d.Name, m.xid, m.name)
	}
	g.members[m.name][m.xid] = d
	g.seen++
	if g.seen < g.count*int64(len(g.names)) {
		return nil, nil
	}
	delete(s.pending, key)
	var out []*tensor.Desc
	for _, n := range g.names {
		ms := make([]*tensor.Desc, g.count)
		for x := range ms {
			ms[x] = g.members[n][int64(x)]
		}
		sd, err := stack(n, ms)
		if err != nil {
			return nil, err
		}
		out = append(out, sd)
	}
	return out, nil
}

// leftover reports groups that never completed.
func (s *stacker) leftover() []string {
	var errs []string
	for _, key := range s.order {
		g, ok := s.pending[key]
		if !ok {
			continue
		}
		var miss []string
		for _, n := range g.names {
			for x := int64(0); x < g.count; x++ {
				if g.members[n][x] == nil {
					miss = append(miss, fmt.Sprintf("%s[%d]", n, x))
				}
			}
		}
		sort.Strings(miss)
		if len(miss) > 6 {
			miss = append(miss[:6], fmt.Sprintf("and %d more", len(miss)-6))
		}
		errs = append(errs, fmt.Sprintf("incomplete stack: missing %s", strings.Join(miss, ", ")))
	}
	return errs
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
