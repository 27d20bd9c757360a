package conformance

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
)

// mtmdHarness builds scripts/mtmd_embed.c against the libmtmd that
// ../shared/tools/build-llama-tools.sh built (headers from $LLAMA_SRC).
func mtmdHarness(t *testing.T) string {
	t.Helper()
	lib := llamaTool(t, "libmtmd.so")
	src := os.Getenv("LLAMA_SRC")
	cc, err := exec.LookPath("cc")
	if src == "" || err != nil {
		if corpus.InCI() {
			t.Fatalf("LLAMA_SRC=%q, cc: %v: the libmtmd harness cannot be built", src, err)
		}
		t.Skipf("LLAMA_SRC unset or no cc (eval \"$(../shared/tools/build-llama-tools.sh)\"): no libmtmd harness")
	}
	dir := filepath.Dir(lib)
	bin := filepath.Join(t.TempDir(), "mtmd_embed")
	runTool(t, cc, "-O2", "-I"+filepath.Join(src, "include"), "-I"+filepath.Join(src, "ggml", "include"),
		"-I"+filepath.Join(src, "tools", "mtmd"), filepath.Join(corpus.Root(t), "scripts", "mtmd_embed.c"),
		"-L"+dir, "-lmtmd", "-lllama", "-lggml", "-lggml-base", "-lm", "-Wl,-rpath,"+dir, "-o", bin)
	return bin
}

// encode runs the harness: llama.cpp loads text and mmproj, encodes the
// test image and decodes it; it returns the image embeddings and the
// logits after them.
func encode(t *testing.T, bin, text, mmproj string) (embd, logits []byte) {
	t.Helper()
	dir := t.TempDir()
	e, l := filepath.Join(dir, "embd.f32"), filepath.Join(dir, "logits.f32")
	runTool(t, bin, text, mmproj, e, l)
	embd, err := os.ReadFile(e)
	if err != nil {
		t.Fatal(err)
	}
	if logits, err = os.ReadFile(l); err != nil {
		t.Fatal(err)
	}
	if len(embd) == 0 || len(logits) == 0 {
		t.Fatalf("harness wrote %d embedding and %d logit bytes", len(embd), len(logits))
	}
	return embd, logits
}

// TestVLMLoadsInLibmtmd: llama.cpp's libmtmd loads our text GGUF with our
// mmproj and encodes an image; with the F16 mmproj the image embeddings,
// and the logits the text model computes after them, are bit for bit those
// it computes with the converter's mmproj. The other projector types load
// and stay near the F16 embeddings (a sanity bound: there is no converter
// reference for them here). Matching transformers' embeddings and logits
// needs a reference made on a GPU machine and is not done here.
func TestVLMLoadsInLibmtmd(t *testing.T) {
	bin := mtmdHarness(t)
	text, mmproj := runVLM(t, map[string]string{"type": "F16"})
	ref := corpus.Path(t, "tiny-smolvlm-ref", "mmproj-tiny-smolvlm-f16.gguf")
	wantE, wantL := encode(t, bin, text, ref)
	gotE, gotL := encode(t, bin, text, mmproj)
	if !bytes.Equal(gotE, wantE) || !bytes.Equal(gotL, wantL) {
		t.Errorf("image embeddings or logits differ from the converter's mmproj (%d/%d embedding bytes)", len(gotE), len(wantE))
	}
	ref32 := floats(wantE)
	var scale float64
	for _, x := range ref32 {
		scale = math.Max(scale, math.Abs(float64(x)))
	}
	for _, typ := range []string{"F32", "BF16", "Q8_0"} {
		t.Run(typ, func(t *testing.T) {
			_, mmproj := runVLM(t, map[string]string{"type": typ})
			e, _ := encode(t, bin, text, mmproj)
			got := floats(e)
			if len(got) != len(ref32) {
				t.Fatalf("%d embedding values, want %d", len(got), len(ref32))
			}
			var worst float64
			for i := range got {
				worst = math.Max(worst, math.Abs(float64(got[i]-ref32[i])))
			}
			if math.IsNaN(worst) || worst > 0.02*scale {
				t.Errorf("embeddings differ from F16's by %g, more than 2%% of their range %g", worst, scale)
			}
		})
	}
}

func floats(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}
