package conformance

import (
	"math"
	"os"
	"path/filepath"
	"testing"
)

// TestVLMFamiliesInLibmtmd: llama.cpp's libmtmd loads our Gemma 3,
// Qwen2-VL and Qwen2.5-VL text GGUF with our F16 mmproj, encodes the
// harness's test image and decodes after it; the image embeddings and the
// logits match what it computed from the converter's files
// (<name>-ref/mtmd-f16.*.f32, scripts/make-vlm-refs.py with MTMD_EMBED).
// They were bit for bit equal where the references were made; the bound
// (1e-5 of the largest magnitude) leaves room for another CPU's ggml
// kernels. The other projector types must stay near F16's embeddings.
// transformers' embeddings for these images need the GPU machine and are
// not checked here.
func TestVLMFamiliesInLibmtmd(t *testing.T) {
	bin := mtmdHarness(t)
	root := vlmDir(t)
	for _, name := range vlmFamilies {
		t.Run(name, func(t *testing.T) {
			text, mmproj := runFamily(t, name, map[string]string{"type": "F16"})
			asConverter := text
			if key := swaPatternBeyond(t, text, filepath.Join(root, name+"-ref", name+"-f16.gguf.json"), filepath.Join(root, name)); key != "" {
				// The references are llama.cpp on the converter's files, which
				// lack the layers' pattern ours adds (Gemma 3's [sliding,
				// global]; its effect is TestArchitecturesFromTransformers'):
				// compare our file without it.
				asConverter = withoutKey(t, text, key)
			}
			e, l := encode(t, bin, asConverter, mmproj)
			for _, c := range []struct {
				got  []byte
				file string
			}{{e, "mtmd-f16.embd.f32"}, {l, "mtmd-f16.logits.f32"}} {
				want, err := os.ReadFile(filepath.Join(root, name+"-ref", c.file))
				if err != nil {
					t.Fatal(err)
				}
				if d, scale := maxDiff(t, floats(c.got), floats(want)); d > 1e-5*scale {
					t.Errorf("%s: differs from libmtmd's with the converter's files by %g (largest magnitude %g)", c.file, d, scale)
				}
			}
			for _, typ := range []string{"F32", "BF16", "Q8_0"} {
				_, mm := runFamily(t, name, map[string]string{"type": typ})
				got, _ := encode(t, bin, asConverter, mm)
				if d, scale := maxDiff(t, floats(got), floats(e)); d > 0.02*scale {
					t.Errorf("%s projector: embeddings differ from F16's by %g, more than 2%% of their range %g", typ, d, scale)
				}
			}
		})
	}
}

// maxDiff is the largest absolute difference and the largest magnitude
// of want; NaN anywhere is a difference of +Inf.
func maxDiff(t *testing.T, got, want []float32) (d, scale float64) {
	t.Helper()
	if len(got) != len(want) || len(want) == 0 {
		t.Fatalf("%d values, want %d", len(got), len(want))
	}
	for i := range want {
		x := math.Abs(float64(got[i] - want[i]))
		if math.IsNaN(x) {
			x = math.Inf(1)
		}
		d = math.Max(d, x)
		scale = math.Max(scale, math.Abs(float64(want[i])))
	}
	return d, scale
}
