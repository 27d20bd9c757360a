package gpu

import (
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"unsafe"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// mergeArgs are lora_delta's launch arguments (kernels/lora.cu), kept in
// the slot so their addresses are stable while the driver reads them.
type mergeArgs struct {
	acc, l, r     uint64
	rows, cols    int64
	rank          int32
	scale, weight float32
	round, apply  int32
	params        [10]unsafe.Pointer
}

func (a *mergeArgs) init() {
	a.params = [10]unsafe.Pointer{unsafe.Pointer(&a.acc), unsafe.Pointer(&a.l), unsafe.Pointer(&a.r),
		unsafe.Pointer(&a.rows), unsafe.Pointer(&a.cols), unsafe.Pointer(&a.rank), unsafe.Pointer(&a.scale),
		unsafe.Pointer(&a.weight), unsafe.Pointer(&a.round), unsafe.Pointer(&a.apply)}
}

// roundCodes are lora.cu's ROUND_*; any other dtype rounds as float32, as
// the CPU merge's roundTo does.
var roundCodes = map[tensor.DType]int32{tensor.F16: 1, tensor.BF16: 2}

// Merge decodes the rows to float32 on the GPU, adds each delta with
// lora_delta, and encodes the sums, in batches that fit a slot: the rows,
// their float32 sums, and every delta's factors for the batch.
func (p *Pool) Merge(from, to tensor.DType, cols, n int64, in []byte, deltas []tensor.LoRA, dst []byte) (bool, error) {
	dec, enc := kernelName(from, tensor.F32), kernelName(tensor.F32, to)
	if (dec == "" && from != tensor.F32) || (enc == "" && to != tensor.F32) || cols <= 0 {
		return false, nil
	}
	if len(p.parts) > 0 {
		return p.parts[p.turn.Add(1)%uint64(len(p.parts))].Merge(from, to, cols, n, in, deltas, dst)
	}
	inRB, _ := from.RowBytes(cols)
	outRB, err := to.RowBytes(cols)
	if err != nil || inRB == 0 {
		return false, nil
	}
	var rfloats, ranks int64
	for _, d := range deltas {
		if int64(len(d.R)) != int64(d.Rank)*cols || int64(len(d.L)) != n*int64(d.Rank) {
			return false, fmt.Errorf("LoRA factors of %d and %d values for %d rows of %d at rank %d", len(d.L), len(d.R), n, cols, d.Rank)
		}
		rfloats += int64(len(d.R))
		ranks += int64(d.Rank)
	}
	per := min(p.slotBytes/inRB, p.slotBytes/outRB, p.slotBytes/(4*cols))
	if ranks > 0 {
		per = min(per, (p.slotBytes-4*rfloats)/(4*ranks))
	}
	if per <= 0 {
		return false, nil // factors or a row larger than a slot: the CPU merges
	}
	if err := p.start(); err != nil {
		return false, err
	}
	for r := int64(0); r < n; r += per {
		m := min(per, n-r)
		s := <-p.slots
		err := s.merge(p.api, dec, enc, cols, r, m, in[r*inRB:(r+m)*inRB], deltas, dst[r*outRB:(r+m)*outRB])
		p.slots <- s
		if err != nil {
			return false, fmt.Errorf("GPU %d (%s), LoRA merge: %w", s.c.Ordinal, s.c.Name, err)
		}
	}
	return true, nil
}

// merge runs one batch, rows [r, r+m) of the call, on the slot's stream.
func (s *slot) merge(api cudaAPI, dec, enc string, cols, r, m int64, in []byte, deltas []tensor.LoRA, out []byte) error {
	fns := map[string]uintptr{}
	for _, name := range []string{dec, enc, "lora_delta"} {
		if name == "" {
			continue
		}
		fn, ok := s.c.fns[name]
		if !ok {
			return fmt.Errorf("kernel %s is not in the loaded PTX", name)
		}
		fns[name] = fn
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := api.SetCurrent(s.c.ctx); err != nil {
		return err
	}
	elems := m * cols
	grid := func(n int64) uint32 { return uint32((n + threadsPerCTA - 1) / threadsPerCTA) }
	copy(s.hin, in)
	if dec == "" { // float32 rows are their own sums
		if err := api.CopyIn(s.dacc, s.hin[:len(in)], s.stream); err != nil {
			return err
		}
	} else {
		if err := api.CopyIn(s.din, s.hin[:len(in)], s.stream); err != nil {
			return err
		}
		s.in, s.out, s.nblocks = s.din, s.dacc, elems
		if err := api.Launch(fns[dec], grid(elems), threadsPerCTA, s.stream, s.params[:]); err != nil {
			return err
		}
	}
	// Every delta's factors for the batch, packed once into the pinned
	// buffer (L rows, then R) and copied in one go.
	var at int64
	offs := make([][2]int64, len(deltas))
	for i, d := range deltas {
		l := d.L[r*int64(d.Rank) : (r+m)*int64(d.Rank)]
		offs[i][0] = at
		at += putFloats(s.hfac[at:], l)
		offs[i][1] = at
		at += putFloats(s.hfac[at:], d.R)
	}
	if at > 0 {
		if err := api.CopyIn(s.dfac, s.hfac[:at], s.stream); err != nil {
			return err
		}
	}
	for i, d := range deltas {
		a := &s.margs
		a.acc, a.l, a.r = s.dacc, s.dfac+uint64(offs[i][0]), s.dfac+uint64(offs[i][1])
		a.rows, a.cols, a.rank = m, cols, int32(d.Rank)
		a.scale, a.weight, a.round, a.apply = d.Scale, d.Weight, roundCodes[d.Round], 0
		if d.Weighted {
			a.apply = 1
		}
		if err := api.Launch(fns["lora_delta"], grid(elems), threadsPerCTA, s.stream, a.params[:]); err != nil {
			return err
		}
	}
	src := s.dacc
	if enc != "" {
		s.in, s.out, s.nblocks = s.dacc, s.dout, elems/to(enc).Info().BlockSize
		if err := api.Launch(fns[enc], grid(s.nblocks), threadsPerCTA, s.stream, s.params[:]); err != nil {
			return err
		}
		src = s.dout
	}
	if err := api.CopyOut(s.hout[:len(out)], src, s.stream); err != nil {
		return err
	}
	if err := api.Sync(s.stream); err != nil {
		return err
	}
	copy(out, s.hout[:len(out)])
	return nil
}

// to is the dtype an encoder kernel writes (q4_k_from_f32: Q4_K).
func to(kernel string) tensor.DType {
	for d, n := range kernelDTypes {
		if len(kernel) > len(n) && kernel[:len(n)+1] == n+"_" {
			return d
		}
	}
	return tensor.F32
}

// putFloats writes v little-endian into b, as the GPU reads float32s, and
// returns the bytes written.
func putFloats(b []byte, v []float32) int64 {
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return 4 * int64(len(v))
}
