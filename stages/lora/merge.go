package lora

import (
	"fmt"
	"strings"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// Merge returns base with deltas applied, its rows encoded as out: each row
// block is decoded to float32, every delta is added in order (DoRA
// rescaled), and the sum is rounded once to out. Nothing is read here.
func Merge(base *tensor.Desc, out tensor.DType, deltas []*Delta) (*tensor.Desc, error) {
	return MergeOn(nil, base, out, deltas)
}

// MergeOn is Merge with its row blocks merged on dev (nil: the CPU), which
// may decline them (DoRA's row norms always stay on the CPU).
func MergeOn(dev tensor.Device, base *tensor.Desc, out tensor.DType, deltas []*Delta) (*tensor.Desc, error) {
	if !tensor.HasCodec(out) {
		return nil, fmt.Errorf("tensor %s: cannot encode %v", base.Name, out)
	}
	outRB, err := out.RowBytes(base.RowLen())
	if err != nil {
		return nil, fmt.Errorf("tensor %s as %v: %w", base.Name, out, err)
	}
	c := base.Clone()
	c.DType = out
	c.Src = &merged{base: base.Src, in: base.DType, out: out, cols: base.RowLen(),
		inRB: base.RowBytes(), outRB: outRB, deltas: deltas, dev: dev}
	return c, nil
}

type merged struct {
	base        tensor.Source
	in, out     tensor.DType
	cols        int64
	inRB, outRB int64
	deltas      []*Delta
	dev         tensor.Device
}

func (m *merged) ReadRows(row, n int64, dst []byte) error {
	if int64(len(dst)) != n*m.outRB {
		return fmt.Errorf("%s: buffer of %d bytes for %d rows of %d bytes", m.Describe(), len(dst), n, m.outRB)
	}
	return tensor.ReadDerived(m, row, n, dst)
}

func (m *merged) Input() (tensor.Source, int64) { return m.base, m.inRB }

// Derive merges rows [row, row+n) of the base, given in raw.
func (m *merged) Derive(row, n int64, raw, dst []byte) error {
	type fac struct{ l, r, mag []float32 }
	facs := make([]fac, len(m.deltas))
	for i, d := range m.deltas {
		l, r, mag, err := d.factors()
		if err != nil {
			return err
		}
		facs[i] = fac{l, r, mag}
	}
	if ok, err := m.onDevice(row, n, raw, dst, func(i int) ([]float32, []float32, []float32) {
		return facs[i].l, facs[i].r, facs[i].mag
	}); ok || err != nil {
		return err
	}
	accP, scrP := tensor.GetF32(int(m.cols)), tensor.GetF32(int(m.cols))
	defer tensor.F32Pool.Put(accP)
	defer tensor.F32Pool.Put(scrP)
	acc, scr := *accP, *scrP
	for i := int64(0); i < n; i++ {
		if err := tensor.ToFloat32(m.in, raw[i*m.inRB:(i+1)*m.inRB], acc); err != nil {
			return fmt.Errorf("%s: row %d: %w", m.Describe(), row+i, err)
		}
		for j, d := range m.deltas {
			d.apply(facs[j].l, facs[j].r, facs[j].mag, row+i, acc, scr)
		}
		if err := tensor.FromFloat32(m.out, acc, dst[i*m.outRB:(i+1)*m.outRB]); err != nil {
			return fmt.Errorf("%s: row %d: %w", m.Describe(), row+i, err)
		}
	}
	for _, d := range m.deltas {
		d.done(n)
	}
	return nil
}

// onDevice hands rows [row, row+n) to the merge's device, with each
// delta's factors for those rows; ok is false when there is no device or
// it declines (DoRA, or a pair it has no kernels for).
func (m *merged) onDevice(row, n int64, raw, dst []byte, fac func(int) (l, r, mag []float32)) (bool, error) {
	if m.dev == nil {
		return false, nil
	}
	ds := make([]tensor.LoRA, len(m.deltas))
	for i, d := range m.deltas {
		l, r, mag := fac(i)
		if mag != nil {
			return false, nil
		}
		rank := int64(len(l)) / d.rows
		ds[i] = tensor.LoRA{L: l[row*rank : (row+n)*rank], R: r, Rank: int(rank), Scale: float32(d.Module.Scale),
			Weight: float32(d.Weight), Weighted: d.Weight != 1, Round: d.round}
	}
	ok, err := m.dev.Merge(m.in, m.out, m.cols, n, raw, ds, dst)
	if err != nil {
		return false, fmt.Errorf("%s: rows %d..%d on %s: %w", m.Describe(), row, row+n, m.dev.Name(), err)
	}
	if ok {
		for _, d := range m.deltas {
			d.done(n)
		}
	}
	return ok, nil
}

func (m *merged) Describe() string {
	var mods []string
	for _, d := range m.deltas {
		mods = append(mods, fmt.Sprintf("%s×%g", d.Module.Name, d.Weight))
	}
	return fmt.Sprintf("merge_lora[%s](%s)", strings.Join(mods, ","), m.base.Describe())
}
