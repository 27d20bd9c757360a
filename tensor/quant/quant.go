// Package quant quantizes float32 rows into ggml's block types and back,
// byte for byte as ggml's reference quantizers do (the code llama-quantize
// runs when it has no importance matrix). Every codec works on one block at a
// time with fixed-size scratch, so a row costs no allocation and rows can be
// quantized concurrently.
//
// Matching ggml bit for bit means computing in float32 exactly where ggml
// does: products are wrapped in explicit float32 conversions so that the Go
// compiler may not fuse them into FMA instructions, sums run in ggml's order,
// and rounding uses ggml's own tricks (nearestInt, fp16).
package quant

import (
	"fmt"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// codec quantizes and dequantizes one block: x holds blockSize floats, b
// blockBytes bytes. quant is nil for types this package only decodes.
type codec struct {
	quant   func(x []float32, b []byte)
	dequant func(b []byte, x []float32)
}

var codecs = map[tensor.DType]codec{
	tensor.Q4_0: {quantQ4_0, dequantQ4_0},
	tensor.Q4_1: {quantQ4_1, dequantQ4_1},
	tensor.Q5_0: {quantQ5_0, dequantQ5_0},
	tensor.Q5_1: {quantQ5_1, dequantQ5_1},
	tensor.Q8_0: {quantQ8_0, dequantQ8_0},
	tensor.Q2_K: {quantQ2_K, dequantQ2_K},
	tensor.Q3_K: {quantQ3_K, dequantQ3_K},
	tensor.Q4_K: {quantQ4_K, dequantQ4_K},
	tensor.Q5_K: {quantQ5_K, dequantQ5_K},
	tensor.Q6_K: {quantQ6_K, dequantQ6_K},
	tensor.Q8_K: {quantQ8_K, dequantQ8_K},

	tensor.MXFP4:  {quantMXFP4, dequantMXFP4},
	tensor.TQ1_0:  {quantTQ1_0, dequantTQ1_0},
	tensor.TQ2_0:  {quantTQ2_0, dequantTQ2_0},
	tensor.Q1_0:   {quantQ1_0, dequantQ1_0},
	tensor.Q2_0:   {quantQ2_0, dequantQ2_0},
	tensor.IQ4_NL: {nil, dequantIQ4NL},
	tensor.IQ4_XS: {nil, dequantIQ4XS},

	// Quantized by whole rows only (rowQuantizers).
	tensor.IQ2_XXS: {nil, dequantIQ2XXS},
	tensor.IQ2_XS:  {nil, dequantIQ2XS},
	tensor.IQ2_S:   {nil, dequantIQ2S},
	tensor.IQ3_XXS: {nil, dequantIQ3XXS},
	tensor.IQ3_S:   {nil, dequantIQ3S},
	tensor.IQ1_S:   {nil, dequantIQ1S},
	tensor.IQ1_M:   {nil, dequantIQ1M},
}

// init registers the types this package can both decode and encode, so that
// tensor.Convert can quantize. Decode-only types stay out: the hook promises
// both directions, and a plan must not accept an encoding it cannot run.
func init() {
	for t, c := range codecs {
		if c.quant == nil {
			continue
		}
		tensor.RegisterBlockCodec(t, tensor.BlockCodec{
			Decode: func(src []byte, dst []float32) error { return Dequantize(t, src, dst) },
			Encode: func(src []float32, dst []byte) error { return Quantize(t, src, dst) },
		})
	}
}

// Supported reports whether t can be both quantized (by QuantizeRows; by
// Quantize too unless t is a row-only type) and dequantized here.
func Supported(t tensor.DType) bool {
	c, ok := codecs[t]
	_, byRow := rowQuantizers[t]
	return ok && (c.quant != nil || byRow)
}

// RowOnly reports whether t is quantized only by whole rows (QuantizeRows):
// the IQ types, whose ggml quantizers have no block-local equivalent of
// what llama-quantize writes. tensor.Convert cannot produce them.
func RowOnly(t tensor.DType) bool {
	_, byRow := rowQuantizers[t]
	return byRow && codecs[t].quant == nil
}

// NeedsImportance reports whether ggml refuses to quantize t without
// importance weights (ggml_quantize_requires_imatrix).
func NeedsImportance(t tensor.DType) bool {
	switch t {
	case tensor.IQ2_XXS, tensor.IQ2_XS, tensor.IQ1_S:
		return true
	}
	return false
}

// CanDequantize reports whether rows of t can be decoded to float32 here.
func CanDequantize(t tensor.DType) bool {
	_, ok := codecs[t]
	return ok
}

// Quantize encodes src, a whole number of blocks of t, into dst, which must be
// exactly the encoded size. Blocks are independent, so src may hold one row or
// many.
func Quantize(t tensor.DType, src []float32, dst []byte) error {
	c, ok := codecs[t]
	if !ok || c.quant == nil {
		if RowOnly(t) {
			return fmt.Errorf("quant: %v is quantized by whole rows (QuantizeRows), not block by block", t)
		}
		return fmt.Errorf("quant: no quantizer for %v", t)
	}
	bs, bb, err := blocks(t, len(src), len(dst))
	if err != nil {
		return fmt.Errorf("quant: quantizing to %v: %w", t, err)
	}
	for i, j := 0, 0; i < len(src); i, j = i+bs, j+bb {
		c.quant(src[i:i+bs:i+bs], dst[j:j+bb:j+bb])
	}
	return nil
}

// Dequantize decodes src, a whole number of blocks of t, into dst, which must
// hold exactly the block elements. It never fails on the block contents: every
// byte pattern decodes to some float32 values, as in ggml.
func Dequantize(t tensor.DType, src []byte, dst []float32) error {
	c, ok := codecs[t]
	if !ok {
		return fmt.Errorf("quant: no dequantizer for %v", t)
	}
	bs, bb, err := blocks(t, len(dst), len(src))
	if err != nil {
		return fmt.Errorf("quant: dequantizing %v: %w", t, err)
	}
	for i, j := 0, 0; i < len(dst); i, j = i+bs, j+bb {
		c.dequant(src[j:j+bb:j+bb], dst[i:i+bs:i+bs])
	}
	return nil
}

// blocks checks that n elements are whole blocks of t encoded in exactly
// nbytes, and returns the block size and block bytes.
func blocks(t tensor.DType, n, nbytes int) (int, int, error) {
	in := t.Info()
	bs, bb := int(in.BlockSize), int(in.BlockBytes)
	if n%bs != 0 {
		return 0, 0, fmt.Errorf("%d elements are not a whole number of %d-element blocks", n, bs)
	}
	if want := n / bs * bb; nbytes != want {
		return 0, 0, fmt.Errorf("%d elements take %d bytes, buffer has %d", n, want, nbytes)
	}
	return bs, bb, nil
}

// rowQuantizers holds, per type, ggml's quantize_<type>(src, dst, nrow,
// n_per_row, quant_weights) for one row: x is the row, w its importance
// weight per column (an imatrix entry, len(x) values) or nil, b the row's
// encoded bytes. Some types need the whole row (Q4_0's importance search
// scales by the row's mean square), and the IQ types have no block-local
// reference at all, so weighted and IQ quantization goes row by row.
//
// An entry must do with w == nil exactly what ggml does with a NULL
// imatrix (for the legacy and K types that is the block reference
// quantizer). Types without an entry ignore the imatrix, as ggml's Q8_0,
// Q1_0, Q2_0, TQ1_0, TQ2_0 and MXFP4 do, and are encoded by their block codec.
// Entries are added by init functions of the files that implement them.
var rowQuantizers = map[tensor.DType]func(x, w []float32, b []byte){}

// QuantizeRows encodes src, whole rows of n columns, into dst (exactly their
// encoded size) as llama-quantize does with importance weights w (n values
// shared by every row, or nil for none).
func QuantizeRows(t tensor.DType, src []float32, n int, w []float32, dst []byte) error {
	if w != nil && len(w) != n {
		return fmt.Errorf("quant: %v rows of %d columns given %d importance weights", t, n, len(w))
	}
	rq, ok := rowQuantizers[t]
	if !ok {
		return Quantize(t, src, dst)
	}
	if w == nil && NeedsImportance(t) {
		return fmt.Errorf("quant: %v needs importance weights (an imatrix), as in ggml", t)
	}
	if n <= 0 || len(src)%n != 0 {
		return fmt.Errorf("quant: %d values are not whole rows of %d", len(src), n)
	}
	in := t.Info()
	bs, bb := int(in.BlockSize), int(in.BlockBytes)
	if n%bs != 0 {
		return fmt.Errorf("quant: quantizing to %v: rows of %d are not whole %d-element blocks", t, n, bs)
	}
	rb := n / bs * bb
	if len(dst) != len(src)/n*rb {
		return fmt.Errorf("quant: quantizing to %v: %d rows take %d bytes, buffer has %d", t, len(src)/n, len(src)/n*rb, len(dst))
	}
	for i, j := 0, 0; i < len(src); i, j = i+n, j+rb {
		rq(src[i:i+n:i+n], w, dst[j:j+rb:j+rb])
	}
	return nil
}
