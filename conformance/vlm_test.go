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
