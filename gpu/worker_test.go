package gpu

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"
	"unsafe"

	"github.com/x448/float16"

	"github.com/mlmf-run/mlmf-run/stages/lora"
	"github.com/mlmf-run/mlmf-run/tensor"
)

// fakeCUDA is a GPU in Go: device memory is byte slices, and a launched
// encoder runs the CPU codecs over the batch (the kernels' own arithmetic
// is checked by host_test.go). It lets the worker's batching, copies,
// streams and failures be tested where no GPU is.
type fakeCUDA struct {
	fakeDriver
	mu       sync.Mutex
	mem      map[uint64][]byte
	next     uint64
	names    []string
	corrupt  string // a kernel whose output gets one byte flipped
	failCall string // a call that fails
	launches map[int]int
	streams  int
}

func newFakeCUDA(gpus ...GPU) *fakeCUDA {
	return &fakeCUDA{fakeDriver: fakeDriver{gpus: gpus}, mem: map[uint64][]byte{}, launches: map[int]int{}}
}

func (f *fakeCUDA) fail(call string) error {
	if f.failCall == call {
		return &cuResult{call: call, code: 700, text: "an illegal memory access was encountered"}
	}
	return nil
}

func (f *fakeCUDA) Context(i int) (uintptr, error) {
	return uintptr(100 + i), f.fail("cuDevicePrimaryCtxRetain")
}
func (f *fakeCUDA) SetCurrent(ctx uintptr) error { return f.fail("cuCtxSetCurrent") }
func (f *fakeCUDA) LoadModule(ptx []byte) (uintptr, error) {
	return 1, f.fail("cuModuleLoadData")
}
func (f *fakeCUDA) Function(mod uintptr, name string) (uintptr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.names = append(f.names, name)
	return uintptr(len(f.names) - 1), f.fail("cuModuleGetFunction")
}
func (f *fakeCUDA) Alloc(n int64) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.next += 1 << 32
	f.mem[f.next] = make([]byte, n)
	return f.next, f.fail("cuMemAlloc_v2")
}
func (f *fakeCUDA) Free(p uint64) error { delete(f.mem, p); return nil }
func (f *fakeCUDA) HostAlloc(n int64) ([]byte, error) {
	return make([]byte, n), f.fail("cuMemAllocHost_v2")
}
func (f *fakeCUDA) HostFree(b []byte) error { return nil }
func (f *fakeCUDA) NewStream() (uintptr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.streams++
	return uintptr(f.streams), f.fail("cuStreamCreate")
}

// buf is the device memory at p, which may point inside an allocation.
func (f *fakeCUDA) buf(p uint64) []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	for base, b := range f.mem {
		if p >= base && p < base+uint64(len(b)) {
			return b[p-base:]
		}
	}
	return nil
}
func (f *fakeCUDA) CopyIn(dst uint64, src []byte, s uintptr) error {
	copy(f.buf(dst), src)
	return f.fail("cuMemcpyHtoDAsync_v2")
}
func (f *fakeCUDA) CopyOut(dst []byte, src uint64, s uintptr) error {
	copy(dst, f.buf(src))
	return f.fail("cuMemcpyDtoHAsync_v2")
}
func (f *fakeCUDA) Sync(s uintptr) error { return f.fail("cuStreamSynchronize") }

func (f *fakeCUDA) Launch(fn uintptr, grid, block uint32, s uintptr, params []unsafe.Pointer) error {
	if err := f.fail("cuLaunchKernel"); err != nil {
		return err
	}
	f.mu.Lock()
	name := f.names[fn]
	f.launches[int(fn)]++
	f.mu.Unlock()
	if name == "lora_delta" {
		return f.loraDelta(params)
	}
	in, out, nblocks := *(*uint64)(params[0]), *(*uint64)(params[1]), *(*int64)(params[2])
	if int64(grid)*int64(block) < nblocks {
		return fmt.Errorf("grid %d×%d is short of %d blocks", grid, block, nblocks)
	}
	toName, fromName, _ := strings.Cut(name, "_from_")
	var from, to tensor.DType
	for d, n := range kernelDTypes {
		if n == fromName {
			from = d
		}
		if n == toName {
			to = d
		}
	}
	elems := nblocks * to.Info().BlockSize
	vals := make([]float32, elems)
	if err := tensor.ToFloat32(from, f.buf(in)[:elems*from.Info().BlockBytes], vals); err != nil {
		return err
	}
	o := f.buf(out)[:nblocks*to.Info().BlockBytes]
	if err := tensor.FromFloat32(to, vals, o); err != nil {
		return err
	}
	if name == f.corrupt {
		o[len(o)/2] ^= 1
	}
	return nil
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed)) }

// cpuRows encodes vals (whole rows of rowLen) from one dtype to another on
// the CPU: the input bytes and the expected output.
func cpuRows(t *testing.T, vals []float32, from, to tensor.DType, rowLen int64) (in, want []byte) {
	t.Helper()
	in = make([]byte, int64(len(vals))*from.Info().BlockBytes)
	if err := tensor.FromFloat32(from, vals, in); err != nil {
		t.Fatal(err)
	}
	rows := int64(len(vals)) / rowLen
	c, err := tensor.Convert(&tensor.Bytes{Data: in, RowBytes: int64(len(in)) / rows}, from, to, rowLen)
	if err != nil {
		t.Fatal(err)
	}
	rb, _ := to.RowBytes(rowLen)
	want = make([]byte, rows*rb)
	if err := c.ReadRows(0, rows, want); err != nil {
		t.Fatal(err)
	}
	return in, want
}

// TestPoolEncodes: batches larger than a slot are split, many goroutines
// share the streams of two GPUs, each GPU gets work, and every byte equals
// the CPU's; pairs without a kernel are declined.
func TestPoolEncodes(t *testing.T) {
	api := newFakeCUDA(h200(100<<30), h200(100<<30))
	var parts []*Pool
	for _, g := range []GPU{{Ordinal: 0, Name: "a"}, {Ordinal: 1, Name: "b"}} {
		p := newPool(api, []GPU{g}, os.DirFS("."))
		p.slotBytes = 4 << 10 // 8 BF16 rows of 256: each call is cut into batches
		parts = append(parts, p)
	}
	pool := joinPools(parts)
	if pool.Name() != "cuda:0,1" {
		t.Errorf("name %q", pool.Name())
	}
	vals := randomBlocks(newRand(3), 96) // 96 rows of 256
	var wg sync.WaitGroup
	for _, pair := range [][2]tensor.DType{{tensor.BF16, tensor.Q4_K}, {tensor.F16, tensor.Q8_0}, {tensor.F32, tensor.BF16}, {tensor.BF16, tensor.Q6_K}} {
		in, want := cpuRows(t, vals, pair[0], pair[1], 256)
		for g := range 4 { // four executor workers, disjoint rows
			wg.Go(func() {
				rows := int64(96 / 4)
				inRB, outRB := int64(len(in))/96, int64(len(want))/96
				lo := int64(g) * rows
				got := make([]byte, rows*outRB)
				ok, err := pool.Encode(pair[0], pair[1], 256, rows, in[lo*inRB:(lo+rows)*inRB], got)
				if !ok || err != nil || !bytes.Equal(got, want[lo*outRB:(lo+rows)*outRB]) {
					t.Errorf("%v->%v rows %d..: handled %v, %v, equal %v", pair[0], pair[1], lo, ok, err, bytes.Equal(got, want[lo*outRB:(lo+rows)*outRB]))
				}
			})
		}
	}
	wg.Wait()
	if len(api.launches) == 0 || api.streams != 2*streamsPerGPU {
		t.Errorf("%d kernels launched, %d streams; want some and %d", len(api.launches), api.streams, 2*streamsPerGPU)
	}
	for _, pair := range [][2]tensor.DType{{tensor.Q4_0, tensor.Q8_0}, {tensor.BF16, tensor.Q8_K}, {tensor.BF16, tensor.BF16}, {tensor.F64, tensor.F32}} {
		if ok, err := pool.Encode(pair[0], pair[1], 256, 1, nil, nil); ok || err != nil {
			t.Errorf("%v->%v: handled %v, %v; want it declined", pair[0], pair[1], ok, err)
		}
	}
}

// TestPoolFailures: a failing driver call is an error naming the GPU, the
// kernel and the call, never a silent fallback or wrong bytes.
func TestPoolFailures(t *testing.T) {
	vals := randomBlocks(newRand(4), 4)
	in, want := cpuRows(t, vals, tensor.BF16, tensor.Q5_K, 256)
	for call, msg := range map[string]string{
		"cuLaunchKernel":           "GPU 0 (a), kernel q5_k_from_bf16: cuLaunchKernel: CUDA error 700",
		"cuStreamSynchronize":      "kernel q5_k_from_bf16: cuStreamSynchronize",
		"cuModuleLoadData":         "starting GPU 0 (a): loading kernels/",
		"cuMemAlloc_v2":            "starting GPU 0 (a): cuMemAlloc_v2",
		"cuDevicePrimaryCtxRetain": "starting GPU 0 (a): cuDevicePrimaryCtxRetain",
	} {
		api := newFakeCUDA(h200(100 << 30))
		api.failCall = call
		p := newPool(api, []GPU{{Ordinal: 0, Name: "a"}}, os.DirFS("."))
		got := make([]byte, len(want))
		if _, err := p.Encode(tensor.BF16, tensor.Q5_K, 256, 4, in, got); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s failing: %v; want %q", call, err, msg)
		}
	}
	p := newPool(newFakeCUDA(h200(100<<30)), []GPU{{Ordinal: 0}}, os.DirFS(t.TempDir()))
	if _, err := p.Encode(tensor.BF16, tensor.Q5_K, 256, 4, in, make([]byte, len(want))); err == nil || !strings.Contains(err.Error(), "no kernels in this build") {
		t.Errorf("no PTX: %v", err)
	}
}

// TestSelfCheck: a GPU whose kernels give other bytes than the CPU is not
// used, and auto says why; one that agrees is chosen and opened.
func TestSelfCheck(t *testing.T) {
	good := newFakeCUDA(h200(100 << 30))
	if err := selfCheck(good, GPU{Ordinal: 0, Name: "NVIDIA H200"}, os.DirFS(".")); err != nil {
		t.Fatalf("agreeing GPU: %v", err)
	}
	bad := newFakeCUDA(h200(100 << 30))
	bad.corrupt = "q3_k_from_f16"
	err := selfCheck(bad, GPU{Ordinal: 0}, os.DirFS("."))
	if err == nil || !strings.Contains(err.Error(), "self-check failed: F16 -> Q3_K differs from the CPU at byte") {
		t.Fatalf("corrupting GPU: %v", err)
	}
	r := probe(func() (driver, error) { return bad, nil }, func(d driver, g GPU) error { return selfCheck(d, g, os.DirFS(".")) })
	c, err := choose(Spec{Kind: "auto"}, r)
	if err != nil || !c.CPU() || !strings.Contains(c.Reason, "GPU 0 (NVIDIA H200, sm_90") || !strings.Contains(c.Reason, "self-check failed") {
		t.Errorf("auto with a corrupting GPU: %+v, %v", c, err)
	}
	two := newFakeCUDA(h200(100<<30), h200(100<<30))
	r = probe(func() (driver, error) { return two, nil }, func(d driver, g GPU) error { return selfCheck(d, g, os.DirFS(".")) })
	c, err = choose(Spec{Kind: "cuda"}, r)
	if err != nil || len(c.GPUs) != 2 {
		t.Fatalf("two agreeing GPUs: %+v, %v", c, err)
	}
	dev := Open(c)
	if dev == nil || dev.Name() != "cuda:0,1" || Open(c) != dev || Open(Choice{}) != nil {
		t.Fatalf("Open: %v", dev)
	}
	if free, total := dev.Memory(); free != 200<<30 || total != 280<<30 {
		t.Errorf("memory %d of %d", free, total)
	}
	if !errors.Is(selfCheck(&fakeDriver{}, GPU{}, os.DirFS(".")), errNoKernels) {
		t.Errorf("a driver without the worker's calls passed the self-check")
	}
}

// loraDelta is kernels/lora.cu in Go, over the fake's memory.
func (f *fakeCUDA) loraDelta(params []unsafe.Pointer) error {
	accP, lP, rP := *(*uint64)(params[0]), *(*uint64)(params[1]), *(*uint64)(params[2])
	rows, cols, rank := *(*int64)(params[3]), *(*int64)(params[4]), int64(*(*int32)(params[5]))
	scale, weight := *(*float32)(params[6]), *(*float32)(params[7])
	round, apply := *(*int32)(params[8]), *(*int32)(params[9])
	floats := func(p uint64, n int64) []float32 {
		b := f.buf(p)
		v := make([]float32, n)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return v
	}
	acc, l, r := floats(accP, rows*cols), floats(lP, rows*rank), floats(rP, rank*cols)
	out := f.buf(accP)
	for e := range rows * cols {
		row, i := e/cols, e%cols
		var d float32
		for k := range rank {
			d = float32(math.FMA(float64(l[row*rank+k]), float64(r[k*cols+i]), float64(d)))
		}
		v := float32(d * scale)
		switch round {
		case 1:
			v = float16.Fromfloat32(v).Float32()
		case 2:
			v = math.Float32frombits(uint32(tensor.BF16Bits(v)) << 16)
		}
		if apply != 0 {
			v = float32(v * weight)
		}
		binary.LittleEndian.PutUint32(out[4*e:], math.Float32bits(float32(acc[e]+v)))
	}
	return nil
}

// TestPoolMerges: lora.MergeOn with the worker gives every byte the CPU
// merge gives, batches cut mid-tensor (each delta's L rows offset), plain
// and fan_in_fan_out, two adapters, F32/F16/BF16 in and out.
func TestPoolMerges(t *testing.T) {
	r := newRand(5)
	api := newFakeCUDA(h200(100<<30), h200(100<<30))
	var parts []*Pool
	for i := range 2 {
		p := newPool(api, []GPU{{Ordinal: i}}, os.DirFS("."))
		p.slotBytes = 4 << 10 // 1024 floats: batches of a few rows
		parts = append(parts, p)
	}
	pool := joinPools(parts)
	dts := []tensor.DType{tensor.F32, tensor.F16, tensor.BF16}
	for _, transposed := range []bool{false, true} {
		for _, bt := range dts {
			for _, ot := range dts {
				const rows, cols = 40, 96
				gauss := func(s float64) func() float32 { return func() float32 { return float32(r.NormFloat64() * s) } }
				base, _ := encoded(t, "base", bt, []int64{rows, cols}, gauss(0.05))
				in, out := int64(cols), int64(rows)
				if transposed {
					in, out = rows, cols
				}
				var ds []*lora.Delta
				for k, rank := range []int64{8, 2} {
					a, _ := encoded(t, "A", tensor.BF16, []int64{rank, in}, gauss(0.1))
					b, _ := encoded(t, "B", tensor.BF16, []int64{out, rank}, gauss(0.02))
					m := &lora.Module{Name: "layer", A: a, B: b, Rank: int(rank), Alpha: 16, Scale: 16 / math.Sqrt(float64(rank))}
					d, err := lora.Bind(m, base, transposed, []float64{1, 0.5}[k])
					if err != nil {
						t.Fatal(err)
					}
					ds = append(ds, d)
				}
				cpu, err := lora.Merge(base, ot, ds)
				if err != nil {
					t.Fatal(err)
				}
				want, err := tensor.ReadAll(cpu)
				if err != nil {
					t.Fatal(err)
				}
				on, err := lora.MergeOn(pool, base, ot, ds)
				if err != nil {
					t.Fatal(err)
				}
				// Two chunks, as the executor reads them: the second starts
				// at row 17, so every delta's rows are offset twice.
				before := len(api.launches)
				rb := on.RowBytes()
				got := make([]byte, len(want))
				err = on.Src.ReadRows(0, 17, got[:17*rb])
				if err == nil {
					err = on.Src.ReadRows(17, rows-17, got[17*rb:])
				}
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("transposed %v, %v -> %v: %v, equal %v", transposed, bt, ot, err, bytes.Equal(got, want))
				}
				if before == 0 && len(api.launches) == 0 {
					t.Errorf("transposed %v, %v -> %v: nothing ran on the GPU", transposed, bt, ot)
				}
			}
		}
	}
	if api.launches[indexOf(api.names, "lora_delta")] == 0 {
		t.Errorf("lora_delta never launched")
	}
}

func indexOf(names []string, n string) int {
	for i, s := range names {
		if s == n {
			return i
		}
	}
	return -1
}
