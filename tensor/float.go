package tensor

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/x448/float16"
)

// BlockCodec decodes and encodes whole rows of a block-quantized type. The
// quant package registers one per type, so that conversion here needs no
// import of it (and no import cycle).
type BlockCodec struct {
	Decode func(src []byte, dst []float32) error
	Encode func(src []float32, dst []byte) error
}

var blockCodecs = map[DType]BlockCodec{}

// RegisterBlockCodec installs the codec for a quantized dtype.
func RegisterBlockCodec(d DType, c BlockCodec) { blockCodecs[d] = c }

// HasCodec reports whether rows of d can be decoded to and encoded from float32.
func HasCodec(d DType) bool {
	switch d {
	case F32, F16, BF16, F64, F8E4M3, F8E5M2, I8, I16, I32, I64, U8, U16, U32, U64, Bool:
		return true
	}
	_, ok := blockCodecs[d]
	return ok
}

// ToFloat32 decodes len(dst) elements of dtype d from src.
func ToFloat32(d DType, src []byte, dst []float32) error {
	if c, ok := blockCodecs[d]; ok {
		return c.Decode(src, dst)
	}
	n := len(dst)
	if want, _ := d.RowBytes(int64(n)); int64(len(src)) != want || want == 0 && n != 0 {
		return fmt.Errorf("decoding %d %v elements from %d bytes", n, d, len(src))
	}
	le := binary.LittleEndian
	switch d {
	case F32:
		for i := range dst {
			dst[i] = math.Float32frombits(le.Uint32(src[4*i:]))
		}
	case F16:
		for i := range dst {
			dst[i] = float16.Frombits(le.Uint16(src[2*i:])).Float32()
		}
	case BF16:
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(le.Uint16(src[2*i:])) << 16)
		}
	case F64:
		for i := range dst {
			dst[i] = float32(math.Float64frombits(le.Uint64(src[8*i:])))
		}
	case F8E4M3:
		for i := range dst {
			dst[i] = f8e4m3ToF32(src[i])
		}
	case F8E5M2:
		for i := range dst {
			dst[i] = float16.Frombits(uint16(src[i]) << 8).Float32()
		}
	case I8:
		for i := range dst {
			dst[i] = float32(int8(src[i]))
		}
	case U8, Bool:
		for i := range dst {
			dst[i] = float32(src[i])
		}
	case I16:
		for i := range dst {
			dst[i] = float32(int16(le.Uint16(src[2*i:])))
		}
	case U16:
		for i := range dst {
			dst[i] = float32(le.Uint16(src[2*i:]))
		}
	case I32:
		for i := range dst {
			dst[i] = float32(int32(le.Uint32(src[4*i:])))
		}
	case U32:
		for i := range dst {
			dst[i] = float32(le.Uint32(src[4*i:]))
		}
	case I64:
		for i := range dst {
			dst[i] = float32(int64(le.Uint64(src[8*i:])))
		}
	case U64:
		for i := range dst {
			dst[i] = float32(le.Uint64(src[8*i:]))
		}
	default:
		return fmt.Errorf("no decoder for %v", d)
	}
	return nil
}

// FromFloat32 encodes src as dtype d into dst. F16 and BF16 round to nearest
// even, as numpy's astype and ggml's converters do.
func FromFloat32(d DType, src []float32, dst []byte) error {
	if c, ok := blockCodecs[d]; ok {
		return c.Encode(src, dst)
	}
	if want, _ := d.RowBytes(int64(len(src))); int64(len(dst)) != want {
		return fmt.Errorf("encoding %d %v elements into %d bytes", len(src), d, len(dst))
	}
	le := binary.LittleEndian
	switch d {
	case F32:
		for i, v := range src {
			le.PutUint32(dst[4*i:], math.Float32bits(v))
		}
	case F16:
		for i, v := range src {
			le.PutUint16(dst[2*i:], float16.Fromfloat32(v).Bits())
		}
	case BF16:
		for i, v := range src {
			le.PutUint16(dst[2*i:], BF16Bits(v))
		}
	case F64:
		for i, v := range src {
			le.PutUint64(dst[8*i:], math.Float64bits(float64(v)))
		}
	default:
		return fmt.Errorf("no encoder for %v", d)
	}
	return nil
}

// BF16Bits rounds a float32 to bfloat16 (nearest even; NaN stays a quiet NaN),
// the rounding of ggml's ggml_compute_fp32_to_bf16 and gguf-py.
func BF16Bits(v float32) uint16 {
	u := math.Float32bits(v)
	if u&0x7fffffff > 0x7f800000 {
		return uint16(u>>16) | 64
	}
	return uint16((u + (0x7fff + (u>>16)&1)) >> 16)
}

func f8e4m3ToF32(b byte) float32 {
	sign := float32(1)
	if b&0x80 != 0 {
		sign = -1
	}
	exp := int(b>>3) & 0xf
	man := float32(b & 7)
	switch {
	case exp == 0xf && b&7 == 7:
		return float32(math.NaN())
	case exp == 0:
		return sign * man / 8 * float32(math.Ldexp(1, -6))
	}
	return sign * (1 + man/8) * float32(math.Ldexp(1, exp-7))
}
