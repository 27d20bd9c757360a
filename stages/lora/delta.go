package lora

import (
	"fmt"
	"math"
	"sync"
	"sync/atomic"

	"github.com/x448/float16"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// Delta is one adapter module bound to the base tensor it changes: rows
// [r, r+n) of ΔW are weight·scale·(B·A)[r:r+n], or of (B·A)ᵀ for embeddings
// and fan_in_fan_out layers. It keeps the factors as L (rows×rank) and R
// (rank×cols) so that both orientations are one product, and reads them
// lazily, once, when the first row block needs them.
type Delta struct {
	Module     *Module
	Weight     float64
	Transposed bool
	rows, cols int64
	round      tensor.DType // PEFT casts ΔW to the adapter's dtype before adding

	mu       sync.Mutex
	l, r     []float32
	mag      []float32
	rowsDone atomic.Int64
}

// Bind checks m against the base tensor it adapts and returns its delta.
// Every check is on shapes, so a mismatch is found at plan time.
func Bind(m *Module, base *tensor.Desc, fanInFanOut bool, weight float64) (*Delta, error) {
	if len(base.Shape) != 2 {
		return nil, fmt.Errorf("module %s: base tensor %s has shape %v, expected a 2-D weight", m.Name, base.Name, base.Shape)
	}
	rank := m.A.Shape[0]
	in, out := m.A.Shape[1], m.B.Shape[0]
	d := &Delta{Module: m, Weight: weight, Transposed: m.Embedding || fanInFanOut, round: m.B.DType}
	want := []int64{out, in} // nn.Linear stores (out_features, in_features)
	what := "lora_B rows × lora_A columns"
	if d.Transposed {
		want = []int64{in, out} // nn.Embedding (vocab, dim) and Conv1D (in, out)
		what = "lora_A columns × lora_B rows"
	}
	if base.Shape[0] != want[0] || base.Shape[1] != want[1] {
		return nil, fmt.Errorf("module %s: base tensor %s has shape %v but the adapter (rank %d) gives %v (%s)",
			m.Name, base.Name, base.Shape, rank, want, what)
	}
	if m.Magnitude != nil {
		if d.Transposed {
			return nil, fmt.Errorf("module %s: DoRA on an embedding or a fan_in_fan_out layer needs whole-column norms; not supported", m.Name)
		}
		if len(m.Magnitude.Shape) != 1 || m.Magnitude.Shape[0] != out {
			return nil, fmt.Errorf("module %s: DoRA magnitude has shape %v, expected [%d]", m.Name, m.Magnitude.Shape, out)
		}
	}
	if !tensor.HasCodec(base.DType) {
		return nil, fmt.Errorf("module %s: base tensor %s is %v, which cannot be decoded", m.Name, base.Name, base.DType)
	}
	d.rows, d.cols = base.Shape[0], base.Shape[1]
	return d, nil
}

// factors returns L, R and the magnitude, reading them on first use. Once
// every row has been produced they are dropped, so a model's adapters are
// not all resident at the end of a run; a second pass reads them again.
func (d *Delta) factors() (l, r, mag []float32, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.l != nil {
		return d.l, d.r, d.mag, nil
	}
	a, err := readF32(d.Module.A)
	if err != nil {
		return nil, nil, nil, err
	}
	b, err := readF32(d.Module.B)
	if err != nil {
		return nil, nil, nil, err
	}
	rank := d.Module.A.Shape[0]
	if d.Transposed {
		l, r = transpose(a, rank, d.rows), transpose(b, d.cols, rank)
	} else {
		l, r = b, a
	}
	if d.Module.Magnitude != nil {
		if mag, err = readF32(d.Module.Magnitude); err != nil {
			return nil, nil, nil, err
		}
	}
	d.l, d.r, d.mag = l, r, mag
	d.rowsDone.Store(0)
	return l, r, mag, nil
}

func (d *Delta) done(n int64) {
	if d.rowsDone.Add(n) >= d.rows {
		d.mu.Lock()
		d.l, d.r, d.mag = nil, nil, nil
		d.mu.Unlock()
	}
}

func readF32(t *tensor.Desc) ([]float32, error) {
	raw, err := tensor.ReadAll(t)
	if err != nil {
		return nil, err
	}
	f := make([]float32, t.Elems())
	if err := tensor.ToFloat32(t.DType, raw, f); err != nil {
		return nil, fmt.Errorf("%s: %w", t.Name, err)
	}
	return f, nil
}

// transpose turns a rows×cols matrix into cols×rows.
func transpose(m []float32, rows, cols int64) []float32 {
	t := make([]float32, len(m))
	for i := int64(0); i < rows; i++ {
		for j := int64(0); j < cols; j++ {
			t[j*rows+i] = m[i*cols+j]
		}
	}
	return t
}

// row computes ΔW[row] into dst the way PEFT's get_delta_weight does on a
// CPU: the product accumulated over k in order with fused multiply-adds
// (torch's float32 matmul kernels use FMA; with them the corpus merge is
// bit-identical to PEFT's, without them 1 ulp off in places), times scale,
// then cast to the adapter's dtype; the recipe weight multiplies last.
// math.FMA of float32 operands rounds once to float64 and then to float32;
// that double rounding can differ from a float32 FMA only on rare ties.
// The explicit float32 conversions keep the compiler from fusing anything
// else, so the result does not depend on the CPU.
func (d *Delta) row(l, r []float32, row int64, dst []float32) {
	rank := int64(len(l)) / d.rows
	clear(dst)
	lr := l[row*rank : (row+1)*rank]
	for k, c := range lr {
		rk := r[int64(k)*d.cols : (int64(k)+1)*d.cols]
		rk = rk[:len(dst)]
		for i, v := range rk {
			dst[i] = float32(math.FMA(float64(c), float64(v), float64(dst[i])))
		}
	}
	scale := float32(d.Module.Scale)
	w := float32(d.Weight)
	for i, v := range dst {
		v = roundTo(d.round, float32(v*scale))
		if d.Weight != 1 {
			v = float32(v * w)
		}
		dst[i] = v
	}
}

func roundTo(t tensor.DType, v float32) float32 {
	switch t {
	case tensor.BF16:
		return math.Float32frombits(uint32(tensor.BF16Bits(v)) << 16)
	case tensor.F16:
		return float16.Fromfloat32(v).Float32()
	}
	return v
}

// apply adds this delta to one accumulated row (float32). For DoRA the sum
// is rescaled to the magnitude over its L2 norm, PEFT's row-wise
// (dim=1) weight norm of W + ΔW.
func (d *Delta) apply(l, r, mag []float32, row int64, acc, scratch []float32) {
	d.row(l, r, row, scratch)
	for i, v := range scratch {
		acc[i] = float32(acc[i] + v)
	}
	if mag == nil {
		return
	}
	var ss float64
	for _, v := range acc {
		ss += float64(v) * float64(v)
	}
	f := float32(mag[row] / float32(math.Sqrt(ss)))
	for i, v := range acc {
		acc[i] = float32(f * v)
	}
}
