package quant_test

import (
	"encoding/binary"
	"math"
	"path/filepath"
	"testing"

	"github.com/x448/float16"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/quant"
)

// elementDecoders read one element of one block straight from the block
// layouts of ggml-common.h, by element index, with ggml's order of float
// operations. They share no code with the package's block-wise decoders.
var elementDecoders = map[tensor.DType]func(b []byte, e int) float32{
	tensor.Q8_0: func(b []byte, e int) float32 { return float32(int8(b[2+e])) * h(b, 0) },
	tensor.Q4_0: func(b []byte, e int) float32 {
		return float32(int(b[2+e%16]>>(4*(e/16))&15)-8) * h(b, 0)
	},
	tensor.Q4_1: func(b []byte, e int) float32 {
		return float32(float32(b[4+e%16]>>(4*(e/16))&15)*h(b, 0)) + h(b, 2)
	},
	tensor.Q5_0: func(b []byte, e int) float32 {
		q := int(b[6+e%16]>>(4*(e/16))&15) | int(binary.LittleEndian.Uint32(b[2:])>>e&1)<<4
		return float32(q-16) * h(b, 0)
	},
	tensor.Q5_1: func(b []byte, e int) float32 {
		q := int(b[8+e%16]>>(4*(e/16))&15) | int(binary.LittleEndian.Uint32(b[4:])>>e&1)<<4
		return float32(float32(q)*h(b, 0)) + h(b, 2)
	},
	tensor.Q2_K: func(b []byte, e int) float32 {
		sc := b[e/16]
		q := b[16+e/128*32+e%32] >> (2 * (e % 128 / 32)) & 3
		return float32(float32(h(b, 80)*float32(sc&15))*float32(q)) - float32(h(b, 82)*float32(sc>>4))
	},
	tensor.Q3_K: func(b []byte, e int) float32 {
		g, s := e/16, b[96:108]
		lo := s[g%8] >> (4 * (g / 8)) & 15
		sc := int(lo|(s[8+g%4]>>(2*(g/4))&3)<<4) - 32
		q := int(b[32+e/128*32+e%32] >> (2 * (e % 128 / 32)) & 3)
		if b[e%32]>>(e/32)&1 == 0 {
			q -= 4
		}
		return float32(h(b, 108)*float32(sc)) * float32(q)
	},
	tensor.Q4_K: func(b []byte, e int) float32 {
		g := e / 32
		sc, m := k4(b[4:16], g)
		q := b[16+g/2*32+e%32] >> (4 * (g % 2)) & 15
		return float32(float32(h(b, 0)*float32(sc))*float32(q)) - float32(h(b, 2)*float32(m))
	},
	tensor.Q5_K: func(b []byte, e int) float32 {
		g := e / 32
		sc, m := k4(b[4:16], g)
		q := b[48+g/2*32+e%32]>>(4*(g%2))&15 | (b[16+e%32]>>g&1)<<4
		return float32(float32(h(b, 0)*float32(sc))*float32(q)) - float32(h(b, 2)*float32(m))
	},
	tensor.Q6_K: func(b []byte, e int) float32 {
		n, k, l := e/128, e%128/32, e%32
		lo := b[n*64+l+32*(k%2)] >> (4 * (k / 2)) & 15
		hi := b[128+n*32+l] >> (2 * k) & 3
		q := int(lo|hi<<4) - 32
		return float32(h(b, 208)*float32(int8(b[192+e/16]))) * float32(q)
	},
}

func h(b []byte, off int) float32 {
	return float16.Frombits(binary.LittleEndian.Uint16(b[off:])).Float32()
}

// k4 unpacks the 6-bit scale and min of group g from the 12 scale bytes.
func k4(s []byte, g int) (sc, m uint8) {
	if g < 4 {
		return s[g] & 63, s[g+4] & 63
	}
	return s[g+4]&15 | s[g-4]>>6<<4, s[g+4]>>4 | s[g]>>6<<4
}

// TestDequantizeCorpus decodes every quantized tensor llama-quantize wrote
// and compares each element, bit for bit, with the element decoders above;
// it also bounds the relative error against the BF16 source, which catches a
// layout that both decoders would get wrong the same way.
func TestDequantizeCorpus(t *testing.T) {
	dir := filepath.Join(corpus.Dir(t), "tiny-llama-spm-ref")
	src := readGGUF(t, filepath.Join(dir, "tiny-llama-spm-bf16.gguf"))
	maxRel := map[tensor.DType]float64{
		tensor.Q8_0: 0.01, tensor.Q6_K: 0.02, tensor.Q5_0: 0.05, tensor.Q5_1: 0.05, tensor.Q5_K: 0.05,
		tensor.Q4_0: 0.1, tensor.Q4_1: 0.1, tensor.Q4_K: 0.1, tensor.Q3_K: 0.2, tensor.Q2_K: 0.4,
	}
	seen := map[tensor.DType]bool{}
	for _, name := range []string{"Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K-pure", "Q3_K-pure", "Q4_K-pure", "Q5_K-pure", "Q6_K-pure"} {
		ref := readGGUF(t, filepath.Join(dir, "tiny-llama-spm-"+name+".gguf"))
		for tname, rt := range ref {
			dec, ok := elementDecoders[rt.typ]
			if !ok {
				continue
			}
			seen[rt.typ] = true
			bb, bs := int(rt.typ.Info().BlockBytes), int(rt.typ.Info().BlockSize)
			got := make([]float32, len(rt.data)/bb*bs)
			if err := quant.Dequantize(rt.typ, rt.data, got); err != nil {
				t.Fatal(err)
			}
			for i, v := range got {
				blk := rt.data[i/bs*bb : i/bs*bb+bb]
				if want := dec(blk, i%bs); math.Float32bits(v) != math.Float32bits(want) {
					t.Fatalf("%s %s (%v) element %d: %g, element decoder %g", name, tname, rt.typ, i, v, want)
				}
			}
			orig := make([]float32, len(got))
			if err := tensor.ToFloat32(tensor.BF16, src[tname].data, orig); err != nil {
				t.Fatal(err)
			}
			var num, den float64
			for i := range got {
				d := float64(got[i] - orig[i])
				num += d * d
				den += float64(orig[i]) * float64(orig[i])
			}
			if rel := math.Sqrt(num / den); !(rel < maxRel[rt.typ]) {
				t.Errorf("%s %s (%v): relative RMS error %.4f, want < %g", name, tname, rt.typ, rel, maxRel[rt.typ])
			}
		}
	}
	for typ := range maxRel {
		if !seen[typ] {
			t.Errorf("no %v tensor in the corpus files read", typ)
		}
	}
}
