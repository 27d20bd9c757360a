package gpu

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// fakeDriver is a driver with scripted answers: each GPU's name,
// capability and memory, and an error to give from any one call.
type fakeDriver struct {
	gpus  []GPU
	fail  map[string]error // call name ("Init", "Count", "Name", ...) -> error
	calls []string
}

func (f *fakeDriver) err(call string) error {
	f.calls = append(f.calls, call)
	return f.fail[call]
}

func (f *fakeDriver) Init() error           { return f.err("Init") }
func (f *fakeDriver) Version() (int, error) { return 13000, f.err("Version") }
func (f *fakeDriver) Count() (int, error)   { return len(f.gpus), f.err("Count") }
func (f *fakeDriver) Name(i int) (string, error) {
	return f.gpus[i].Name, f.err("Name")
}
func (f *fakeDriver) Capability(i int) (int, int, error) {
	return f.gpus[i].Major, f.gpus[i].Minor, f.err("Capability")
}
func (f *fakeDriver) FreeMem(i int) (int64, int64, error) {
	return f.gpus[i].Free, f.gpus[i].Total, f.err("FreeMem")
}

func h200(free int64) GPU {
	return GPU{Name: "NVIDIA H200", Major: 9, Minor: 0, Free: free, Total: 140 << 30}
}

func withKernels(driver, GPU) error { return nil }

func noKernels(driver, GPU) error { return errNoKernels }

func load(d *fakeDriver) func() (driver, error) {
	return func() (driver, error) { return d, nil }
}

func TestParseSpec(t *testing.T) {
	for in, want := range map[string]string{"auto": "auto", "cpu": "cpu", "cuda": "cuda", "cuda:0": "cuda:0", "cuda:1,0": "cuda:1,0"} {
		s, err := ParseSpec(in)
		if err != nil || s.String() != want {
			t.Errorf("ParseSpec(%q) = %v, %v; want %s", in, s, err, want)
		}
	}
	for in, msg := range map[string]string{
		"gpu": "expected auto, cpu, cuda", "cuda:": `"" is not a GPU ordinal`, "cuda:a": `"a" is not a GPU ordinal`,
		"cuda:-1": `"-1" is not`, "cuda:0,0": "GPU 0 is listed twice", "CUDA": "expected", "cuda:0,": `"" is not`,
	} {
		if _, err := ParseSpec(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("ParseSpec(%q) = %v; want an error with %q", in, err, msg)
		}
	}
}

// TestChooseFallsBackWithOneReason covers each reason auto gives for the
// CPU, and that cuda turns the same reason into an ErrNoGPU refusal.
func TestChooseFallsBackWithOneReason(t *testing.T) {
	cases := []struct {
		name    string
		load    func() (driver, error)
		kernels func(driver, GPU) error
		reason  string
	}{
		{"not built", func() (driver, error) { return nil, errNotBuilt }, withKernels, "built without GPU support"},
		{"no driver", func() (driver, error) {
			return nil, fmt.Errorf("%w: libcuda.so.1: cannot open shared object file", errNoDriver)
		}, withKernels, "no CUDA driver: libcuda.so.1: cannot open"},
		{"no device at init", load(&fakeDriver{fail: map[string]error{"Init": &cuResult{call: "cuInit", code: cuErrorNoDevice}}}), withKernels, "no CUDA device"},
		{"old driver", load(&fakeDriver{fail: map[string]error{"Init": &cuResult{call: "cuInit", code: cuErrorInsufficientDrv, text: "CUDA driver version is insufficient"}}}), withKernels, "driver is too old"},
		{"init fails", load(&fakeDriver{fail: map[string]error{"Init": &cuResult{call: "cuInit", code: 999}}}), withKernels, "failed to start: cuInit: CUDA error 999"},
		{"zero devices", load(&fakeDriver{}), withKernels, "no CUDA device"},
		{"count fails", load(&fakeDriver{gpus: []GPU{h200(100 << 30)}, fail: map[string]error{"Count": &cuResult{call: "cuDeviceGetCount", code: 3}}}), withKernels, "counting CUDA devices"},
		{"too little memory", load(&fakeDriver{gpus: []GPU{h200(200 << 20)}}), withKernels, "GPU 0 (NVIDIA H200) has too little memory free: 200 MiB of 143360 MiB, needs 1024 MiB"},
		{"too old a GPU", load(&fakeDriver{gpus: []GPU{{Name: "Tesla K80", Major: 3, Minor: 7, Free: 10 << 30}}}), withKernels, "compute capability 3.7"},
		{"name fails", load(&fakeDriver{gpus: []GPU{h200(100 << 30)}, fail: map[string]error{"Name": &cuResult{call: "cuDeviceGetName", code: 101}}}), withKernels, "GPU 0: cuDeviceGetName: CUDA error 101"},
		{"meminfo fails", load(&fakeDriver{gpus: []GPU{h200(100 << 30)}, fail: map[string]error{"FreeMem": &cuResult{call: "cuMemGetInfo_v2", code: 2, text: "out of memory"}}}), withKernels, "out of memory"},
		{"no kernels", load(&fakeDriver{gpus: []GPU{h200(100 << 30)}}), noKernels, "GPU 0 (NVIDIA H200, sm_90, 102400 MiB free of 143360 MiB) found, but this build carries no GPU kernels"},
	}
	for _, c := range cases {
		r := probe(c.load, c.kernels)
		got, err := choose(Spec{Kind: "auto"}, r)
		if err != nil || !got.CPU() || !strings.Contains(got.Reason, c.reason) || strings.Contains(got.Reason, "\n") {
			t.Errorf("%s: auto gave %+v, %v; want the CPU, one line with %q", c.name, got, err, c.reason)
		}
		_, err = choose(Spec{Kind: "cuda"}, r)
		if !errors.Is(err, ErrNoGPU) || !strings.Contains(err.Error(), c.reason) || !strings.HasPrefix(err.Error(), "no usable GPU for cuda: ") {
			t.Errorf("%s: cuda gave %v; want ErrNoGPU with %q", c.name, err, c.reason)
		}
	}
}

func TestChoosePicksGPUs(t *testing.T) {
	d := &fakeDriver{gpus: []GPU{h200(100 << 30), h200(500 << 20), h200(90 << 30)}}
	r := probe(load(d), withKernels)
	ords := func(c Choice) []int {
		var o []int
		for _, g := range c.GPUs {
			o = append(o, g.Ordinal)
		}
		return o
	}
	for spec, want := range map[string]string{"auto": "[0 2]", "cuda": "[0 2]", "cuda:2,0": "[2 0]", "cuda:0": "[0]"} {
		s, _ := ParseSpec(spec)
		c, err := choose(s, r)
		if err != nil || fmt.Sprint(ords(c)) != want || c.Reason != "" {
			t.Errorf("%s: %v (%v), %v; want GPUs %s", spec, ords(c), c.Reason, err, want)
		}
	}
	for spec, msg := range map[string]string{"cuda:1": "GPU 1 (NVIDIA H200) has too little memory", "cuda:0,3": "GPU 3 does not exist: the driver sees 3 (0..2)"} {
		s, _ := ParseSpec(spec)
		if _, err := choose(s, r); !errors.Is(err, ErrNoGPU) || !strings.Contains(err.Error(), msg) {
			t.Errorf("%s: %v; want ErrNoGPU with %q", spec, err, msg)
		}
	}
	if c, err := choose(Spec{Kind: "auto"}, probe(load(&fakeDriver{gpus: []GPU{h200(1 << 20), h200(2 << 20)}}), withKernels)); err != nil ||
		!strings.Contains(c.Reason, "GPU 0 (NVIDIA H200) has too little") || !strings.Contains(c.Reason, "; GPU 1 (NVIDIA H200) has too little") {
		t.Errorf("two small GPUs: %+v, %v; want both named", c, err)
	}
}

// TestChooseCPUAsksNoDriver: --device cpu must work where loading the
// driver would hang or crash, so it never loads it.
func TestChooseCPUAsksNoDriver(t *testing.T) {
	c, err := Choose(Spec{Kind: "cpu"})
	if err != nil || !c.CPU() || c.Reason != "" {
		t.Fatalf("cpu: %+v, %v", c, err)
	}
}

// TestChooseHere runs the real discovery: this build (no cuda tag, or no
// GPU in CI) must fall back with a reason and refuse cuda.
func TestChooseHere(t *testing.T) {
	c, err := Choose(Spec{Kind: "auto"})
	if err != nil || !c.CPU() || c.Reason == "" {
		t.Fatalf("auto here: %+v, %v; want the CPU with a reason (no GPU worker is built)", c, err)
	}
	t.Logf("auto: CPU because %s", c.Reason)
	if _, err := Choose(Spec{Kind: "cuda"}); !errors.Is(err, ErrNoGPU) {
		t.Fatalf("cuda here: %v; want ErrNoGPU", err)
	}
}
