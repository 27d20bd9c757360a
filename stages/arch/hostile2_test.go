package arch

import (
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

// headerDescs reads a testdata safetensors file's header into tensors of
// the right names, dtypes and shapes (detection and checks read
// shapes only; the data is zeros).
func headerDescs(t testing.TB, path string) []*tensor.Desc {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b)
	var hdr map[string]struct {
		DType string  `json:"dtype"`
		Shape []int64 `json:"shape"`
	}
	if err := json.Unmarshal(b[8:8+n], &hdr); err != nil {
		t.Fatal(err)
	}
	var out []*tensor.Desc
	for k, e := range hdr {
		if k == "__metadata__" {
			continue
		}
		dt := tensor.BF16
		if e.DType == "U8" {
			dt = tensor.U8
		}
		d := &tensor.Desc{Name: k, DType: dt, Shape: e.Shape}
		d.Src = &tensor.Bytes{Data: make([]byte, d.Rows()*d.RowBytes()), RowBytes: d.RowBytes(), What: k}
		out = append(out, d)
	}
	return out
}

// FuzzDetectConfig: config.json text (seeded with the gpt-oss, BitNet,
// InternLM2 and Hunyuan MoE checkpoints') against those checkpoints'
// tensors. Detection, the shape checks and the hyperparameter keys may
// refuse a config; none may panic or hang.
func FuzzDetectConfig(f *testing.F) {
	models := []string{"gpt-oss", "bitnet", "bitnet-packed", "internlm2", "hunyuan-moe"}
	var sets [][]*tensor.Desc
	for i, m := range models {
		dir := filepath.Join("..", "..", "testdata", "arch", m)
		b, err := os.ReadFile(filepath.Join(dir, "config.json"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(i))
		sets = append(sets, headerDescs(f, filepath.Join(dir, "model.safetensors")))
	}
	f.Add([]byte(`{"model_type":"gpt_oss","num_local_experts":1e300,"num_hidden_layers":-1}`), uint8(0))
	f.Add([]byte(`{"model_type":"hunyuan_v1_moe","moe_topk":[],"moe_intermediate_size":"x"}`), uint8(4))
	f.Fuzz(func(t *testing.T, b []byte, which uint8) {
		var cfg map[string]any
		if json.Unmarshal(b, &cfg) != nil {
			return
		}
		ts := sets[int(which)%len(sets)]
		ts, err := Dequant(cfg, ts)
		if err != nil {
			return
		}
		a, err := Detect(cfg, ts)
		if err != nil {
			return
		}
		_, _ = a.HParams(cfg)
	})
}

// FuzzVisionConfig: a vision-language config.json (seeded with the Qwen2-VL,
// Qwen2.5-VL, Gemma 3, Pixtral and InternVL checkpoints') against the
// checkpoint's vision tensors: the family's config hook, checks and remap
// may refuse it; none may panic.
func FuzzVisionConfig(f *testing.F) {
	models := []string{"vlm/qwen2vl", "vlm/qwen25vl", "vlm/gemma3", "vlm-b/pixtral", "vlm-b/internvl", "vlm-b/internvl-hf"}
	var sets [][]*tensor.Desc
	for i, m := range models {
		dir := filepath.Join("..", "..", "testdata", m)
		b, err := os.ReadFile(filepath.Join(dir, "config.json"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, uint8(i))
		sets = append(sets, headerDescs(f, filepath.Join(dir, "model.safetensors")))
	}
	f.Fuzz(func(t *testing.T, b []byte, which uint8) {
		var cfg map[string]any
		if json.Unmarshal(b, &cfg) != nil {
			return
		}
		v, err := DetectVision(cfg)
		if err != nil {
			return
		}
		vcfg, err := v.Config(cfg, map[string]any{"image_mean": []any{0.5, 0.5, 0.5}, "image_std": []any{0.5, 0.5, 0.5}})
		if err != nil {
			return
		}
		var ts []*tensor.Desc
		for _, d := range sets[int(which)%len(sets)] {
			if v.IsVision(d.Name) {
				ts = append(ts, d)
			}
		}
		if v.Check(vcfg, ts) == nil {
			_, _ = v.Remap(vcfg, ts)
		}
	})
}

// FuzzTokenizerFiles: the bytes of tokenizer.model (a protobuf walked for
// add_dummy_prefix) and of tokenizer_config.json (added_tokens_decoder in
// file order) as InternLM2's and InternLM3's keys read them.
func FuzzTokenizerFiles(f *testing.F) {
	spm, err := os.ReadFile(filepath.Join("..", "..", "testdata", "arch", "tokenizer.model"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(spm, []byte(`{"added_tokens_decoder":{"2":{"content":"<|im_end|>","special":true}}}`))
	f.Add([]byte{0x1a, 0x02, 0x18, 0x00}, []byte(`{"added_tokens_decoder":{"x":{"content":"<|im_end|>"}}}`))
	f.Add([]byte{0x1a, 0xff, 0xff, 0xff, 0xff, 0x0f}, []byte(`{"added_tokens_decoder":[1,2]}`))
	f.Fuzz(func(t *testing.T, model, tokcfg []byte) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "tokenizer.model"), model, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), tokcfg, 0o644); err != nil {
			t.Fatal(err)
		}
		_, _ = spmAddDummyPrefix(filepath.Join(dir, "tokenizer.model"))
		_, _ = addedTokenID(dir, "<|im_end|>", false)
		_, _ = addedTokenID(dir, "<|im_end|>", true)
	})
}

// TestInternVLUnmapWantsScale: an InternVL mmproj whose
// clip.vision.projector.scale_factor is 0 or missing used to join into a
// folder without downsample_ratio (its projector's input width unchecked);
// it is refused naming the key.
func TestInternVLUnmapWantsScale(t *testing.T) {
	f, c, err := gguf.Open(filepath.Join("..", "..", "testdata", "vlm-b", "internvl-ref", "mmproj-internvl-f16.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	v, err := LookupVision("internvl")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Unmap(f.Meta, f.Tensors); err != nil {
		t.Fatalf("the converter's mmproj: %v", err)
	}
	const key = "clip.vision.projector.scale_factor"
	for _, c := range []struct {
		set  func(m *gguf.Meta)
		want string
	}{
		{func(m *gguf.Meta) { m.Set(key, gguf.Uint32(0)) }, key + " is 0: want a positive integer"},
		{func(m *gguf.Meta) { m.Delete(key) }, key + " is missing"},
	} {
		m := f.Meta.Clone()
		c.set(m)
		if _, err := v.Unmap(m, f.Tensors); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("err = %v, want %q", err, c.want)
		}
	}
}
