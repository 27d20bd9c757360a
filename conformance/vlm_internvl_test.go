package conformance

import (
	"bytes"
	"math"
	"path/filepath"
	"testing"
)

// TestInternVLMatchesConverter: an InternVL3-layout checkpoint
// (InternVLChatModel: vision_model.*, mlp1.*, a Qwen2 llm_config) gives the
// converter's text GGUF and --mmproj's projector: fused qkv split into q,
// k, v (weights and biases), layer scales and embeddings named as the
// converter renames them, position embeddings kept F32, the tile limits.
func TestInternVLMatchesConverter(t *testing.T) {
	checkVLMFamily(t, []vlmBCase{{"internvl", "internvl", ""}, {"internvl-hf", "internvl-hf", ""}})
}

// TestInternVLEncodesInLibmtmd: libmtmd loads our InternVL text GGUF with
// our mmproj, encodes the test image into finite embeddings, and computes
// bit for bit what it computes with the converter's mmproj. (Transformers'
// embeddings need the GPU machine; not done here.)
func TestInternVLEncodesInLibmtmd(t *testing.T) {
	bin := mtmdHarness(t)
	dir := t.TempDir()
	text, mmproj := filepath.Join(dir, "text.gguf"), filepath.Join(dir, "mmproj.gguf")
	runRecipe(t, "vlm-to-gguf.yaml", map[string]string{"model": vlmB(t, "internvl"), "out": text, "mmproj": mmproj, "type": "F16"})
	wantE, wantL := encode(t, bin, text, vlmB(t, "internvl-ref", "mmproj-internvl-f16.gguf"))
	gotE, gotL := encode(t, bin, text, mmproj)
	if !bytes.Equal(gotE, wantE) || !bytes.Equal(gotL, wantL) {
		t.Errorf("image embeddings or logits differ from the converter's mmproj (%d/%d embedding bytes)", len(gotE), len(wantE))
	}
	for i, x := range floats(gotE) {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			t.Fatalf("embedding %d is %v", i, x)
		}
	}
}

// TestInternVLRoundTrip: an InternVL text + mmproj pair survives the trip
// through one HF folder, written in the Hub's layout (llm_config,
// language_model.*, the q, k, v of each block joined back into attn.qkv).
func TestInternVLRoundTrip(t *testing.T) {
	roundTripVLM(t, "internvl", "Internvl", "10", "InternVLChatModel",
		"language_model.lm_head.weight", "language_model.model.layers.1.self_attn.q_proj.bias",
		"vision_model.encoder.layers.3.attn.qkv.weight", "vision_model.encoder.layers.0.attn.qkv.bias",
		"vision_model.encoder.layers.2.ls1", "mlp1.3.weight")
}
