package arch

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// compileTransforms checks a list of "name" or "name:param" transforms.
func compileTransforms(t *Table, list strList) ([][2]string, error) {
	var ts [][2]string
	for _, s := range list {
		name, arg, _ := strings.Cut(s, ":")
		x, ok := transforms[name]
		if !ok {
			return nil, fmt.Errorf("unknown transform %q (known: %s)", name, transformNames())
		}
		if x.needsArg != (arg != "") {
			return nil, fmt.Errorf("transform %q: argument %q", name, arg)
		}
		if arg != "" {
			if _, ok := t.Params[arg]; !ok {
				return nil, fmt.Errorf("transform %q: unknown param %q", name, arg)
			}
		}
		ts = append(ts, [2]string{name, arg})
	}
	return ts, nil
}

// compileSplit checks a rule's split: parts named, with rows, not stacked.
// The rule's own transforms apply to the whole tensor before the cut.
func compileSplit(t *Table, tr *TensorRule) ([][][2]string, error) {
	sp := tr.Split
	if sp == nil {
		return nil, nil
	}
	if tr.Stack != nil {
		return nil, fmt.Errorf("split: a split tensor cannot be stacked")
	}
	if len(sp.Parts) < 2 {
		return nil, fmt.Errorf("split: want at least two parts")
	}
	var out [][][2]string
	for i, p := range sp.Parts {
		if p.GGUF == "" || p.Rows == "" {
			return nil, fmt.Errorf("split: parts[%d]: need gguf and rows", i)
		}
		ts, err := compileTransforms(t, p.Transforms)
		if err != nil {
			return nil, fmt.Errorf("split: parts[%d]: %w", i, err)
		}
		out = append(out, ts)
	}
	return out, nil
}

// split cuts d into the rule's parts. Each part streams its rows of every
// group from d's source, so nothing is read until the plan executes.
func (a *Arch) split(c *tctx, m match, d *tensor.Desc) ([]*tensor.Desc, error) {
	if err := d.Check(); err != nil {
		return nil, err
	}
	for _, t := range m.r.transforms { // the whole tensor's, before the cut
		var err error
		if d, err = transforms[t[0]].build(c, d, t[1]); err != nil {
			return nil, err
		}
	}
	sp := m.r.src.Split
	groups := int64(1)
	if sp.Groups != "" {
		g, err := c.h.evalInt(sp.Groups)
		if err != nil {
			return nil, fmt.Errorf("split of %s: groups: %w", d.Name, err)
		}
		groups = g
	}
	rows := make([]int64, len(sp.Parts))
	var total int64
	for i, p := range sp.Parts {
		r, err := c.h.evalInt(p.Rows)
		if err != nil {
			return nil, fmt.Errorf("split of %s: %s rows: %w", d.Name, p.GGUF, err)
		}
		rows[i], total = r, total+r
	}
	if sp.Interleave {
		return a.splitInterleaved(c, m, d, groups, rows)
	}
	if len(d.Shape) == 1 && sp.Groups == "" {
		return splitFlat(m, d, rows, total)
	}
	if groups <= 0 || total <= 0 || d.Rows() != groups*total {
		return nil, fmt.Errorf("split of %s: shape %v has %d rows, want %d groups of %d (%s = %s)",
			d.Name, d.Shape, d.Rows(), groups, total, sp.Groups, partRows(sp, rows))
	}
	var out []*tensor.Desc
	var off int64
	for i := range sp.Parts {
		nd := d.Clone()
		nd.Shape = []int64{rows[i], d.RowLen()}
		if sp.Groups != "" {
			nd.Shape = []int64{groups, rows[i], d.RowLen()}
		}
		per, at := rows[i], off
		nd.Src = &rowMap{src: d.Src, rowBytes: d.RowBytes(), mapRow: func(r int64) int64 { return (r/per)*total + at + r%per },
			what: fmt.Sprintf("rows %d..%d of each %d of %s", at, at+per, total, d.Src.Describe())}
		nd, err := finishPart(c, m, i, nd)
		if err != nil {
			return nil, err
		}
		out = append(out, nd)
		off += rows[i]
	}
	return out, nil
}

// finishPart applies part i's own transforms to its rows and names it.
func finishPart(c *tctx, m match, i int, nd *tensor.Desc) (*tensor.Desc, error) {
	for _, t := range m.r.parts[i] {
		var err error
		if nd, err = transforms[t[0]].build(c, nd, t[1]); err != nil {
			return nil, err
		}
	}
	p := m.r.src.Split.Parts[i]
	nd.Name = strings.ReplaceAll(withSuffix(p.GGUF, m.r.sfx), "{bid}", strconv.FormatInt(m.bid, 10))
	return nd, nil
}

// splitFlat cuts a 1-D tensor (a fused bias, InternVL's qkv) into its
// parts' element ranges, in memory: it is one row, read whole.
func splitFlat(m match, d *tensor.Desc, rows []int64, total int64) ([]*tensor.Desc, error) {
	sp := m.r.src.Split
	if d.Shape[0] != total {
		return nil, fmt.Errorf("split of %s: shape %v, want %d elements (%s)", d.Name, d.Shape, total, partRows(sp, rows))
	}
	es, err := elemSize(d)
	if err != nil {
		return nil, err
	}
	var out []*tensor.Desc
	var off int64
	for i, p := range sp.Parts {
		if len(m.r.parts[i]) > 0 {
			return nil, fmt.Errorf("split of %s: part %s of a 1-D tensor takes no transforms", d.Name, p.GGUF)
		}
		nd, src, at, n := d.Clone(), d.Clone(), off, rows[i]
		nd.Shape = []int64{n}
		nd.Src = &whole{rowBytes: n * es, what: fmt.Sprintf("elements %d..%d of %s", at, at+n, d.Src.Describe()), compute: func() ([]byte, error) {
			in, err := tensor.ReadAll(src)
			if err != nil {
				return nil, err
			}
			return in[at*es : (at+n)*es], nil
		}}
		nd.Name = strings.ReplaceAll(withSuffix(p.GGUF, m.r.sfx), "{bid}", strconv.FormatInt(m.bid, 10))
		out = append(out, nd)
		off += n
	}
	return out, nil
}

func partRows(sp *Split, rows []int64) string {
	s := make([]string, len(rows))
	for i, r := range rows {
		s[i] = fmt.Sprintf("%s %d", sp.Parts[i].Rows, r)
	}
	return strings.Join(s, " + ")
}

// evalInt evaluates an expression that must give a whole number.
func (h *hparams) evalInt(src string) (int64, error) {
	f, err := h.evalNum(src)
	if err != nil {
		return 0, err
	}
	n := int64(f)
	if float64(n) != f {
		return 0, fmt.Errorf("expression %q = %v: not a whole number", src, f)
	}
	return n, nil
}

// transposeHeads swaps the last two axes of a [groups, a, b] tensor, as
// the converter transposes DeepSeek's per-head k_b to [heads, kv_lora_rank,
// qk_nope_head_dim] and Llama 4's experts to [experts, out, in]. Output rows
// of one group all come from that group's a input rows, so the source keeps
// the one group it last read (an expert's matrix for Llama 4), not the tensor.
func transposeHeads(c *tctx, d *tensor.Desc, _ string) (*tensor.Desc, error) {
	es, err := elemSize(d)
	if err != nil {
		return nil, err
	}
	if len(d.Shape) != 3 {
		return nil, fmt.Errorf("transpose_heads of %s: shape %v, want 3 dimensions", d.Name, d.Shape)
	}
	g, ra, rb := d.Shape[0], d.Shape[1], d.Shape[2]
	out := d.Clone()
	out.Shape = []int64{g, rb, ra}
	out.Src = &groupTranspose{src: d.Src, a: ra, b: rb, es: es, inRB: d.RowBytes(), group: -1,
		what: "transpose_heads(" + d.Src.Describe() + ")"}
	return out, nil
}

type groupTranspose struct {
	src      tensor.Source
	a, b, es int64
	inRB     int64
	what     string
	mu       sync.Mutex
	group    int64 // the group in buf, -1 for none
	buf      []byte
}

func (t *groupTranspose) ReadRows(row, n int64, dst []byte) error {
	if int64(len(dst)) != n*t.a*t.es {
		return fmt.Errorf("%s: buffer of %d bytes for %d rows", t.what, len(dst), n)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for k := int64(0); k < n; k++ {
		g, col := (row+k)/t.b, (row+k)%t.b
		if g != t.group {
			if t.buf == nil {
				t.buf = make([]byte, t.a*t.inRB)
			}
			if err := t.src.ReadRows(g*t.a, t.a, t.buf); err != nil {
				t.group = -1
				return err
			}
			t.group = g
		}
		o := dst[k*t.a*t.es:]
		for r := int64(0); r < t.a; r++ {
			i := (r*t.b + col) * t.es
			copy(o[r*t.es:(r+1)*t.es], t.buf[i:i+t.es])
		}
	}
	return nil
}

func (t *groupTranspose) Describe() string { return t.what }
