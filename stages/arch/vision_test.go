package arch

import (
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// TestVisionOutType: the converter's projector type rules, read from
// conversion/base.py (prepare_tensors, MmprojModel.tensor_force_quant) and
// conversion/smolvlm.py, case by case.
func TestVisionOutType(t *testing.T) {
	smol := visionBuiltin["idefics3"]
	generic, err := ParseVision([]byte("arch: clip\nprojector: x\nparts: [vision_model]\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		v     *Vision
		name  string
		shape []int64
		req   tensor.DType
		want  tensor.DType
	}{
		{smol, "v.patch_embd.weight", []int64{64, 3, 16, 16}, tensor.F16, tensor.F32}, // SmolVLM: .embeddings. -> F32
		{generic, "v.patch_embd.weight", []int64{64, 3, 16, 16}, tensor.F16, tensor.F16},
		{generic, "v.patch_embd.weight", []int64{64, 3, 16, 16}, tensor.Q8_0, tensor.F32},
		{generic, "v.patch_embd.weight", []int64{64, 3, 16, 16}, tensor.BF16, tensor.F32},
		{smol, "v.position_embd.weight", []int64{16, 64}, tensor.Q8_0, tensor.F32},
		{generic, "v.position_embd.weight", []int64{16, 64}, tensor.F16, tensor.F32}, // V_ENC_EMBD_POS is always F32
		{smol, "v.blk.0.ln1.weight", []int64{64}, tensor.F16, tensor.F32},
		{smol, "v.blk.0.attn_q.bias", []int64{64}, tensor.Q8_0, tensor.F32},
		{smol, "v.blk.0.attn_q.weight", []int64{64, 64}, tensor.Q8_0, tensor.Q8_0},
		{smol, "v.blk.0.attn_q.weight", []int64{48, 48}, tensor.Q8_0, tensor.F16}, // QuantError -> F16
		{smol, "mm.model.fc.weight", []int64{256, 256}, tensor.BF16, tensor.BF16},
		{smol, "mm.model.fc.weight", []int64{256, 256}, tensor.F32, tensor.F32},
	} {
		if got := c.v.OutType(c.name, c.shape, c.req); got != c.want {
			t.Errorf("%s %s %v at %v: %v, want %v", c.v.Projector, c.name, c.shape, c.req, got, c.want)
		}
	}
}

func smolConfig() map[string]any {
	return map[string]any{
		"architectures": []any{"SmolVLMForConditionalGeneration"}, "scale_factor": 2.0,
		"text_config":   map[string]any{"hidden_size": 256.0},
		"vision_config": map[string]any{"hidden_size": 64.0, "num_hidden_layers": 1.0, "model_type": "smolvlm_vision"},
	}
}

func TestDetectVisionErrors(t *testing.T) {
	for _, c := range []struct {
		cfg  map[string]any
		want string
	}{
		{map[string]any{"architectures": []any{"LlamaForCausalLM"}}, "no vision_config: LlamaForCausalLM is not a vision-language model"},
		{map[string]any{"architectures": []any{"FooVLM"}, "vision_config": map[string]any{}}, "no vision table for FooVLM; known vision-language architectures: " + strings.Join(KnownVision(), ", ")},
	} {
		if _, err := DetectVision(c.cfg); err == nil || !strings.HasSuffix(err.Error(), c.want) {
			t.Errorf("DetectVision: %v, want %q", err, c.want)
		}
	}
	v, err := DetectVision(smolConfig())
	if err != nil || v.Projector != "idefics3" {
		t.Fatalf("%v %v", v, err)
	}
	cfg := smolConfig()
	delete(cfg["text_config"].(map[string]any), "hidden_size")
	if _, err := v.Config(cfg, nil); err == nil || !strings.Contains(err.Error(), "text_config.hidden_size") {
		t.Errorf("Config without a text hidden size: %v", err)
	}
}

// TestVisionConfigDefaults: SmolVLM2 configs leave out the vision sizes and
// the converter fills in transformers' defaults, only for smolvlm_vision.
func TestVisionConfigDefaults(t *testing.T) {
	v := visionBuiltin["idefics3"]
	cfg := smolConfig()
	vc := cfg["vision_config"].(map[string]any)
	delete(vc, "hidden_size")
	got, err := v.Config(cfg, map[string]any{"size": map[string]any{"longest_edge": 512.0}})
	if err != nil {
		t.Fatal(err)
	}
	if got["hidden_size"] != 1152 || got["num_attention_heads"] != 16 || got["intermediate_size"] != 3072 {
		t.Errorf("defaults: %v %v %v", got["hidden_size"], got["num_attention_heads"], got["intermediate_size"])
	}
	if got["preprocessor.size.longest_edge"] != 512.0 || got["global.scale_factor"] != 2.0 || got["n_embd_text"] != int64(256) {
		t.Errorf("flattened: %v %v %v", got["preprocessor.size.longest_edge"], got["global.scale_factor"], got["n_embd_text"])
	}
	vc["model_type"] = "idefics3_vision"
	got, _ = v.Config(cfg, nil)
	if _, ok := got["hidden_size"]; ok {
		t.Errorf("defaults applied to idefics3_vision")
	}
}

// TestVisionConnectorCheck: a connector that does not fit the vision and
// text sizes is refused at plan time, naming the tensor, its size and the
// config values it contradicts.
func TestVisionConnectorCheck(t *testing.T) {
	v := visionBuiltin["idefics3"]
	vcfg, err := v.Config(smolConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ok := []*tensor.Desc{mk("model.connector.modality_projection.proj.weight", 0, 256, 256)}
	if err := v.Check(vcfg, ok); err != nil {
		t.Fatal(err)
	}
	bad := []*tensor.Desc{mk("model.connector.modality_projection.proj.weight", 0, 128, 192)}
	err = v.Check(vcfg, bad)
	for _, want := range []string{
		"model.connector.modality_projection.proj.weight has 192 in dimension 1 but the config gives n_embd * scale * scale = 256",
		"model.connector.modality_projection.proj.weight has 128 in dimension 0 but the config gives n_embd_text = 256",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check: %v\nwant %q", err, want)
		}
	}
}

func TestParseVisionErrors(t *testing.T) {
	for _, bad := range []struct{ yaml, want string }{
		{"arch: clip\nprojector: x\nparts: [v]\nbogus: 1\n", "field bogus not found"},
		{"arch: clip\nparts: [v]\n", "need projector and parts"},
		{"projector: x\nparts: [v]\n", "missing arch"},
		{"arch: clip\nprojector: x\nparts: [v]\nkeys:\n  - {include: nope}\n", `unknown include "nope"`},
	} {
		if _, err := ParseVision([]byte(bad.yaml)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("ParseVision(%q): %v, want %q", bad.yaml, err, bad.want)
		}
	}
}

func FuzzParseVision(f *testing.F) {
	files, _ := visionFS.ReadDir("tables/vision")
	for _, e := range files {
		b, err := visionFS.ReadFile("tables/vision/" + e.Name())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParseVision(b)
		if err != nil {
			return
		}
		// Errors are fine here; panics are what the target looks for.
		vcfg, err := v.Config(smolConfig(), map[string]any{"image_mean": []any{0.5}, "image_std": []any{"x"}})
		if err != nil {
			return
		}
		ts := []*tensor.Desc{mk("model.vision_model.encoder.layers.0.self_attn.q_proj.weight", 0, 8, 8)}
		_ = v.Check(vcfg, ts)
		if out, err := v.Remap(vcfg, ts); err == nil {
			_, _ = v.Header(vcfg, out, HeaderOptions{Dir: "m", OutType: tensor.F16})
		}
	})
}
