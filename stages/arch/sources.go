package arch

import (
	"fmt"
	"sync"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// rowMap is a Source whose output row r is input row mapRow(r): Q/K head
// permutation, Falcon's QKV regrouping and row slices are all row maps, so
// they stream in bounded memory. A chunk whose rows come from a compact
// span of the input (a permutation within heads) is read with one call and
// rearranged in memory; otherwise runs of consecutive input rows are read
// with one call each. Row-sized reads would cost a system call or a page
// fault per row, and leave a mapped input's pages resident, since a map
// drops pages only after large reads.
type rowMap struct {
	src      tensor.Source
	rowBytes int64
	mapRow   func(int64) int64
	what     string
}

func (m *rowMap) ReadRows(row, n int64, dst []byte) error {
	if int64(len(dst)) != n*m.rowBytes {
		return fmt.Errorf("%s: buffer of %d bytes for %d rows of %d bytes", m.Describe(), len(dst), n, m.rowBytes)
	}
	lo, hi := m.mapRow(row), m.mapRow(row)
	for i := int64(1); i < n; i++ {
		r := m.mapRow(row + i)
		lo, hi = min(lo, r), max(hi, r)
	}
	if span := hi - lo + 1; n > 1 && span <= 2*n {
		return m.readSpan(row, n, lo, span, dst)
	}
	for i := int64(0); i < n; {
		start := m.mapRow(row + i)
		j := i + 1
		for j < n && m.mapRow(row+j) == start+(j-i) {
			j++
		}
		if err := m.src.ReadRows(start, j-i, dst[i*m.rowBytes:j*m.rowBytes]); err != nil {
			return err
		}
		i = j
	}
	return nil
}

// readSpan reads input rows [lo, lo+span) at once and picks the chunk's
// rows out of them.
func (m *rowMap) readSpan(row, n, lo, span int64, dst []byte) error {
	p := tensor.GetBuf(int(span * m.rowBytes))
	defer tensor.PutBuf(p)
	buf := *p
	if err := m.src.ReadRows(lo, span, buf); err != nil {
		return err
	}
	for i := int64(0); i < n; i++ {
		at := (m.mapRow(row+i) - lo) * m.rowBytes
		copy(dst[i*m.rowBytes:(i+1)*m.rowBytes], buf[at:at+m.rowBytes])
	}
	return nil
}

func (m *rowMap) Describe() string { return m.what + "(" + m.src.Describe() + ")" }

// whole is a Source computed from the entire input on first use and kept
// while the Source lives. Only tensors that cannot be produced row by row
// use it (GPT-2's Conv1D transposition, permuted 1-D biases, generated
// tensors): its memory cost is one copy of the output tensor.
type whole struct {
	compute  func() ([]byte, error)
	rowBytes int64
	what     string
	once     sync.Once
	data     []byte
	err      error
}

func (w *whole) ReadRows(row, n int64, dst []byte) error {
	w.once.Do(func() { w.data, w.err = w.compute() })
	if w.err != nil {
		return w.err
	}
	lo, hi := row*w.rowBytes, (row+n)*w.rowBytes
	if lo < 0 || hi > int64(len(w.data)) || int64(len(dst)) != hi-lo {
		return fmt.Errorf("%s: rows [%d,%d) out of range", w.what, row, row+n)
	}
	copy(dst, w.data[lo:hi])
	return nil
}

func (w *whole) Describe() string { return w.what }

// concat stacks sources that each hold rowsEach rows: experts into one
// 3-D tensor, StableLM's per-head norms into one 2-D tensor.
type concat struct {
	srcs     []tensor.Source
	rowsEach int64
	rowBytes int64
	what     string
}

func (c *concat) ReadRows(row, n int64, dst []byte) error {
	if int64(len(dst)) != n*c.rowBytes {
		return fmt.Errorf("%s: buffer of %d bytes for %d rows of %d bytes", c.what, len(dst), n, c.rowBytes)
	}
	for n > 0 {
		k := row / c.rowsEach
		if k < 0 || k >= int64(len(c.srcs)) {
			return fmt.Errorf("%s: row %d out of range", c.what, row)
		}
		off := row % c.rowsEach
		m := min(n, c.rowsEach-off)
		if err := c.srcs[k].ReadRows(off, m, dst[:m*c.rowBytes]); err != nil {
			return err
		}
		dst, row, n = dst[m*c.rowBytes:], row+m, n-m
	}
	return nil
}

func (c *concat) Describe() string { return c.what }

// mapped re-encodes each element through f in float32: Gemma's norm + 1.
type mapped struct {
	src         tensor.Source
	from, to    tensor.DType
	rowLen      int64
	inRB, outRB int64
	f           func(float32) float32
	what        string
}

func (m *mapped) ReadRows(row, n int64, dst []byte) error {
	if int64(len(dst)) != n*m.outRB {
		return fmt.Errorf("%s: buffer of %d bytes for %d rows of %d bytes", m.Describe(), len(dst), n, m.outRB)
	}
	return tensor.ReadDerived(m, row, n, dst)
}

func (m *mapped) Input() (tensor.Source, int64) { return m.src, m.inRB }

func (m *mapped) Derive(row, n int64, in, dst []byte) error {
	buf := tensor.GetF32(int(m.rowLen))
	defer tensor.F32Pool.Put(buf)
	f := *buf
	for r := int64(0); r < n; r++ {
		if err := tensor.ToFloat32(m.from, in[r*m.inRB:(r+1)*m.inRB], f); err != nil {
			return fmt.Errorf("%s: row %d: %w", m.Describe(), row+r, err)
		}
		for i := range f {
			f[i] = m.f(f[i])
		}
		if err := tensor.FromFloat32(m.to, f, dst[r*m.outRB:(r+1)*m.outRB]); err != nil {
			return fmt.Errorf("%s: row %d: %w", m.Describe(), row+r, err)
		}
	}
	return nil
}

func (m *mapped) Describe() string { return m.what + "(" + m.src.Describe() + ")" }
