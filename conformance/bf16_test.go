package conformance

import (
	"encoding/binary"
	"math"
	"path/filepath"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
	"github.com/mlmf-run/mlmf-run/tensor/safetensors"
)

// TestBF16FromF16IsNearestEven pins down what a BF16 conversion of an F16
// checkpoint must contain: each F16 value rounded to the nearest BF16, ties
// to even, as gguf-py does. The rounding here is computed from the two
// neighbouring BF16 values, independently of the converter's bit trick.
func TestBF16FromF16IsNearestEven(t *testing.T) {
	out := filepath.Join(t.TempDir(), "bpe-bf16.gguf")
	runRecipe(t, "hf-to-gguf.yaml", map[string]string{"model": corpus.Path(t, "tiny-llama-bpe"), "out": out, "type": "BF16", "pre": "llama-bpe"})
	src, err := safetensors.Open(corpus.Path(t, "tiny-llama-bpe", "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	f, c, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	byName := map[string]*tensor.Desc{}
	for _, d := range src.Tensors {
		byName[d.Name] = d
	}
	checked := 0
	for _, d := range f.Tensors {
		if d.DType != tensor.BF16 || d.Name != "token_embd.weight" && d.Name != "output.weight" {
			continue // the projections are permuted or renamed; the embeddings are not
		}
		hf := byName[map[string]string{"token_embd.weight": "model.embed_tokens.weight", "output.weight": "lm_head.weight"}[d.Name]]
		in, got := readAll(t, hf), readAll(t, d)
		vals := make([]float32, hf.Elems())
		must(t, tensor.ToFloat32(tensor.F16, in, vals))
		for i, v := range vals {
			if g := binary.LittleEndian.Uint16(got[2*i:]); g != nearestBF16(v) {
				t.Fatalf("%s[%d] = %g: bf16 %#04x, want %#04x", d.Name, i, v, g, nearestBF16(v))
			}
		}
		checked++
	}
	if checked != 2 {
		t.Fatalf("checked %d tensors, want 2", checked)
	}
}

func nearestBF16(v float32) uint16 {
	bits := math.Float32bits(v)
	lo := bits &^ 0xffff
	hi := lo + 0x10000
	dlo := math.Abs(float64(v) - float64(math.Float32frombits(lo)))
	dhi := math.Abs(float64(math.Float32frombits(hi)) - float64(v))
	switch {
	case dlo < dhi:
		return uint16(lo >> 16)
	case dhi < dlo:
		return uint16(hi >> 16)
	case (lo>>16)&1 == 0:
		return uint16(lo >> 16)
	}
	return uint16(hi >> 16)
}
