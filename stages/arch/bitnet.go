package arch

import (
	"fmt"
	"math"
	"sync"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// bitnetTernary is BitnetModel.weight_quant in convert_hf_to_gguf.py: with
// s = mean(|w|) (at least 1e-5) and i = 1/s in float32, each weight becomes
// clamp(round(w x i), -1, 1) / i, in float16 for a float16 checkpoint and
// in float32 otherwise (the converter widens other dtypes before its model
// class sees them, as for norm_plus_one). The mean is
// summed in torch's float32 order (torchSum), so s is the converter's to
// the bit; a first pass streams the tensor for it, a second writes rows.
func bitnetTernary(c *tctx, d *tensor.Desc, _ string) (*tensor.Desc, error) {
	if !tensor.HasCodec(d.DType) || d.DType.Info().BlockSize != 1 || d.DType.Quantized() {
		return nil, fmt.Errorf("bitnet_ternary of %s: cannot decode %v", d.Name, d.DType)
	}
	out := d.Clone()
	out.DType = tensor.F32
	if d.DType == tensor.F16 {
		out.DType = tensor.F16
	}
	out.Src = &ternary{d: d.Clone(), to: out.DType, what: "bitnet_ternary(" + d.Src.Describe() + ")"}
	return out, nil
}

type ternary struct {
	d    *tensor.Desc
	to   tensor.DType
	what string
	once sync.Once
	err  error
	rows tensor.Source // the mapped rows, once the scale is known
}

func (t *ternary) ReadRows(row, n int64, dst []byte) error {
	t.once.Do(func() {
		var sum float32
		if sum, t.err = torchSum(t.d); t.err != nil {
			return
		}
		scale := sum / float32(t.d.Elems())
		if math.IsNaN(float64(scale)) || math.IsInf(float64(scale), 0) {
			// torch would carry the NaN into every weight of the tensor
			// (or round all to 0 for an infinite mean): refuse instead.
			t.err = fmt.Errorf("%s: mean |w| is %v: the tensor holds NaN or infinite weights", t.d.Name, scale)
			return
		}
		scale = max(scale, 1e-5) // clamp(min=1e-5)
		inv := 1 / scale
		t.rows = &mapped{src: t.d.Src, from: t.d.DType, to: t.to, rowLen: t.d.RowLen(), inRB: t.d.RowBytes(), outRB: t.d.RowLen() * t.to.Info().BlockBytes,
			f: func(x float32) float32 {
				q := float32(math.RoundToEven(float64(x * inv)))
				return max(-1, min(1, q)) / inv
			}, what: "bitnet_ternary"}
	})
	if t.err != nil {
		return fmt.Errorf("%s: %w", t.what, t.err)
	}
	return t.rows.ReadRows(row, n, dst)
}

func (t *ternary) Describe() string { return t.what }

// torchSum is sum(|x|) over the tensor in float32 as torch's CPU kernel
// adds a contiguous tensor (cascade_sum, one thread, AVX2's 8 float lanes):
// lanes of 4 interleaved vector accumulators over runs of 32 elements,
// cascaded through 4 levels every 2^p runs (p = max(4, ceil(log2 runs)/4)),
// then the leftover vectors, the 4 accumulators, the scalar tail and the 8
// lanes in turn. Rows are read in order, a chunk at a time.
func torchSum(d *tensor.Desc) (float32, error) {
	const w, ilp, levels = 8, 4, 4
	n := d.Elems()
	it := &f32Reader{d: d}
	vecs := n / w
	runs := vecs / ilp
	lp := max(4, ceilLog2(runs)/levels)
	step, mask := int64(1)<<lp, int64(1)<<lp-1
	var acc [levels][ilp][w]float32
	addRun := func() error {
		for k := 0; k < ilp; k++ {
			for l := 0; l < w; l++ {
				x, err := it.next()
				if err != nil {
					return err
				}
				acc[0][k][l] += abs32(x)
			}
		}
		return nil
	}
	i := int64(0)
	for i+step <= runs {
		for j := int64(0); j < step; j, i = j+1, i+1 {
			if err := addRun(); err != nil {
				return 0, err
			}
		}
		for j := 1; j < levels; j++ {
			for k := range acc[j] {
				for l := range acc[j][k] {
					acc[j][k][l] += acc[j-1][k][l]
				}
			}
			acc[j-1] = [ilp][w]float32{}
			if i&(mask<<(int64(j)*lp)) != 0 {
				break
			}
		}
	}
	for ; i < runs; i++ {
		if err := addRun(); err != nil {
			return 0, err
		}
	}
	for j := 1; j < levels; j++ {
		for k := range acc[0] {
			for l := range acc[0][k] {
				acc[0][k][l] += acc[j][k][l]
			}
		}
	}
	ps := &acc[0]
	for v := runs * ilp; v < vecs; v++ {
		for l := 0; l < w; l++ {
			x, err := it.next()
			if err != nil {
				return 0, err
			}
			ps[0][l] += abs32(x)
		}
	}
	for k := 1; k < ilp; k++ {
		for l := range ps[0] {
			ps[0][l] += ps[k][l]
		}
	}
	var sum float32
	for k := vecs * w; k < n; k++ {
		x, err := it.next()
		if err != nil {
			return 0, err
		}
		sum += abs32(x)
	}
	for l := 0; l < w; l++ {
		sum += ps[0][l]
	}
	return sum, nil
}

// ceilLog2 is torch's CeilLog2: 1 up to 2, else ceil(log2 x).
func ceilLog2(x int64) int64 {
	if x <= 2 {
		return 1
	}
	b := int64(0)
	for v := x - 1; v > 0; v >>= 1 {
		b++
	}
	return b
}

// f32Reader yields a tensor's elements in order as float32, reading 64
// KiB of rows at a time.
type f32Reader struct {
	d       *tensor.Desc
	row     int64
	buf     []float32
	at      int
	raw     []byte
	perRead int64
}

func (r *f32Reader) next() (float32, error) {
	if r.at == len(r.buf) {
		if err := r.fill(); err != nil {
			return 0, err
		}
	}
	r.at++
	return r.buf[r.at-1], nil
}

func (r *f32Reader) fill() error {
	if r.perRead == 0 {
		r.perRead = max(1, (64<<10)/max(1, r.d.RowBytes()))
	}
	n := min(r.perRead, r.d.Rows()-r.row)
	if n <= 0 {
		return fmt.Errorf("%s: read past its %d rows", r.d.Name, r.d.Rows())
	}
	r.raw = make([]byte, n*r.d.RowBytes())
	if err := r.d.Src.ReadRows(r.row, n, r.raw); err != nil {
		return err
	}
	r.buf = make([]float32, n*r.d.RowLen())
	if err := tensor.ToFloat32(r.d.DType, r.raw, r.buf); err != nil {
		return err
	}
	r.row, r.at = r.row+n, 0
	return nil
}

func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }
