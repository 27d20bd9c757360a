package gpu

import (
	"fmt"
	"io/fs"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// Sizes of the worker's buffers. Each GPU has streamsPerGPU streams, each
// with three pinned buffers of slotBytes on the host (rows in, rows out,
// LoRA factors) and four on the device (those and a merge's float32 sums):
// 96 MiB pinned and 128 MiB of device memory per GPU, whatever the model.
// Several executor workers hand batches at once, so while one stream
// copies in, another runs its kernel and a third copies out.
const (
	streamsPerGPU = 4
	slotBytes     = 8 << 20
	threadsPerCTA = 128
)

// kernelDTypes names the dtypes in kernel names (q4_k_from_bf16).
var kernelDTypes = map[tensor.DType]string{
	tensor.F32: "f32", tensor.F16: "f16", tensor.BF16: "bf16",
	tensor.Q4_0: "q4_0", tensor.Q4_1: "q4_1", tensor.Q5_0: "q5_0", tensor.Q5_1: "q5_1", tensor.Q8_0: "q8_0",
	tensor.Q2_K: "q2_k", tensor.Q3_K: "q3_k", tensor.Q4_K: "q4_k", tensor.Q5_K: "q5_k", tensor.Q6_K: "q6_k",
}

// kernelName is the encoder for a pair, or "" when no kernel does it.
func kernelName(from, to tensor.DType) string {
	if from == to || (from != tensor.F32 && from != tensor.F16 && from != tensor.BF16) {
		return ""
	}
	if kernelDTypes[to] == "" {
		return ""
	}
	return kernelDTypes[to] + "_from_" + kernelDTypes[from]
}

// card is one GPU as the worker holds it: its context and kernels.
type card struct {
	GPU
	ctx uintptr
	fns map[string]uintptr
}

// slot is one stream with its buffers, lent to one batch at a time. The
// launch arguments live here, on the heap, where the driver reads them.
type slot struct {
	c               *card
	stream          uintptr
	hin, hout, hfac []byte
	din, dout       uint64
	dacc, dfac      uint64 // a merge's float32 sums and LoRA factors
	in, out         uint64
	nblocks         int64
	params          [3]unsafe.Pointer
	margs           mergeArgs
}

// Pool is the GPU worker over one or more GPUs: a tensor.Device whose
// batches go to whichever stream of whichever GPU is free, so the chunks
// of a run spread over every GPU chosen.
type Pool struct {
	api       cudaAPI
	gpus      []GPU
	ptx       fs.FS
	slotBytes int64
	slots     chan *slot
	once      sync.Once
	err       error
	parts     []*Pool       // a pool over several GPUs: one per GPU
	turn      atomic.Uint64 // the part the next batch goes to
}

var _ tensor.Device = (*Pool)(nil)

func newPool(api cudaAPI, gpus []GPU, ptx fs.FS) *Pool {
	return &Pool{api: api, gpus: gpus, ptx: ptx, slotBytes: slotBytes}
}

// Name lists the GPUs: cuda:0,1.
func (p *Pool) Name() string {
	o := make([]string, len(p.gpus))
	for i, g := range p.gpus {
		o[i] = fmt.Sprint(g.Ordinal)
	}
	return "cuda:" + strings.Join(o, ",")
}

// Memory sums what the GPUs have free and in all.
func (p *Pool) Memory() (free, total int64) {
	for _, g := range p.gpus {
		f, t, err := p.api.FreeMem(g.Ordinal)
		if err == nil {
			free, total = free+f, total+t
		}
	}
	return free, total
}

// start loads the kernels on every GPU and makes its streams and buffers,
// once, at the first batch: a plan (or --dry-run) costs no device memory.
func (p *Pool) start() error {
	p.once.Do(func() {
		p.slots = make(chan *slot, streamsPerGPU*len(p.gpus))
		for _, g := range p.gpus {
			if err := p.startCard(g); err != nil {
				p.err = fmt.Errorf("starting GPU %d (%s): %w", g.Ordinal, g.Name, err)
				return
			}
		}
	})
	return p.err
}

func (p *Pool) startCard(g GPU) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	c := &card{GPU: g, fns: map[string]uintptr{}}
	var err error
	if c.ctx, err = p.api.Context(g.Ordinal); err != nil {
		return err
	}
	if err := p.api.SetCurrent(c.ctx); err != nil {
		return err
	}
	files, err := fs.Glob(p.ptx, "kernels/*.ptx")
	if err != nil || len(files) == 0 {
		return fmt.Errorf("no kernels in this build (%v)", err)
	}
	for _, f := range files {
		text, err := fs.ReadFile(p.ptx, f)
		if err != nil {
			return err
		}
		mod, err := p.api.LoadModule(text)
		if err != nil {
			return fmt.Errorf("loading %s: %w", f, err)
		}
		for _, name := range entryPoints(text) {
			if c.fns[name], err = p.api.Function(mod, name); err != nil {
				return fmt.Errorf("%s: kernel %s: %w", f, name, err)
			}
		}
	}
	for range streamsPerGPU {
		s := &slot{c: c}
		if s.stream, err = p.api.NewStream(); err != nil {
			return err
		}
		if s.hin, err = p.api.HostAlloc(p.slotBytes); err != nil {
			return err
		}
		if s.hout, err = p.api.HostAlloc(p.slotBytes); err != nil {
			return err
		}
		if s.din, err = p.api.Alloc(p.slotBytes); err != nil {
			return err
		}
		if s.dout, err = p.api.Alloc(p.slotBytes); err != nil {
			return err
		}
		if s.hfac, err = p.api.HostAlloc(p.slotBytes); err != nil {
			return err
		}
		if s.dacc, err = p.api.Alloc(p.slotBytes); err != nil {
			return err
		}
		if s.dfac, err = p.api.Alloc(p.slotBytes); err != nil {
			return err
		}
		s.margs.init()
		s.params = [3]unsafe.Pointer{unsafe.Pointer(&s.in), unsafe.Pointer(&s.out), unsafe.Pointer(&s.nblocks)}
		p.slots <- s
	}
	return nil
}

// entryPoints lists a PTX text's kernels (".visible .entry NAME(").
func entryPoints(ptx []byte) []string {
	var names []string
	for _, l := range strings.Split(string(ptx), "\n") {
		if rest, ok := strings.CutPrefix(l, ".visible .entry "); ok {
			names = append(names, strings.TrimSuffix(rest, "("))
		}
	}
	return names
}

// Encode runs the pair's kernel over the rows, in batches that fit a slot.
func (p *Pool) Encode(from, to tensor.DType, rowLen, n int64, in, dst []byte) (bool, error) {
	name := kernelName(from, to)
	if name == "" {
		return false, nil
	}
	if len(p.parts) > 0 {
		return p.parts[p.turn.Add(1)%uint64(len(p.parts))].Encode(from, to, rowLen, n, in, dst)
	}
	inRB, err1 := from.RowBytes(rowLen)
	outRB, err2 := to.RowBytes(rowLen)
	if err1 != nil || err2 != nil || inRB > p.slotBytes || outRB > p.slotBytes {
		return false, nil // a row larger than a slot: the CPU takes it
	}
	if int64(len(in)) != n*inRB || int64(len(dst)) != n*outRB {
		return false, fmt.Errorf("%d rows of %v need %d bytes in and %d out, given %d and %d", n, to, n*inRB, n*outRB, len(in), len(dst))
	}
	if err := p.start(); err != nil {
		return false, err
	}
	per := min(p.slotBytes/inRB, p.slotBytes/outRB)
	perBlock := to.Info().BlockSize
	for r := int64(0); r < n; r += per {
		m := min(per, n-r)
		s := <-p.slots
		err := s.run(p.api, name, m*rowLen/perBlock, in[r*inRB:(r+m)*inRB], dst[r*outRB:(r+m)*outRB])
		p.slots <- s
		if err != nil {
			return false, fmt.Errorf("GPU %d (%s), kernel %s: %w", s.c.Ordinal, s.c.Name, name, err)
		}
	}
	return true, nil
}

// run copies one batch in, runs the kernel and copies the result out, all
// on the slot's stream, and waits for it. The context is made current on
// this OS thread for the calls, as the driver keeps it per thread.
func (s *slot) run(api cudaAPI, name string, nblocks int64, in, out []byte) error {
	fn, ok := s.c.fns[name]
	if !ok {
		return fmt.Errorf("not in the loaded PTX")
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := api.SetCurrent(s.c.ctx); err != nil {
		return err
	}
	copy(s.hin, in)
	s.in, s.out, s.nblocks = s.din, s.dout, nblocks
	grid := (nblocks + threadsPerCTA - 1) / threadsPerCTA
	if err := api.CopyIn(s.din, s.hin[:len(in)], s.stream); err != nil {
		return err
	}
	if err := api.Launch(fn, uint32(grid), threadsPerCTA, s.stream, s.params[:]); err != nil {
		return err
	}
	if err := api.CopyOut(s.hout[:len(out)], s.dout, s.stream); err != nil {
		return err
	}
	if err := api.Sync(s.stream); err != nil {
		return err
	}
	copy(out, s.hout[:len(out)])
	return nil
}

// joinPools makes one worker of started single-GPU ones: batches go to
// them in turn, each waiting for a free stream of its own GPU.
func joinPools(parts []*Pool) *Pool {
	if len(parts) == 1 {
		return parts[0]
	}
	j := &Pool{api: parts[0].api, slotBytes: parts[0].slotBytes, parts: parts}
	for _, p := range parts {
		j.gpus = append(j.gpus, p.gpus...)
	}
	return j
}
