package gpu

import (
	"bytes"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/tensor"
	_ "github.com/mlmf-run/mlmf-run/tensor/quant" // the CPU codecs the kernels must equal
)

// kernelTypes are the encodings gpu/kernels implements, by kernel name.
var kernelTypes = []struct {
	name string
	t    tensor.DType
}{
	{"f32", tensor.F32}, {"f16", tensor.F16}, {"bf16", tensor.BF16},
	{"q4_0", tensor.Q4_0}, {"q4_1", tensor.Q4_1}, {"q5_0", tensor.Q5_0}, {"q5_1", tensor.Q5_1}, {"q8_0", tensor.Q8_0},
	{"q2_k", tensor.Q2_K}, {"q3_k", tensor.Q3_K}, {"q4_k", tensor.Q4_K}, {"q5_k", tensor.Q5_K}, {"q6_k", tensor.Q6_K},
}

var kernelSources = []struct {
	name string
	t    tensor.DType
}{{"f32", tensor.F32}, {"f16", tensor.F16}, {"bf16", tensor.BF16}}

// buildHost compiles the kernels for the CPU with the host harness (no
// fused multiply-adds, IEEE float32: the arithmetic nvcc -fmad=false
// gives on the GPU). Without a C++ compiler the test skips, or fails in CI.
func buildHost(t *testing.T) string {
	t.Helper()
	cxx, err := exec.LookPath("g++")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("g++ is needed to check the GPU kernels on the host: %v", err)
		}
		t.Skipf("no g++ (%v): the GPU kernels are not checked on the host", err)
	}
	bin := filepath.Join(t.TempDir(), "host_main")
	cmd := exec.Command(cxx, "-std=c++17", "-O2", "-ffp-contract=off", "-fno-fast-math", "-o", bin, filepath.Join("testdata", "host_main.cc"))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the host kernels: %v\n%s", err, out)
	}
	return bin
}

// hostBlocks is how many 256-element super-blocks of each class mix every
// (type, source) pair gets: MLMF_GPU_HOST_BLOCKS raises it for a long run.
func hostBlocks(t *testing.T) int {
	n := 1024
	if s := os.Getenv("MLMF_GPU_HOST_BLOCKS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			t.Fatalf("MLMF_GPU_HOST_BLOCKS=%q: expected a positive count", s)
		}
		n = v
	}
	return n
}

// TestKernelsOnHostMatchCPU runs every encoding kernel, compiled for the
// CPU, on random blocks (Gaussian at many scales, zeros, constant groups,
// subnormals, values near ggml's 1e-15 group threshold, huge values up to
// FLT_MAX, repeated exact levels that make rounding ties) from each source
// dtype, and requires every byte to equal tensor.Convert's, the CPU path
// that matches llama-quantize.
func TestKernelsOnHostMatchCPU(t *testing.T) {
	bin := buildHost(t)
	n := hostBlocks(t)
	vals := randomBlocks(rand.New(rand.NewPCG(12, 0x9e3779b9)), n)
	for _, src := range kernelSources {
		in := make([]byte, int64(len(vals))*src.t.Info().BlockBytes)
		if err := tensor.FromFloat32(src.t, vals, in); err != nil {
			t.Fatal(err)
		}
		for _, k := range kernelTypes {
			if k.t == src.t {
				continue // the identity: no kernel runs
			}
			t.Run(k.name+"_from_"+src.name, func(t *testing.T) {
				checkKernel(t, bin, k.name+"_from_"+src.name, src.t, k.t, in, vals)
			})
		}
	}
}

func checkKernel(t *testing.T, bin, kernel string, from, to tensor.DType, in []byte, vals []float32) {
	const rowLen = 256
	rows := int64(len(vals) / rowLen)
	conv, err := tensor.Convert(&tensor.Bytes{Data: in, RowBytes: int64(len(in)) / rows, What: "random"}, from, to, rowLen)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := to.RowBytes(rowLen)
	want := make([]byte, rows*rb)
	if err := conv.ReadRows(0, rows, want); err != nil {
		t.Fatal(err)
	}
	bs := int(to.Info().BlockSize)
	nblocks := len(vals) / bs
	cmd := exec.Command(bin, kernel, strconv.Itoa(nblocks), strconv.Itoa(len(want)))
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	got, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v: %s", kernel, err, stderr.String())
	}
	if bytes.Equal(got, want) {
		return
	}
	if len(got) != len(want) {
		t.Fatalf("%s wrote %d bytes, want %d", kernel, len(got), len(want))
	}
	bb := int(to.Info().BlockBytes)
	bad := 0
	for b := 0; b < nblocks; b++ {
		g, w := got[b*bb:(b+1)*bb], want[b*bb:(b+1)*bb]
		if bytes.Equal(g, w) {
			continue
		}
		if bad++; bad <= 3 {
			t.Errorf("%s block %d differs:\n got %x\nwant %x\ninput %v", kernel, b, g, w, vals[b*bs:(b+1)*bs])
		}
	}
	t.Errorf("%s: %d of %d blocks differ", kernel, bad, nblocks)
}

// randomBlocks makes n super-blocks of 256 values; each 32-value group
// (a legacy block, two k-quant sub-blocks) draws its own class, so both
// whole blocks of one class and blocks mixing classes occur.
func randomBlocks(r *rand.Rand, n int) []float32 {
	v := make([]float32, 256*n)
	for g := 0; g < len(v); g += 32 {
		fillGroup(r, v[g:g+32])
	}
	return v
}

func fillGroup(r *rand.Rand, x []float32) {
	scales := []float64{1e-3, 0.02, 1, 100, 1e4}
	switch c := r.IntN(12); c {
	case 0: // zeros, some negative
		for i := range x {
			x[i] = float32(math.Copysign(0, float64(r.IntN(2)*2-1)))
		}
	case 1: // one constant
		k := float32(r.NormFloat64())
		for i := range x {
			x[i] = k
		}
	case 2: // subnormals
		for i := range x {
			x[i] = math.Float32frombits(uint32(r.IntN(1<<23))) * float32(r.IntN(2)*2-1)
		}
	case 3: // around GROUP_MAX_EPS and half's smallest values
		for i := range x {
			x[i] = float32(r.NormFloat64() * math.Pow(10, -float64(r.IntN(12)+5)))
		}
	case 4: // huge, up to FLT_MAX (overflows scales, halves and sums)
		for i := range x {
			x[i] = float32(r.Float64()*math.MaxFloat32) * float32(r.IntN(2)*2-1)
		}
	case 5: // a few huge among ordinary values
		for i := range x {
			x[i] = float32(r.NormFloat64())
			if r.IntN(8) == 0 {
				x[i] = float32(r.NormFloat64() * 1e30)
			}
		}
	case 6: // exact small levels: ties in every rounding
		for i := range x {
			x[i] = float32(r.IntN(33)-16) * 0.5
		}
	case 7: // near half's range limits
		for i := range x {
			x[i] = float32((60000 + r.Float64()*10000) * float64(r.IntN(2)*2-1))
		}
	case 8: // one value, the rest zero
		clear(x)
		x[r.IntN(len(x))] = float32(r.NormFloat64())
	case 9: // all positive (the asymmetric types' min is 0)
		for i := range x {
			x[i] = float32(math.Abs(r.NormFloat64()) + 0.5)
		}
	default: // Gaussian weights at one of several scales
		s := scales[r.IntN(len(scales))]
		for i := range x {
			x[i] = float32(r.NormFloat64() * s)
		}
	}
}

// TestKernelSourcesListed: every kernel file's encoders are in the host
// harness and in kernelTypes, so none goes unchecked.
func TestKernelSourcesListed(t *testing.T) {
	main, err := os.ReadFile(filepath.Join("testdata", "host_main.cc"))
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join("kernels", "*.cu"))
	for _, f := range files {
		if !strings.Contains(string(main), fmt.Sprintf("#include \"../kernels/%s\"", filepath.Base(f))) {
			t.Errorf("testdata/host_main.cc does not include %s", f)
		}
		src, _ := os.ReadFile(f)
		for _, l := range strings.Split(string(src), "\n") {
			name, ok := strings.CutPrefix(l, "ENCODERS(")
			if !ok {
				continue
			}
			name, _, _ = strings.Cut(name, ",")
			if !strings.Contains(string(main), "K3("+name+")") {
				t.Errorf("%s: encoder %s is not in the host harness", f, name)
			}
			found := false
			for _, k := range kernelTypes {
				found = found || k.name == name
			}
			if !found {
				t.Errorf("%s: encoder %s is not in kernelTypes", f, name)
			}
		}
	}
}
