package safetensors

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// randBF16 is a Source of deterministic pseudo-random BF16 values of
// magnitude in [2^-7, 1), generated row by row so files of any size can be
// written in bounded memory.
type randBF16 struct {
	seed     uint64
	rowBytes int64
}

func (r *randBF16) ReadRows(row, n int64, dst []byte) error {
	for i := int64(0); i < n; i++ {
		rng := rand.NewPCG(r.seed, uint64(row+i))
		out := dst[i*r.rowBytes : (i+1)*r.rowBytes]
		for j := 0; j+8 <= len(out); j += 8 {
			x := rng.Uint64()
			for k := 0; k < 4; k++ {
				v := uint16(x >> (16 * k))
				// sign | exponent 120..127 | 7 random mantissa bits
				bf := v&0x8000 | uint16(120+v>>7&7)<<7 | v&0x7f
				out[j+2*k], out[j+2*k+1] = byte(bf), byte(bf>>8)
			}
		}
	}
	return nil
}

func (r *randBF16) Describe() string { return "random BF16" }

// benchTensors describes about size bytes of BF16 weights: 16 MiB matrices
// named like a LLaMA checkpoint, plus a norm vector per layer.
func benchTensors(size int64) []*tensor.Desc {
	const rows, cols = 4096, 2048
	var out []*tensor.Desc
	var total int64
	for layer := 0; total < size; layer++ {
		for _, m := range []string{"mlp.up_proj", "mlp.gate_proj", "mlp.down_proj", "self_attn.q_proj"} {
			d := &tensor.Desc{Name: fmt.Sprintf("model.layers.%d.%s.weight", layer, m), DType: tensor.BF16, Shape: []int64{rows, cols}}
			d.Src = &randBF16{seed: uint64(len(out)), rowBytes: d.RowBytes()}
			out = append(out, d)
			total += d.NBytes()
		}
		d := &tensor.Desc{Name: fmt.Sprintf("model.layers.%d.input_layernorm.weight", layer), DType: tensor.BF16, Shape: []int64{cols}}
		d.Src = &randBF16{seed: uint64(len(out)), rowBytes: d.RowBytes()}
		out = append(out, d)
		total += d.NBytes()
	}
	return out
}

func writeBenchFile(tb testing.TB, path string, size int64) {
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	if err := Write(f, benchTensors(size), map[string]string{"format": "pt"}); err != nil {
		tb.Fatal(err)
	}
	if err := f.Close(); err != nil {
		tb.Fatal(err)
	}
}

// readSet reads every tensor of s through ReadRows in chunks of about
// ChunkBytes, summing one byte per 4 KiB so the reads have a consumer.
func readSet(s *Set) (n int64, sum byte, err error) {
	buf := make([]byte, ChunkBytes)
	for _, d := range s.Tensors {
		rows, rb := d.Rows(), d.RowBytes()
		if rb == 0 {
			continue
		}
		step := max(ChunkBytes/rb, 1)
		if int64(len(buf)) < step*rb {
			buf = make([]byte, step*rb)
		}
		for r := int64(0); r < rows; r += step {
			k := min(step, rows-r)
			chunk := buf[:k*rb]
			if err := d.Src.ReadRows(r, k, chunk); err != nil {
				return n, sum, err
			}
			for i := 0; i < len(chunk); i += 4096 {
				sum += chunk[i]
			}
			n += int64(len(chunk))
		}
	}
	return n, sum, nil
}

// BenchmarkReadRows reads a 128 MiB file through a memory-mapped Set.
func BenchmarkReadRows(b *testing.B) {
	path := filepath.Join(b.TempDir(), "bench.safetensors")
	writeBenchFile(b, path, 128<<20)
	s, err := Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	n, _, err := readSet(s) // warm the page cache
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(n)
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := readSet(s); err != nil {
			b.Fatal(err)
		}
	}
}

// TestBenchWriteFile writes the benchmark file for scripts/bench-read.sh:
// MLMF_BENCH_WRITE=path, MLMF_BENCH_SIZE=bytes of tensor data.
func TestBenchWriteFile(t *testing.T) {
	path := os.Getenv("MLMF_BENCH_WRITE")
	if path == "" {
		t.Skip("set MLMF_BENCH_WRITE to write the benchmark file")
	}
	size, err := strconv.ParseInt(os.Getenv("MLMF_BENCH_SIZE"), 10, 64)
	if err != nil {
		t.Fatalf("MLMF_BENCH_SIZE: %v", err)
	}
	writeBenchFile(t, path, size)
}

// TestBenchRead times reading MLMF_BENCH_READ through Open and ReadRows,
// best of MLMF_BENCH_REPEAT (default 3) runs, and prints the result.
func TestBenchRead(t *testing.T) {
	path := os.Getenv("MLMF_BENCH_READ")
	if path == "" {
		t.Skip("set MLMF_BENCH_READ to time reading a file")
	}
	repeat := 3
	if v, err := strconv.Atoi(os.Getenv("MLMF_BENCH_REPEAT")); err == nil && v > 0 {
		repeat = v
	}
	best := time.Duration(1 << 62)
	var n int64
	for i := 0; i < repeat; i++ {
		start := time.Now()
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		var sum byte
		n, sum, err = readSet(s)
		if err != nil {
			t.Fatal(err)
		}
		s.Close()
		el := time.Since(start)
		best = min(best, el)
		fmt.Printf("go-set run %d: %d bytes in %.3f s (checksum %d)\n", i+1, n, el.Seconds(), sum)
	}
	fmt.Printf("go-set best: %d bytes in %.3f s = %.2f GB/s\n", n, best.Seconds(), float64(n)/best.Seconds()/1e9)
}
