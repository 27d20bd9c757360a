package tensor

import (
	"fmt"
	"math"
	"sync"
)

// Convert returns a Source that re-encodes src's rows (dtype from, row length
// rowLen) as dtype to, through float32. Conversion between equal dtypes is the
// identity and returns src itself.
func Convert(src Source, from, to DType, rowLen int64) (Source, error) {
	if from == to {
		return src, nil
	}
	if !HasCodec(from) {
		return nil, fmt.Errorf("cannot decode %v", from)
	}
	if !HasCodec(to) {
		return nil, fmt.Errorf("cannot encode %v", to)
	}
	if _, err := to.RowBytes(rowLen); err != nil {
		return nil, err
	}
	inRB, err := from.RowBytes(rowLen)
	if err != nil {
		return nil, err
	}
	outRB, _ := to.RowBytes(rowLen)
	return &converted{src: src, from: from, to: to, rowLen: rowLen, inRB: inRB, outRB: outRB}, nil
}

type converted struct {
	src                 Source
	from, to            DType
	rowLen, inRB, outRB int64
	dev                 Device // nil: the CPU
}

// F32Pool recycles float32 row scratch: conversion runs once per chunk on every
// worker, and fresh allocations there dominate the garbage of a run.
var F32Pool = sync.Pool{New: func() any { s := make([]float32, 0); return &s }}

// GetF32 returns a scratch slice of n float32s from F32Pool.
func GetF32(n int) *[]float32 {
	p := F32Pool.Get().(*[]float32)
	if cap(*p) < n {
		*p = make([]float32, n)
	}
	*p = (*p)[:n]
	return p
}

func (c *converted) ReadRows(row, n int64, dst []byte) error { return ReadDerived(c, row, n, dst) }

func (c *converted) Input() (Source, int64) { return c.src, c.inRB }

func (c *converted) Derive(row, n int64, in, dst []byte) error {
	if c.dev != nil {
		done, err := c.dev.Encode(c.from, c.to, c.rowLen, n, in, dst)
		if err != nil {
			return fmt.Errorf("%s: rows %d..%d on %s: %w", c.src.Describe(), row, row+n, c.dev.Name(), err)
		}
		if done {
			return nil
		}
	}
	f := GetF32(int(c.rowLen))
	defer F32Pool.Put(f)
	for r := int64(0); r < n; r++ {
		if err := c.decode(in[r*c.inRB:(r+1)*c.inRB], *f); err != nil {
			return fmt.Errorf("%s: row %d: %w", c.src.Describe(), row+r, err)
		}
		if err := FromFloat32(c.to, *f, dst[r*c.outRB:(r+1)*c.outRB]); err != nil {
			return fmt.Errorf("%s: row %d: %w", c.src.Describe(), row+r, err)
		}
	}
	return nil
}

// decode is ToFloat32 with a fast path for BF16, the dtype of most
// checkpoints: its rows are decoded once per quantized byte written, and the
// general decoder's per-element bounds checks cost a fifth of a Q8_0 run.
func (c *converted) decode(src []byte, dst []float32) error {
	if c.from != BF16 || len(src) != 2*len(dst) {
		return ToFloat32(c.from, src, dst)
	}
	n := bf16Decode(src, dst) // AVX2 where there is one
	src, dst = src[2*n:], dst[n:]
	for len(dst) >= 4 {
		s, d := src[:8:8], dst[:4:4]
		d[0] = math.Float32frombits(uint32(s[0])<<16 | uint32(s[1])<<24)
		d[1] = math.Float32frombits(uint32(s[2])<<16 | uint32(s[3])<<24)
		d[2] = math.Float32frombits(uint32(s[4])<<16 | uint32(s[5])<<24)
		d[3] = math.Float32frombits(uint32(s[6])<<16 | uint32(s[7])<<24)
		src, dst = src[8:], dst[4:]
	}
	for i := range dst {
		dst[i] = math.Float32frombits(uint32(src[2*i])<<16 | uint32(src[2*i+1])<<24)
	}
	return nil
}

func (c *converted) Describe() string {
	return fmt.Sprintf("%s | %v->%v", c.src.Describe(), c.from, c.to)
}
