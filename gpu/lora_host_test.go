package gpu

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os/exec"
	"strconv"
	"testing"

	"github.com/mlmf-run/mlmf-run/stages/lora"
	"github.com/mlmf-run/mlmf-run/tensor"
)

// TestLoRAKernelOnHostMatchesCPUMerge runs the merge the GPU worker
// launches (decode, each delta, encode), compiled for the CPU, against
// stages/lora's CPU merge: plain and fan_in_fan_out layers, rsLoRA's
// alpha/sqrt(r) scale, F32/F16/BF16 bases, adapters, and outputs, two
// adapters with weights 1 and 0.5. Every output byte must be equal.
func TestLoRAKernelOnHostMatchesCPUMerge(t *testing.T) {
	bin := buildHost(t)
	r := rand.New(rand.NewPCG(7, 11))
	dts := []tensor.DType{tensor.F32, tensor.F16, tensor.BF16}
	for _, transposed := range []bool{false, true} {
		for _, base := range dts {
			for _, adapter := range dts {
				for _, out := range dts {
					name := base.String() + "_" + adapter.String() + "_to_" + out.String()
					if transposed {
						name = "fan_in_fan_out_" + name
					}
					t.Run(name, func(t *testing.T) { checkMerge(t, bin, r, transposed, base, adapter, out) })
				}
			}
		}
	}
}

// encoded makes a tensor of dtype d from float32 values drawn by f.
func encoded(t *testing.T, name string, d tensor.DType, shape []int64, f func() float32) (*tensor.Desc, []float32) {
	n := int64(1)
	for _, s := range shape {
		n *= s
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = f()
	}
	raw := make([]byte, n*d.Info().BlockBytes)
	if err := tensor.FromFloat32(d, v, raw); err != nil {
		t.Fatal(err)
	}
	back := make([]float32, n) // the values as the dtype holds them
	if err := tensor.ToFloat32(d, raw, back); err != nil {
		t.Fatal(err)
	}
	desc := &tensor.Desc{Name: name, DType: d, Shape: shape}
	desc.Src = &tensor.Bytes{Data: raw, RowBytes: desc.RowBytes(), What: name}
	return desc, back
}

func transpose(m []float32, rows, cols int64) []float32 {
	out := make([]float32, len(m))
	for i := int64(0); i < rows; i++ {
		for j := int64(0); j < cols; j++ {
			out[j*rows+i] = m[i*cols+j]
		}
	}
	return out
}

func checkMerge(t *testing.T, bin string, r *rand.Rand, transposed bool, baseT, adT, outT tensor.DType) {
	const rows, cols = 48, 80 // the base tensor's shape
	gauss := func(s float64) func() float32 { return func() float32 { return float32(r.NormFloat64() * s) } }
	base, _ := encoded(t, "base", baseT, []int64{rows, cols}, gauss(0.05))
	in, out := int64(cols), int64(rows) // nn.Linear: (out, in)
	if transposed {
		in, out = rows, cols // Conv1D: (in, out)
	}
	var deltas []*lora.Delta
	var stream bytes.Buffer
	raw, _ := tensor.ReadAll(base)
	stream.Write(raw)
	for k, ad := range []struct {
		rank   int64
		alpha  float64
		weight float64
	}{{8, 16, 1}, {4, 8, 0.5}} {
		a, af := encoded(t, "lora_A", adT, []int64{ad.rank, in}, gauss(0.1))
		b, bf := encoded(t, "lora_B", adT, []int64{out, ad.rank}, gauss(0.02))
		scale := ad.alpha / math.Sqrt(float64(ad.rank)) // rsLoRA
		if k == 1 {
			scale = ad.alpha / float64(ad.rank)
		}
		m := &lora.Module{Name: "layer", A: a, B: b, Rank: int(ad.rank), Alpha: ad.alpha, Scale: scale}
		d, err := lora.Bind(m, base, transposed, ad.weight)
		if err != nil {
			t.Fatal(err)
		}
		deltas = append(deltas, d)
		l, rr := bf, af // rows x rank, rank x cols
		if transposed {
			l, rr = transpose(af, ad.rank, rows), transpose(bf, cols, ad.rank)
		}
		round := map[tensor.DType]int32{tensor.F32: 0, tensor.F16: 1, tensor.BF16: 2}[adT]
		apply := int32(0)
		if ad.weight != 1 {
			apply = 1
		}
		binary.Write(&stream, binary.LittleEndian, []int32{int32(ad.rank)})
		binary.Write(&stream, binary.LittleEndian, []float32{float32(scale), float32(ad.weight)})
		binary.Write(&stream, binary.LittleEndian, []int32{round, apply})
		binary.Write(&stream, binary.LittleEndian, l)
		binary.Write(&stream, binary.LittleEndian, rr)
	}
	merged, err := lora.Merge(base, outT, deltas)
	if err != nil {
		t.Fatal(err)
	}
	want, err := tensor.ReadAll(merged)
	if err != nil {
		t.Fatal(err)
	}
	names := map[tensor.DType]string{tensor.F32: "f32", tensor.F16: "f16", tensor.BF16: "bf16"}
	cmd := exec.Command(bin, "merge", names[baseT], names[outT], strconv.Itoa(rows), strconv.Itoa(cols), strconv.Itoa(len(deltas)))
	cmd.Stdin = &stream
	got, err := cmd.Output()
	if err != nil {
		t.Fatalf("merge: %v", err)
	}
	if !bytes.Equal(got, want) {
		diff := 0
		for i := range want {
			if i < len(got) && got[i] != want[i] {
				diff++
			}
		}
		t.Fatalf("merged rows differ from the CPU merge in %d of %d bytes (got %d bytes)", diff, len(want), len(got))
	}
}

//lint:ignore U1000 device_cuda_test.go (-tags cuda) calls it

// mergeOnDevice merges through dev (lora.MergeOn) and on the CPU, and
// requires equal bytes: two adapters, rsLoRA and plain scales.
func mergeOnDevice(t *testing.T, dev tensor.Device, r *rand.Rand, transposed bool, bt, ot tensor.DType) {
	t.Helper()
	const rows, cols = 300, 512
	gauss := func(s float64) func() float32 { return func() float32 { return float32(r.NormFloat64() * s) } }
	base, _ := encoded(t, "base", bt, []int64{rows, cols}, gauss(0.05))
	in, out := int64(cols), int64(rows)
	if transposed {
		in, out = rows, cols
	}
	var ds []*lora.Delta
	for k, rank := range []int64{16, 4} {
		a, _ := encoded(t, "A", tensor.BF16, []int64{rank, in}, gauss(0.1))
		b, _ := encoded(t, "B", tensor.F32, []int64{out, rank}, gauss(0.02))
		scale := []float64{16 / math.Sqrt(float64(rank)), 8 / float64(rank)}[k]
		m := &lora.Module{Name: "layer", A: a, B: b, Rank: int(rank), Alpha: 16, Scale: scale}
		d, err := lora.Bind(m, base, transposed, []float64{1, 0.5}[k])
		if err != nil {
			t.Fatal(err)
		}
		ds = append(ds, d)
	}
	cpu, _ := lora.Merge(base, ot, ds)
	want, err := tensor.ReadAll(cpu)
	if err != nil {
		t.Fatal(err)
	}
	on, _ := lora.MergeOn(dev, base, ot, ds)
	got, err := tensor.ReadAll(on)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("transposed %v, %v -> %v on %s: %v, equal %v", transposed, bt, ot, dev.Name(), err, bytes.Equal(got, want))
	}
}
