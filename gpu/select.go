// Package gpu finds the NVIDIA GPUs a run may use and says, in one line,
// why it uses the CPU when it does. It calls the CUDA driver API through
// purego (no cgo, no CUDA toolkit at build time) in binaries built with
// -tags cuda; the default build stays a static binary and always uses the
// CPU. docs/gpu.md has the design and what is left to build.
package gpu

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Spec is a parsed --device value or a stage's device: parameter.
type Spec struct {
	// Kind is "auto" (every usable GPU, else the CPU), "cpu", or "cuda"
	// (GPUs required).
	Kind string
	// Ordinals, for "cuda:0,1", are the GPUs asked for; nil means all.
	Ordinals []int
}

// Specs is what ParseSpec accepts, for messages and schemas.
const Specs = "auto, cpu, cuda, or cuda:N[,N...]"

// ParseSpec reads auto, cpu, cuda or cuda:0,1.
func ParseSpec(s string) (Spec, error) {
	switch s {
	case "auto", "cpu", "cuda":
		return Spec{Kind: s}, nil
	}
	list, ok := strings.CutPrefix(s, "cuda:")
	if !ok {
		return Spec{}, fmt.Errorf("%q: expected %s", s, Specs)
	}
	sp := Spec{Kind: "cuda"}
	for _, f := range strings.Split(list, ",") {
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 || n > 1023 {
			return Spec{}, fmt.Errorf("%q: %q is not a GPU ordinal (0, 1, ...); expected %s", s, f, Specs)
		}
		if slices.Contains(sp.Ordinals, n) {
			return Spec{}, fmt.Errorf("%q: GPU %d is listed twice", s, n)
		}
		sp.Ordinals = append(sp.Ordinals, n)
	}
	return sp, nil
}

func (s Spec) String() string {
	if len(s.Ordinals) == 0 {
		return s.Kind
	}
	o := make([]string, len(s.Ordinals))
	for i, n := range s.Ordinals {
		o[i] = strconv.Itoa(n)
	}
	return "cuda:" + strings.Join(o, ",")
}

// GPU is one usable device.
type GPU struct {
	Ordinal      int
	Name         string
	Major, Minor int // compute capability
	Free, Total  int64
}

func (g GPU) String() string {
	return fmt.Sprintf("GPU %d (%s, sm_%d%d, %s free of %s)", g.Ordinal, g.Name, g.Major, g.Minor, mib(g.Free), mib(g.Total))
}

// Choice is where rows are encoded: on GPUs, or on the CPU for Reason.
type Choice struct {
	GPUs   []GPU
	Reason string // set when GPUs is empty and a GPU was allowed
}

// CPU reports whether the choice is the CPU.
func (c Choice) CPU() bool { return len(c.GPUs) == 0 }

// ErrNoGPU is the cause of every refusal of a spec that requires a GPU.
var ErrNoGPU = errors.New("no usable GPU")

// MinFree is the device memory a GPU needs free to be used: a few batches
// of rows in flight on each of its streams, and the kernels' module.
const MinFree = 1 << 30

// MinCapability is the oldest compute capability the PTX targets (sm_70,
// Volta): the driver JITs it for anything newer.
const MinCapability = 70

// Choose resolves a spec against the GPUs of this machine. "cpu" never
// looks for a driver; "auto" falls back to the CPU with a reason; "cuda"
// and "cuda:N" fail (wrapping ErrNoGPU) unless every GPU asked for, or at
// least one for plain "cuda", is usable. Discovery runs once per process.
func Choose(s Spec) (Choice, error) {
	if s.Kind == "cpu" {
		return Choice{}, nil
	}
	probeOnce.Do(func() {
		probed = probe(loadDriver, func(d driver, g GPU) error { return selfCheck(d, g, kernelsFS()) })
	})
	return choose(s, probed)
}

var (
	probeOnce sync.Once
	probed    probeResult
)

// probeResult is what discovery found: every device with why it cannot be
// used (empty when it can), or why there are none.
type probeResult struct {
	devices []probedGPU
	none    string // no driver, no device: the whole reason
}

type probedGPU struct {
	GPU
	unusable string
}

// probe asks the driver about every device; check runs on each device
// that is otherwise usable (the self-check of the kernels on it).
func probe(load func() (driver, error), check func(driver, GPU) error) probeResult {
	d, err := load()
	if err != nil {
		return probeResult{none: err.Error()}
	}
	if err := d.Init(); err != nil {
		var cr *cuResult
		if errors.As(err, &cr) && cr.code == cuErrorNoDevice {
			return probeResult{none: "no CUDA device (the driver sees none)"}
		}
		if errors.As(err, &cr) && cr.code == cuErrorInsufficientDrv {
			return probeResult{none: "the CUDA driver is too old: " + err.Error()}
		}
		return probeResult{none: "the CUDA driver failed to start: " + err.Error()}
	}
	n, err := d.Count()
	if err != nil {
		return probeResult{none: "counting CUDA devices: " + err.Error()}
	}
	if n == 0 {
		return probeResult{none: "no CUDA device (the driver sees none)"}
	}
	var r probeResult
	for i := range n {
		r.devices = append(r.devices, describe(d, i, check))
	}
	return r
}

// describe reads one device and says why it cannot be used, if it cannot.
func describe(d driver, i int, check func(driver, GPU) error) probedGPU {
	p := probedGPU{GPU: GPU{Ordinal: i}}
	var err error
	if p.Name, err = d.Name(i); err != nil {
		p.unusable = fmt.Sprintf("GPU %d: %v", i, err)
		return p
	}
	if p.Major, p.Minor, err = d.Capability(i); err != nil {
		p.unusable = fmt.Sprintf("GPU %d (%s): %v", i, p.Name, err)
		return p
	}
	if cc := 10*p.Major + p.Minor; cc < MinCapability {
		p.unusable = fmt.Sprintf("GPU %d (%s) has compute capability %d.%d; the kernels need %d.%d or newer", i, p.Name, p.Major, p.Minor, MinCapability/10, MinCapability%10)
		return p
	}
	if p.Free, p.Total, err = d.FreeMem(i); err != nil {
		p.unusable = fmt.Sprintf("GPU %d (%s): %v", i, p.Name, err)
		return p
	}
	if p.Free < MinFree {
		p.unusable = fmt.Sprintf("GPU %d (%s) has too little memory free: %s of %s, needs %s", i, p.Name, mib(p.Free), mib(p.Total), mib(MinFree))
		return p
	}
	if err := check(d, p.GPU); err != nil {
		p.unusable = fmt.Sprintf("%s found, but %v", p.GPU, err)
	}
	return p
}

// choose applies a spec to what discovery found.
func choose(s Spec, r probeResult) (Choice, error) {
	refuse := func(why string) (Choice, error) {
		if s.Kind == "auto" {
			return Choice{Reason: why}, nil
		}
		return Choice{}, fmt.Errorf("%w for %s: %s", ErrNoGPU, s, why)
	}
	if r.none != "" {
		return refuse(r.none)
	}
	var c Choice
	if len(s.Ordinals) > 0 {
		for _, o := range s.Ordinals {
			if o >= len(r.devices) {
				return refuse(fmt.Sprintf("GPU %d does not exist: the driver sees %d (0..%d)", o, len(r.devices), len(r.devices)-1))
			}
			if p := r.devices[o]; p.unusable != "" {
				return refuse(p.unusable)
			}
			c.GPUs = append(c.GPUs, r.devices[o].GPU)
		}
		return c, nil
	}
	var why []string
	for _, p := range r.devices {
		if p.unusable != "" {
			why = append(why, p.unusable)
			continue
		}
		c.GPUs = append(c.GPUs, p.GPU)
	}
	if len(c.GPUs) == 0 {
		return refuse(strings.Join(why, "; "))
	}
	return c, nil
}

func mib(n int64) string { return fmt.Sprintf("%d MiB", n>>20) }
