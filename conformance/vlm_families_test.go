package conformance

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
)

// vlmFamilies are testdata/vlm's checkpoints (scripts/make-vlm-refs.py):
// each family as Hub checkpoints hold it, and its transformers-5 twin
// (<name>-t5: the same weights under model.language_model / model.visual /
// model.vision_tower, text_config nested). The converter's projector files
// are references for the Hub folders only: its --mmproj filters drop every
// vision tensor of the transformers-5 names, so a twin's projector must be
// its Hub folder's (but for general.name, which comes from the folder).
var vlmFamilies = []string{"gemma3", "qwen2vl", "qwen25vl"}

func vlmDir(t *testing.T) string {
	t.Helper()
	return filepath.Join(corpus.Root(t), "testdata", "vlm")
}

// runFamily runs vlm-to-gguf on testdata/vlm/<name> and returns the text
// and mmproj paths.
func runFamily(t *testing.T, name string, vars map[string]string) (text, mmproj string) {
	t.Helper()
	dir := t.TempDir()
	text, mmproj = filepath.Join(dir, "text.gguf"), filepath.Join(dir, "mmproj.gguf")
	all := map[string]string{"model": filepath.Join(vlmDir(t), name), "out": text, "mmproj": mmproj}
	for k, v := range vars {
		all[k] = v
	}
	runRecipe(t, "vlm-to-gguf.yaml", all)
	return text, mmproj
}

// TestVLMFamiliesMatchConverter: for Gemma 3, Qwen2-VL and Qwen2.5-VL, one
// vlm-to-gguf run writes the text GGUF convert_hf_to_gguf.py writes and the
// projector convert_hf_to_gguf.py --mmproj writes at each output type (F32,
// F16, BF16, Q8_0: the Conv3d split into two kernels, QKV split, window
// attention pattern, Gemma 3's pooling factor and forced F16 projection,
// Q8_0 rows that fill no block kept F16), keys, order, types and bytes.
func TestVLMFamiliesMatchConverter(t *testing.T) {
	root := vlmDir(t)
	for _, name := range vlmFamilies {
		for _, typ := range []string{"f32", "f16", "bf16", "q8_0"} {
			t.Run(name+"/"+typ, func(t *testing.T) {
				text, mmproj := runFamily(t, name, map[string]string{"type": strings.ToUpper(typ)})
				matchesReference(t, mmproj, filepath.Join(root, name+"-ref", "mmproj-"+name+"-"+typ+".gguf.json"))
				if typ == "f16" {
					matchesConverter(t, text, filepath.Join(root, name+"-ref", name+"-f16.gguf.json"), filepath.Join(root, name))
				}
			})
		}
		t.Run(name+"/Q4_K_M-text", func(t *testing.T) {
			_, mmproj := runFamily(t, name, map[string]string{"type": "Q4_K_M", "mmproj_type": "Q8_0"})
			matchesReference(t, mmproj, filepath.Join(root, name+"-ref", "mmproj-"+name+"-q8_0.gguf.json"))
		})
	}
}

// TestVLMFamiliesTransformers5Layout: the transformers-5 twins give the
// converter's text file for the twin and the Hub folder's projector file,
// byte for byte but general.name (the folder's name).
func TestVLMFamiliesTransformers5Layout(t *testing.T) {
	root := vlmDir(t)
	for _, name := range vlmFamilies {
		t.Run(name, func(t *testing.T) {
			text, mmproj := runFamily(t, name+"-t5", map[string]string{"type": "F16"})
			matchesConverter(t, text, filepath.Join(root, name+"-t5-ref", name+"-t5-f16.gguf.json"), filepath.Join(root, name+"-t5"))
			matchesReference(t, mmproj, filepath.Join(root, name+"-ref", "mmproj-"+name+"-f16.gguf.json"), "general.name")
			// what the converter itself wrote for the twin: no vision tensor
			r, err := corpus.LoadReference(filepath.Join(root, name+"-t5-ref", "mmproj-"+name+"-t5-converter-f16.gguf.json"))
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Tensors) != 0 {
				t.Errorf("the converter now writes %d tensors for the transformers-5 layout: make it the reference", len(r.Tensors))
			}
		})
	}
}

// TestVLMFamiliesRoundTrip: text GGUF + mmproj -> one HF folder
// (vlm-gguf-to-hf) -> text GGUF + mmproj gives both files back byte for
// byte: the Conv3d and QKV joined again, the computed keys (Gemma 3's
// pooling factor, Qwen2.5-VL's window pattern, Qwen2-VL's renamed widths)
// written back to the config entries the converter reads.
func TestVLMFamiliesRoundTrip(t *testing.T) {
	root := vlmDir(t)
	for _, name := range vlmFamilies {
		t.Run(name, func(t *testing.T) {
			text, mmproj := runFamily(t, name, map[string]string{"type": "F16"})
			hf := filepath.Join(t.TempDir(), name)
			runRecipe(t, "vlm-gguf-to-hf.yaml", map[string]string{"model": text, "mmproj": mmproj, "out": hf,
				"dtype": "F32", "image_token_id": "500", "tokenizer": filepath.Join(root, name)})
			text2, mmproj2 := runFamily(t, "", map[string]string{"model": hf, "type": "F16", "name": title(name)})
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
		})
	}
}

// title is the general.name the converter derives from a folder name.
func title(name string) string {
	return map[string]string{"gemma3": "Gemma3", "qwen2vl": "Qwen2Vl", "qwen25vl": "Qwen25Vl"}[name]
}

// TestVLMFamiliesConnectorMismatch: a vision_config whose width does not
// fit the tensors is refused at plan time, naming the tensor, its size and
// the config's, and nothing is written.
func TestVLMFamiliesConnectorMismatch(t *testing.T) {
	for _, c := range []struct{ name, from, to, want string }{
		{"gemma3", `"hidden_size": 32`, `"hidden_size": 48`,
			"multi_modal_projector.mm_input_projection_weight has 32 in dimension 0 but the config gives n_embd = 48"},
		{"qwen25vl", `"hidden_size": 32`, `"hidden_size": 40`,
			"visual.blocks.0.attn.proj.weight has 32 in dimension 0 but the config gives n_embd = 40"},
		{"qwen2vl", `"embed_dim": 48`, `"embed_dim": 40`,
			"visual.blocks.0.attn.proj.weight has 48 in dimension 0 but the config gives n_embd = 40"},
		{"qwen25vl", `"fullatt_block_indexes": [
      1,
      3
    ]`, `"fullatt_block_indexes": [1, 2]`, "fullatt_block_indexes [1 2]: not one block in every 2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			src := filepath.Join(vlmDir(t), c.name)
			model := t.TempDir()
			ents, err := os.ReadDir(src)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ents {
				if e.Name() != "config.json" {
					if err := os.Symlink(filepath.Join(src, e.Name()), filepath.Join(model, e.Name())); err != nil {
						t.Fatal(err)
					}
				}
			}
			cfg, err := os.ReadFile(filepath.Join(src, "config.json"))
			if err != nil {
				t.Fatal(err)
			}
			edited := bytes.Replace(cfg, []byte(c.from), []byte(c.to), 1)
			if bytes.Equal(edited, cfg) {
				t.Fatalf("config.json has no %s", c.from)
			}
			if err := os.WriteFile(filepath.Join(model, "config.json"), edited, 0o644); err != nil {
				t.Fatal(err)
			}
			out := t.TempDir()
			err = runRecipeFile(filepath.Join(corpus.Root(t), "recipes", "vlm-to-gguf.yaml"), map[string]string{
				"model": model, "out": filepath.Join(out, "t.gguf"), "mmproj": filepath.Join(out, "m.gguf")})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v\nwant %q", err, c.want)
			}
			if ents, _ := os.ReadDir(out); len(ents) != 0 {
				t.Errorf("a refused run left %d files", len(ents))
			}
		})
	}
}
