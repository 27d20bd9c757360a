package conformance

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
)

// vlmB is testdata/vlm-b: tiny checkpoints of the Mistral 3 / Pixtral and
// InternVL families and what llama.cpp's convert_hf_to_gguf.py (text) and
// convert_hf_to_gguf.py --mmproj wrote for them
// (scripts/make-vlm-refs-b.py).
func vlmB(t *testing.T, elem ...string) string {
	t.Helper()
	return filepath.Join(append([]string{corpus.Root(t), "testdata", "vlm-b"}, elem...)...)
}

// vlmBCase is one folder converted and the converter's files it must give:
// ref names the folder the references were made from (a transformers 5
// layout is judged by its Hub twin's files), name is general.name when the
// folder's own name would differ from the twin's.
type vlmBCase struct{ folder, ref, name string }

// checkVLMFamily runs vlm-to-gguf on each case at F16, Q8_0, F32 and BF16 and
// compares the text GGUF with the converter's and the mmproj GGUF with
// --mmproj's: every key and value in order, tensor names, types, shapes,
// order and data; the F16 projector byte for byte with the converter's file.
func checkVLMFamily(t *testing.T, cases []vlmBCase) {
	for _, c := range cases {
		for _, typ := range []string{"f16", "q8_0", "f32", "bf16"} {
			t.Run(c.folder+"/"+typ, func(t *testing.T) {
				dir := t.TempDir()
				text, mmproj := filepath.Join(dir, "text.gguf"), filepath.Join(dir, "mmproj.gguf")
				runRecipe(t, "vlm-to-gguf.yaml", map[string]string{"model": vlmB(t, c.folder), "out": text, "mmproj": mmproj,
					"type": strings.ToUpper(typ), "name": c.name})
				ref := vlmB(t, c.ref+"-ref")
				matchesReference(t, text, filepath.Join(ref, c.ref+"-"+typ+".gguf.json"))
				mmRef := filepath.Join(ref, "mmproj-"+c.ref+"-"+typ+".gguf")
				matchesReference(t, mmproj, mmRef+".json")
				if typ != "f16" {
					return
				}
				got, err := os.ReadFile(mmproj)
				if err != nil {
					t.Fatal(err)
				}
				want, err := os.ReadFile(mmRef)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("mmproj differs from the converter's file (%d bytes, want %d)", len(got), len(want))
				}
			})
		}
	}
}

// TestPixtralFamilyMatchesConverter: Mistral Small 3.1's layout (RMS norm
// and patch merger before the projector) as the Hub has it and as
// transformers 5 saves it, and pixtral-12b's (LlavaForConditionalGeneration
// with a pixtral vision tower, projector biases, a llama text model).
func TestPixtralFamilyMatchesConverter(t *testing.T) {
	checkVLMFamily(t, []vlmBCase{{"mistral3", "mistral3", ""}, {"mistral3-t5", "mistral3", "Mistral3"}, {"pixtral", "pixtral", ""}})
}

// roundTripVLM: text GGUF + mmproj from vlm-to-gguf -> one HF folder
// (vlm-gguf-to-hf) -> text GGUF + mmproj again gives both files back byte
// for byte, and the folder is the layout transformers 5 saves (wantNames
// are some of its tensor names, wantArch config.json's architecture). It
// returns config.json.
func roundTripVLM(t *testing.T, folder, name, imageToken, wantArch string, wantNames ...string) map[string]any {
	t.Helper()
	dir := t.TempDir()
	text, mmproj := filepath.Join(dir, "text.gguf"), filepath.Join(dir, "mmproj.gguf")
	runRecipe(t, "vlm-to-gguf.yaml", map[string]string{"model": vlmB(t, folder), "out": text, "mmproj": mmproj, "type": "F16"})
	hf := filepath.Join(dir, "hf")
	runRecipe(t, "vlm-gguf-to-hf.yaml", map[string]string{"model": text, "mmproj": mmproj, "out": hf,
		"dtype": "F32", "image_token_id": imageToken, "tokenizer": vlmB(t, folder)})
	text2, mmproj2 := filepath.Join(dir, "text2.gguf"), filepath.Join(dir, "mmproj2.gguf")
	runRecipe(t, "vlm-to-gguf.yaml", map[string]string{"model": hf, "out": text2, "mmproj": mmproj2, "type": "F16", "name": name})
	for _, p := range [][2]string{{text, text2}, {mmproj, mmproj2}} {
		a, err := os.ReadFile(p[0])
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p[1])
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs after the round trip through %s", filepath.Base(p[0]), hf)
		}
	}
	cfg, err := os.ReadFile(filepath.Join(hf, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.ReadFile(filepath.Join(hf, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(cfg, []byte(`"`+wantArch+`"`)) {
		t.Errorf("config.json names no %s:\n%s", wantArch, cfg)
	}
	for _, n := range wantNames {
		if !bytes.Contains(st, []byte(`"`+n+`"`)) {
			t.Errorf("model.safetensors has no %s", n)
		}
	}
	var c map[string]any
	if err := json.Unmarshal(cfg, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPixtralFamilyRoundTrip: a Mistral 3 and a pixtral-12b text + mmproj
// pair survive the trip through one HF folder; the folder is a
// Mistral3ForConditionalGeneration, resp. LlavaForConditionalGeneration,
// in transformers 5's names.
func TestPixtralFamilyRoundTrip(t *testing.T) {
	t.Run("mistral3", func(t *testing.T) {
		cfg := roundTripVLM(t, "mistral3", "Mistral3", "10", "Mistral3ForConditionalGeneration",
			"lm_head.weight", "model.language_model.layers.1.self_attn.q_proj.weight",
			"model.vision_tower.transformer.layers.2.attention.k_proj.weight", "model.multi_modal_projector.patch_merger.merging_layer.weight")
		wantConfig(t, cfg, map[string]any{"multimodal_projector_bias": false, "spatial_merge_size": 2.0, "text_config.model_type": "mistral"})
	})
	t.Run("pixtral", func(t *testing.T) {
		cfg := roundTripVLM(t, "pixtral", "Pixtral", "10", "LlavaForConditionalGeneration",
			"lm_head.weight", "model.language_model.norm.weight", "model.multi_modal_projector.linear_2.bias")
		// LlavaConfig's defaults (-2, "default") would drop the last layer
		// and the first patch, which llama.cpp's pixtral graph keeps
		wantConfig(t, cfg, map[string]any{"multimodal_projector_bias": true, "vision_feature_layer": -1.0,
			"vision_feature_select_strategy": "full", "vision_config.hidden_act": "silu"})
	})
}

// TestPixtralJoinRefusesOtherText: a pixtral projector joins a mistral3 or
// llama language model; a Qwen2 one is refused at plan time, saying which.
func TestPixtralJoinRefusesOtherText(t *testing.T) {
	dir := t.TempDir()
	mt, mm := filepath.Join(dir, "m.gguf"), filepath.Join(dir, "mm.gguf")
	runRecipe(t, "vlm-to-gguf.yaml", map[string]string{"model": vlmB(t, "mistral3"), "out": mt, "mmproj": mm})
	it, im := filepath.Join(dir, "i.gguf"), filepath.Join(dir, "im.gguf")
	runRecipe(t, "vlm-to-gguf.yaml", map[string]string{"model": vlmB(t, "internvl"), "out": it, "mmproj": im})
	out := filepath.Join(dir, "hf")
	err := runRecipeFile(filepath.Join(corpus.Root(t), "recipes", "vlm-gguf-to-hf.yaml"), map[string]string{
		"model": it, "mmproj": mm, "out": out, "image_token_id": "10"})
	want := `a pixtral projector joins a language model of architecture mistral3 or llama, not "qwen2"`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v\nwant %q", err, want)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("a refused join left its folder")
	}
}

// wantConfig checks config.json entries (one level of nesting by a dot).
func wantConfig(t *testing.T, cfg map[string]any, want map[string]any) {
	t.Helper()
	for k, w := range want {
		v := any(cfg)
		for _, seg := range strings.Split(k, ".") {
			m, _ := v.(map[string]any)
			v = m[seg]
		}
		if v != w {
			t.Errorf("config.json %s = %v (%T), want %v", k, v, v, w)
		}
	}
}

// TestLlavaCLIPRefused: LLaVA-1.5 (LlavaForConditionalGeneration with a
// CLIP tower, llava-hf's layout) and LLaVA-NeXT
// (LlavaNextForConditionalGeneration) are refused at plan time, as
// convert_hf_to_gguf.py --mmproj refuses them (testdata's
// mmproj-refused.txt: LlavaVisionModel takes only pixtral towers, and no
// class takes LLaVA-NeXT; llama.cpp makes such projectors only with the
// legacy tools/mtmd scripts, which need transformers' CLIPModel and a
// hand-made vit config). Nothing is written. Their language models alone
// convert as the converter's (hf-to-gguf drops the tower, the projector and
// NeXT's image_newline).
func TestLlavaCLIPRefused(t *testing.T) {
	for _, c := range []struct{ folder, converter, ours string }{
		{"llava15", "Unsupported model type: clip_vision_model", `vision_config.model_type "clip_vision_model"`},
		{"llavanext", "Model LlavaNextForConditionalGeneration is not supported", "no vision table for LlavaNextForConditionalGeneration"},
	} {
		t.Run(c.folder, func(t *testing.T) {
			ref, err := os.ReadFile(vlmB(t, c.folder+"-ref", "mmproj-refused.txt"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(ref, []byte(c.converter)) {
				t.Fatalf("the converter's refusal is %q, want %q", ref, c.converter)
			}
			out := t.TempDir()
			err = runRecipeFile(filepath.Join(corpus.Root(t), "recipes", "vlm-to-gguf.yaml"), map[string]string{
				"model": vlmB(t, c.folder), "out": filepath.Join(out, "t.gguf"), "mmproj": filepath.Join(out, "m.gguf")})
			if err == nil || !strings.Contains(err.Error(), c.ours) {
				t.Fatalf("err = %v\nwant one with %q", err, c.ours)
			}
			if ents, _ := os.ReadDir(out); len(ents) != 0 {
				t.Errorf("a refused run left %d files", len(ents))
			}
			for _, typ := range []string{"f16", "q8_0", "f32", "bf16"} {
				t.Run("text/"+typ, func(t *testing.T) {
					text := filepath.Join(t.TempDir(), "text.gguf")
					runRecipe(t, "hf-to-gguf.yaml", map[string]string{"model": vlmB(t, c.folder), "out": text, "type": strings.ToUpper(typ)})
					matchesReference(t, text, vlmB(t, c.folder+"-ref", c.folder+"-"+typ+".gguf.json"))
				})
			}
		})
	}
}

// TestPixtralMtmdWantsImgBreak documents where the pixtral family stops:
// libmtmd requires v.token_embd.img_break in a pixtral projector, and the
// converter writes none for an HF folder (MmprojModel's filter drops the
// language_model.*embed_tokens row LlavaVisionModel would take it from), so
// libmtmd refuses the converter's mmproj and ours alike, for that tensor.
// When either side changes, this fails and the references need a look.
func TestPixtralMtmdWantsImgBreak(t *testing.T) {
	bin := mtmdHarness(t)
	dir := t.TempDir()
	text, mmproj := filepath.Join(dir, "text.gguf"), filepath.Join(dir, "mmproj.gguf")
	runRecipe(t, "vlm-to-gguf.yaml", map[string]string{"model": vlmB(t, "mistral3"), "out": text, "mmproj": mmproj, "type": "F16"})
	for _, mm := range []string{mmproj, vlmB(t, "mistral3-ref", "mmproj-mistral3-f16.gguf")} {
		out, err := exec.Command(bin, text, mm, filepath.Join(dir, "e.f32"), filepath.Join(dir, "l.f32")).CombinedOutput()
		if err == nil || !bytes.Contains(out, []byte("unable to find tensor v.token_embd.img_break")) {
			t.Errorf("libmtmd with %s: %v\n%s", mm, err, out)
		}
	}
}
