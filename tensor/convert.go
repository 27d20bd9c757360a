package tensor

import (
	"fmt"
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

func (c *converted) ReadRows(row, n int64, dst []byte) error {
	in := make([]byte, n*c.inRB)
	if err := c.src.ReadRows(row, n, in); err != nil {
		return err
	}
	f := GetF32(int(c.rowLen))
	defer F32Pool.Put(f)
	for r := int64(0); r < n; r++ {
		if err := ToFloat32(c.from, in[r*c.inRB:(r+1)*c.inRB], *f); err != nil {
			return fmt.Errorf("%s: row %d: %w", c.src.Describe(), row+r, err)
		}
		if err := FromFloat32(c.to, *f, dst[r*c.outRB:(r+1)*c.outRB]); err != nil {
			return fmt.Errorf("%s: row %d: %w", c.src.Describe(), row+r, err)
		}
	}
	return nil
}

func (c *converted) Describe() string {
	return fmt.Sprintf("%s | %v->%v", c.src.Describe(), c.from, c.to)
}
