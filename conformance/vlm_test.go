package conformance

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

// runVLM runs vlm-to-gguf on the corpus SmolVLM and returns the text and
// mmproj paths.
func runVLM(t *testing.T, vars map[string]string) (text, mmproj string) {
	t.Helper()
	dir := t.TempDir()
	text, mmproj = filepath.Join(dir, "text.gguf"), filepath.Join(dir, "mmproj.gguf")
	all := map[string]string{"model": corpus.Path(t, "tiny-smolvlm"), "out": text, "mmproj": mmproj}
	for k, v := range vars {
		all[k] = v
	}
	runRecipe(t, "vlm-to-gguf.yaml", all)
	return text, mmproj
}

// TestVLMProjectorIsTheConverters: the mmproj file is byte for byte what
// convert_hf_to_gguf.py --mmproj wrote for the corpus SmolVLM: keys and
// values in order, tensor names, types, order, data and padding.
func TestVLMProjectorIsTheConverters(t *testing.T) {
	_, mmproj := runVLM(t, map[string]string{"type": "F16"})
	ref := corpus.Path(t, "tiny-smolvlm-ref", "mmproj-tiny-smolvlm-f16.gguf")
	matchesReference(t, mmproj, ref+".json")
	got, err := os.ReadFile(mmproj)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(ref)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("mmproj differs from the converter's file (%d bytes, want %d)", len(got), len(want))
	}
}

// TestVLMTextFollowsTheLlamaReference checks the text GGUF against what
// the corpus can judge without a converter reference for this checkpoint
// (convert_hf_to_gguf.py refuses it: its text_config names no
// architectures, where Hub SmolVLMs say VLlama3ForCausalLM). Its text model
// is configured as tiny-llama-spm and shares its tokenizer.model, so every
// key must be the converter's for tiny-llama-spm but the folder's name, the
// 512-token context and the chat template tiny-smolvlm has none of; every
// tensor must have the reference's name, type, shape and place. The data
// (other random weights) is not judged here.
func TestVLMTextFollowsTheLlamaReference(t *testing.T) {
	text, _ := runVLM(t, map[string]string{"type": "F16"})
	r, err := corpus.LoadReference(corpus.Path(t, "tiny-llama-spm-ref", "tiny-llama-spm-f16.gguf.json"))
	if err != nil {
		t.Fatal(err)
	}
	diffs, err := corpus.DiffGGUF(text, r, "general.name", "llama.context_length", "tokenizer.chat_template")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		if !strings.HasSuffix(d, "data differs") {
			t.Error(d)
		}
	}
	f, c, err := gguf.Open(text)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	in, err := gguf.Describe(f, false)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]any{}
	for _, k := range in.Metadata {
		keys[k.Key] = k.Value
	}
	for k, want := range map[string]any{"general.name": "Tiny Smolvlm", "llama.context_length": uint32(512)} {
		if keys[k] != want {
			t.Errorf("%s = %v (%T), want %v", k, keys[k], keys[k], want)
		}
	}
	if _, ok := keys["tokenizer.chat_template"]; ok {
		t.Error("tokenizer.chat_template written, but tiny-smolvlm has no chat template")
	}
	var order []string
	for _, ti := range in.Tensors {
		order = append(order, ti.Name)
	}
	if !reflect.DeepEqual(order, smolvlmTextOrder) {
		t.Errorf("tensor order %v\nwant %v", order, smolvlmTextOrder)
	}
}

// smolvlmTextOrder is the converter's order for the corpus SmolVLM's text
// model: it writes tensors in the checkpoint's order (model.safetensors
// holds them sorted by HF name, as the mmproj reference's order shows for
// the vision half): lm_head, then model.text_model.* by name.
var smolvlmTextOrder = []string{"output.weight", "token_embd.weight",
	"blk.0.attn_norm.weight", "blk.0.ffn_down.weight", "blk.0.ffn_gate.weight", "blk.0.ffn_up.weight", "blk.0.ffn_norm.weight",
	"blk.0.attn_k.weight", "blk.0.attn_output.weight", "blk.0.attn_q.weight", "blk.0.attn_v.weight",
	"blk.1.attn_norm.weight", "blk.1.ffn_down.weight", "blk.1.ffn_gate.weight", "blk.1.ffn_up.weight", "blk.1.ffn_norm.weight",
	"blk.1.attn_k.weight", "blk.1.attn_output.weight", "blk.1.attn_q.weight", "blk.1.attn_v.weight",
	"output_norm.weight"}

// TestVLMProjectorTypes checks the converter's type rules for a projector
// at each --outtype (conversion/base.py prepare_tensors and the
// tensor_force_quant of MmprojModel and SmolVLMModel): 1-D tensors, norms
// and biases stay F32, every ".embeddings." tensor (patch and position)
// F32, the other matrices take the requested type; general.file_type is
// the outtype's. Only the F16 file has a corpus reference; Q8_0 rows are
// ggml's quantizer, judged on the text conversions.
func TestVLMProjectorTypes(t *testing.T) {
	for _, c := range []struct {
		typ, matrices string
		fileType      uint32
	}{{"F32", "F32", 0}, {"F16", "F16", 1}, {"BF16", "BF16", 32}, {"Q8_0", "Q8_0", 7}} {
		t.Run(c.typ, func(t *testing.T) {
			_, mmproj := runVLM(t, map[string]string{"type": c.typ})
			checkProjectorTypes(t, mmproj, c.matrices, c.fileType)
		})
	}
	t.Run("Q4_K_M-text", func(t *testing.T) {
		text, mmproj := runVLM(t, map[string]string{"type": "Q4_K_M", "mmproj_type": "Q8_0"})
		checkProjectorTypes(t, mmproj, "Q8_0", 7)
		f, c, err := gguf.Open(text)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if ft, _ := f.Meta.Uint("general.file_type"); ft != 15 {
			t.Errorf("text general.file_type = %d, want 15 (Q4_K_M)", ft)
		}
	})
}

func checkProjectorTypes(t *testing.T, path, matrices string, fileType uint32) {
	t.Helper()
	f, c, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	in, err := gguf.Describe(f, false)
	if err != nil {
		t.Fatal(err)
	}
	if ft, _ := f.Meta.Uint("general.file_type"); ft != uint64(fileType) {
		t.Errorf("general.file_type = %d, want %d", ft, fileType)
	}
	for _, ti := range in.Tensors {
		want := matrices
		if len(ti.Shape) == 1 || strings.Contains(ti.Name, "_embd.") {
			want = "F32"
		}
		if ti.DType != want {
			t.Errorf("%s %v: %s, want %s", ti.Name, ti.Shape, ti.DType, want)
		}
	}
}

// TestVLMProjectorTypeRefused: llama.cpp writes no projector in a
// llama-quantize type, so a Q4_K_M run must say which var to set rather
// than pick a type.
func TestVLMProjectorTypeRefused(t *testing.T) {
	dir := t.TempDir()
	vars := map[string]string{"model": corpus.Path(t, "tiny-smolvlm"), "out": filepath.Join(dir, "t.gguf"),
		"mmproj": filepath.Join(dir, "m.gguf"), "type": "Q4_K_M"}
	err := runRecipeFile(filepath.Join(corpus.Root(t), "recipes", "vlm-to-gguf.yaml"), vars)
	if err == nil || !strings.Contains(err.Error(), "mmproj_type") {
		t.Fatalf("err = %v, want one naming mmproj_type", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("a refused run left %d files", len(ents))
	}
}

// TestVLMConnectorMismatch: a config whose scale_factor does not fit the
// connector is refused at plan time, naming the tensor and both sizes, and
// nothing is written.
func TestVLMConnectorMismatch(t *testing.T) {
	src := corpus.Path(t, "tiny-smolvlm")
	model := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if err := os.Symlink(filepath.Join(src, e.Name()), filepath.Join(model, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(model, "config.json"))
	cfg = bytes.Replace(cfg, []byte(`"scale_factor": 2`), []byte(`"scale_factor": 3`), 1)
	if err := os.WriteFile(filepath.Join(model, "config.json"), cfg, 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	err = runRecipeFile(filepath.Join(corpus.Root(t), "recipes", "vlm-to-gguf.yaml"), map[string]string{
		"model": model, "out": filepath.Join(out, "t.gguf"), "mmproj": filepath.Join(out, "m.gguf")})
	want := "model.connector.modality_projection.proj.weight has 256 in dimension 1 but the config gives n_embd * scale * scale = 576"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v\nwant %q", err, want)
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Errorf("a refused run left %d files", len(ents))
	}
}

// TestVLMRoundTrip: text GGUF + mmproj -> one HF vision-language folder
// (vlm-gguf-to-hf) -> text GGUF + mmproj (vlm-to-gguf) gives both files
// back byte for byte, so the folder's config.json, vision_config and
// preprocessor_config.json carry everything the converter reads. F32
// tensors in the folder keep every value; the tokenizer files come from the
// corpus folder, as GGUF -> HF copies them.
func TestVLMRoundTrip(t *testing.T) {
	text, mmproj := runVLM(t, map[string]string{"type": "F16"})
	hf := filepath.Join(t.TempDir(), "hf")
	runRecipe(t, "vlm-gguf-to-hf.yaml", map[string]string{"model": text, "mmproj": mmproj, "out": hf,
		"dtype": "F32", "image_token_id": "500", "tokenizer": corpus.Path(t, "tiny-smolvlm")})
	dir := t.TempDir()
	text2, mmproj2 := filepath.Join(dir, "text.gguf"), filepath.Join(dir, "mmproj.gguf")
	runRecipe(t, "vlm-to-gguf.yaml", map[string]string{"model": hf, "out": text2, "mmproj": mmproj2, "name": "Tiny Smolvlm"})
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
}
