package gpu

import (
	"bytes"
	"fmt"
	"io/fs"
	"math"
	"slices"
	"strings"
	"sync"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// selfCheck runs every kernel of this build on GPU g over a fixed batch of
// awkward values and compares each byte with the CPU codecs. A GPU whose
// driver JITs the PTX into something that differs (or fails) is not used:
// byte-identical output is the promise, and this is where a driver or a
// GPU generation that breaks it is caught, before a run. The started
// worker is kept for the run (checked).
func selfCheck(d driver, g GPU, ptx fs.FS) error {
	api, ok := d.(cudaAPI)
	if !ok || ptx == nil {
		return errNoKernels
	}
	p := newPool(api, []GPU{g}, ptx)
	vals := checkValues()
	for _, from := range []tensor.DType{tensor.BF16, tensor.F16, tensor.F32} {
		in := make([]byte, int64(len(vals))*from.Info().BlockBytes)
		if err := tensor.FromFloat32(from, vals, in); err != nil {
			return err
		}
		for _, to := range slices.Sorted(func(yield func(tensor.DType) bool) {
			for t := range kernelDTypes {
				if !yield(t) {
					return
				}
			}
		}) {
			if kernelName(from, to) == "" || !tensor.HasCodec(to) {
				continue
			}
			if err := checkPair(p, from, to, in); err != nil {
				return fmt.Errorf("the GPU self-check failed: %w", err)
			}
		}
	}
	checkedMu.Lock()
	checked[g.Ordinal] = p
	checkedMu.Unlock()
	return nil
}

func checkPair(p *Pool, from, to tensor.DType, in []byte) error {
	const rowLen = 256
	rows := int64(len(in)) / (rowLen * from.Info().BlockBytes)
	cpu, err := tensor.Convert(&tensor.Bytes{Data: in, RowBytes: int64(len(in)) / rows, What: "self-check"}, from, to, rowLen)
	if err != nil {
		return err
	}
	rb, _ := to.RowBytes(rowLen)
	want, got := make([]byte, rows*rb), make([]byte, rows*rb)
	if err := cpu.ReadRows(0, rows, want); err != nil {
		return err
	}
	if _, err := p.Encode(from, to, rowLen, rows, in, got); err != nil {
		return err
	}
	if i := firstDiff(got, want); i >= 0 {
		return fmt.Errorf("%v -> %v differs from the CPU at byte %d of %d", from, to, i, len(want))
	}
	return nil
}

func firstDiff(a, b []byte) int {
	if bytes.Equal(a, b) {
		return -1
	}
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// checkValues are 64 super-blocks of 256 values, the classes the kernels'
// host test draws from (Gaussian at several scales, zeros, constants,
// subnormals, tiny and huge values, rounding ties), from a fixed xorshift.
func checkValues() []float32 {
	v := make([]float32, 64*256)
	s := uint64(0x9e3779b97f4a7c15)
	next := func() uint64 { s ^= s << 13; s ^= s >> 7; s ^= s << 17; return s }
	unit := func() float32 { return float32(next()>>40) / (1 << 24) }        // [0, 1)
	gauss := func() float32 { return unit() + unit() + unit() + unit() - 2 } // roughly normal
	sign := func() float32 { return float32(int(next()>>63)*2 - 1) }         // ±1
	for g := 0; g < len(v); g += 32 {
		x := v[g : g+32]
		switch (g / 32) % 9 {
		case 0: // zeros
		case 1:
			k := gauss()
			for i := range x {
				x[i] = k
			}
		case 2:
			for i := range x {
				x[i] = math.Float32frombits(uint32(next()>>41)) * sign()
			}
		case 3:
			for i := range x {
				x[i] = gauss() * 1e-14
			}
		case 4:
			for i := range x {
				x[i] = unit() * math.MaxFloat32 * sign()
			}
		case 5:
			for i := range x {
				x[i] = float32(int(next()%33)-16) * 0.5
			}
		case 6:
			for i := range x {
				x[i] = (60000 + 10000*unit()) * sign()
			}
		default:
			scale := []float32{1e-3, 0.02, 1, 100}[next()%4]
			for i := range x {
				x[i] = gauss() * scale
			}
		}
	}
	return v
}

// checked holds the worker of each GPU that passed its self-check; Open
// joins their streams into one pool for a run.
var (
	checkedMu sync.Mutex
	checked   = map[int]*Pool{}
	opened    = map[string]*Pool{}
)

// Open returns the worker for a choice: nil for the CPU, else one pool
// over every chosen GPU, shared by every stage that asks for the same set.
func Open(c Choice) tensor.Device {
	if c.CPU() {
		return nil
	}
	checkedMu.Lock()
	defer checkedMu.Unlock()
	var key []string
	for _, g := range c.GPUs {
		key = append(key, fmt.Sprint(g.Ordinal))
	}
	k := strings.Join(key, ",")
	if p := opened[k]; p != nil {
		return p
	}
	var parts []*Pool
	for _, g := range c.GPUs {
		if parts = append(parts, checked[g.Ordinal]); parts[len(parts)-1] == nil {
			return nil // not checked: cannot happen for a Choice from Choose
		}
	}
	p := joinPools(parts)
	opened[k] = p
	return p
}
