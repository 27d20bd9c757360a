//go:build cuda && linux && (amd64 || arm64)

package gpu

import (
	"bytes"
	"math/rand/v2"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// The tests in this file run on a machine with a GPU (docs/gpu.md says
// how: a test binary built here with -tags cuda, run there with
// MLMF_GPU_REQUIRED=1). Without that variable they skip, saying so; with
// it, no usable GPU is a failure.

func requireGPU(t testing.TB) tensor.Device {
	if os.Getenv("MLMF_GPU_REQUIRED") == "" {
		t.Skip("set MLMF_GPU_REQUIRED=1 on a machine with a GPU to run this")
	}
	c, err := Choose(Spec{Kind: "cuda"})
	if err != nil {
		t.Fatalf("no GPU: %v", err)
	}
	t.Logf("GPUs: %v", c.GPUs)
	return Open(c)
}

func envInt(t testing.TB, name string, def int) int {
	if s := os.Getenv(name); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			t.Fatalf("%s=%q: expected a positive count", name, s)
		}
		return v
	}
	return def
}

// TestOnGPURandomBlocks: MLMF_GPU_BLOCKS blocks of every type (10^7 by
// default, in batches) from BF16, and a tenth of that from F16 and F32,
// drawn from host_test.go's classes, encoded on the GPU and on the CPU
// (every core), byte for byte equal.
func TestOnGPURandomBlocks(t *testing.T) {
	dev := requireGPU(t)
	total := envInt(t, "MLMF_GPU_BLOCKS", 10_000_000)
	const batchRows = 4096 // rows of 256: 1M values a batch
	for _, src := range kernelSources {
		blocks := total
		if src.t != tensor.BF16 {
			blocks = max(total/10, 1)
		}
		for _, k := range kernelTypes {
			if k.t == src.t {
				continue
			}
			perRow := 256 / int(k.t.Info().BlockSize)
			rowsWanted := (blocks + perRow - 1) / perRow
			t.Run(k.name+"_from_"+src.name, func(t *testing.T) {
				r := rand.New(rand.NewPCG(uint64(len(k.name)), uint64(k.t)))
				for done := 0; done < rowsWanted; done += batchRows {
					rows := min(batchRows, rowsWanted-done)
					vals := randomBlocks(r, rows)
					in, want := cpuRowsParallel(t, vals, src.t, k.t)
					rb := int64(len(want)) / int64(rows)
					got := make([]byte, len(want))
					ok, err := dev.Encode(src.t, k.t, 256, int64(rows), in, got)
					if !ok || err != nil {
						t.Fatalf("handled %v, %v", ok, err)
					}
					if !bytes.Equal(got, want) {
						i := firstDiff(got, want)
						row := int64(i) / rb
						t.Fatalf("rows %d..: row %d differs at byte %d\n got %x\nwant %x\ninput %v", done, row, int64(i)%rb,
							got[row*rb:(row+1)*rb], want[row*rb:(row+1)*rb], vals[row*256:(row+1)*256])
					}
				}
			})
		}
	}
}

// cpuRowsParallel is cpuRows on every core.
func cpuRowsParallel(t *testing.T, vals []float32, from, to tensor.DType) (in, want []byte) {
	rows := len(vals) / 256
	in = make([]byte, int64(len(vals))*from.Info().BlockBytes)
	if err := tensor.FromFloat32(from, vals, in); err != nil {
		t.Fatal(err)
	}
	inRB := int64(len(in)) / int64(rows)
	outRB, _ := to.RowBytes(256)
	want = make([]byte, int64(rows)*outRB)
	c, err := tensor.Convert(&tensor.Bytes{Data: in, RowBytes: inRB}, from, to, 256)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	per := (rows + runtime.NumCPU() - 1) / runtime.NumCPU()
	for lo := 0; lo < rows; lo += per {
		n := min(per, rows-lo)
		wg.Go(func() {
			if err := c.ReadRows(int64(lo), int64(n), want[int64(lo)*outRB:int64(lo+n)*outRB]); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	return in, want
}

// TestOnGPULoRAMerge: the merge on the GPU equals stages/lora's CPU merge
// (lora_host_test.go's cases, through the real worker).
func TestOnGPULoRAMerge(t *testing.T) {
	dev := requireGPU(t)
	r := rand.New(rand.NewPCG(9, 9))
	dts := []tensor.DType{tensor.F32, tensor.F16, tensor.BF16}
	for _, transposed := range []bool{false, true} {
		for _, bt := range dts {
			for _, ot := range dts {
				mergeOnDevice(t, dev, r, transposed, bt, ot)
			}
		}
	}
}

// BenchmarkEncode is one 64 MiB batch of BF16 rows (32M values) encoded
// as Q4_K_M's main types, on the GPU and on every CPU core, in bytes of
// input per second.
func BenchmarkEncode(b *testing.B) {
	dev := requireGPU(b)
	const rows = 128 << 10 // 32M values
	vals := randomBlocks(rand.New(rand.NewPCG(1, 2)), rows)
	in := make([]byte, 2*len(vals))
	if err := tensor.FromFloat32(tensor.BF16, vals, in); err != nil {
		b.Fatal(err)
	}
	for _, to := range []tensor.DType{tensor.Q4_K, tensor.Q6_K, tensor.Q8_0} {
		rb, _ := to.RowBytes(256)
		out := make([]byte, rows*rb)
		b.Run(to.String()+"/gpu", func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				if ok, err := dev.Encode(tensor.BF16, to, 256, rows, in, out); !ok || err != nil {
					b.Fatal(ok, err)
				}
			}
		})
		b.Run(to.String()+"/cpu", func(b *testing.B) {
			c, _ := tensor.Convert(&tensor.Bytes{Data: in, RowBytes: 512}, tensor.BF16, to, 256)
			b.SetBytes(int64(len(in)))
			for b.Loop() {
				var wg sync.WaitGroup
				per := rows / runtime.NumCPU()
				for lo := 0; lo < rows; lo += per {
					n := min(per, rows-lo)
					wg.Go(func() { _ = c.ReadRows(int64(lo), int64(n), out[int64(lo)*rb:int64(lo+n)*rb]) })
				}
				wg.Wait()
			}
		})
	}
}
