// Package conformance runs shipped recipes on the conformance corpus and
// compares the results with what llama.cpp's own tools made of the same
// checkpoints: keys, tensor names, types, bytes, and logits.
package conformance

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
	"github.com/mlmf-run/mlmf-run/pipeline"
	"github.com/mlmf-run/mlmf-run/stages"
)

// runRecipe runs a shipped recipe with vars, as the CLI would.
func runRecipe(t *testing.T, name string, vars map[string]string) {
	t.Helper()
	root, err := corpus.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	if err := runRecipeFile(filepath.Join(root, "recipes", name), vars); err != nil {
		t.Fatal(err)
	}
}

// matchesReference reports every difference between the GGUF at out and a
// corpus *.gguf.json reference, but for the keys in ignore.
func matchesReference(t *testing.T, out, ref string, ignore ...string) {
	t.Helper()
	r, err := corpus.LoadReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	diffs, err := corpus.DiffGGUF(out, r, ignore...)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		t.Error(d)
	}
}

func runRecipeFile(path string, vars map[string]string) error {
	r, err := pipeline.Load(path, vars, stages.Registry())
	if err != nil {
		return err
	}
	_, err = pipeline.Run(context.Background(), r, pipeline.RunOptions{Threads: 2, Memory: 64 << 20})
	return err
}

// conversions are the corpus models and the reference GGUFs llama.cpp's
// converter wrote for them.
var conversions = []struct {
	model, typ, ref string
}{
	{"tiny-llama-spm", "F32", "tiny-llama-spm-ref/tiny-llama-spm-f32.gguf.json"},
	{"tiny-llama-spm", "F16", "tiny-llama-spm-ref/tiny-llama-spm-f16.gguf.json"},
	{"tiny-llama-spm", "BF16", "tiny-llama-spm-ref/tiny-llama-spm-bf16.gguf.json"},
	{"tiny-llama-spm", "Q8_0", "tiny-llama-spm-ref/tiny-llama-spm-q8_0.gguf.json"},
	{"tiny-llama-spm-bin", "F32", "tiny-llama-spm-ref/tiny-llama-spm-f32.gguf.json"},
	{"tiny-llama-spm-bin", "F16", "tiny-llama-spm-ref/tiny-llama-spm-f16.gguf.json"},
	{"tiny-llama-spm-bin", "BF16", "tiny-llama-spm-ref/tiny-llama-spm-bf16.gguf.json"},
	{"tiny-llama-spm-bin", "Q8_0", "tiny-llama-spm-ref/tiny-llama-spm-q8_0.gguf.json"},
	{"tiny-llama-bpe", "F16", "tiny-llama-bpe-ref/tiny-llama-bpe-f16.gguf.json"},
	{"tiny-llama-bpe", "Q8_0", "tiny-llama-bpe-ref/tiny-llama-bpe-q8_0.gguf.json"},
}

func TestConvertMatchesLlamaCpp(t *testing.T) {
	for _, c := range conversions {
		t.Run(c.model+"/"+c.typ, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.gguf")
			vars := map[string]string{"model": corpus.Path(t, c.model), "out": out, "type": c.typ}
			if strings.Contains(c.model, "bpe") {
				// The corpus BPE tokenizer is freshly trained: llama.cpp could
				// not name its pre-tokenizer either, and its reference was
				// given "llama-bpe" by hand.
				vars["pre"] = "llama-bpe"
			}
			runRecipe(t, "hf-to-gguf.yaml", vars)
			matchesReference(t, out, corpus.Path(t, c.ref), "general.name")
		})
	}
}

// quantizations are llama-quantize's outputs from the BF16 conversion: the
// mixes and the --pure files.
var quantizations = []struct {
	typ  string
	pure bool
}{
	{"Q8_0", false}, {"Q4_0", false}, {"Q4_1", false}, {"Q5_0", false}, {"Q5_1", false},
	{"Q2_K", false}, {"Q3_K_M", false}, {"Q4_K_S", false}, {"Q4_K_M", false}, {"Q5_K_M", false}, {"Q6_K", false},
	{"Q2_K", true}, {"Q3_K", true}, {"Q4_K", true}, {"Q5_K", true}, {"Q6_K", true},
}

func TestQuantizeMatchesLlamaQuantize(t *testing.T) {
	for _, q := range quantizations {
		name := q.typ
		if q.pure {
			name += "-pure"
		}
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out.gguf")
			vars := map[string]string{"model": corpus.Path(t, "tiny-llama-spm"), "out": out, "type": q.typ}
			recipe := "hf-to-gguf.yaml"
			if q.pure {
				recipe = "hf-to-gguf-pure.yaml"
			}
			runRecipe(t, recipe, vars)
			matchesReference(t, out, corpus.Path(t, "tiny-llama-spm-ref", "tiny-llama-spm-"+name+".gguf.json"), "general.name")
		})
	}
}

// TestOutputIndependentOfWorkers quantizes with one worker and a large
// budget, and with several workers and a budget so small that every tensor
// is cut into many chunks finishing out of order: the files must be equal.
func TestOutputIndependentOfWorkers(t *testing.T) {
	root := corpus.Root(t)
	var files [][]byte
	for _, opt := range []pipeline.RunOptions{{Threads: 1, Memory: 1 << 30}, {Threads: 5, Memory: 256 << 10}} {
		out := filepath.Join(t.TempDir(), "out.gguf")
		vars := map[string]string{"model": corpus.Path(t, "tiny-llama-spm"), "out": out, "type": "Q4_K_M"}
		r, err := pipeline.Load(filepath.Join(root, "recipes", "hf-to-gguf.yaml"), vars, stages.Registry())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pipeline.Run(context.Background(), r, opt); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, b)
	}
	if !bytes.Equal(files[0], files[1]) {
		t.Error("output depends on the worker count or chunking")
	}
}

// TestSafetensorsAndPickleGiveIdenticalFiles converts the sharded
// safetensors and the pickled copy of the same weights with one model name
// (the converter derives general.name from the folder, which differs) and
// the canonical tensor order (each source lists tensors in its own order,
// which the default keeps, as the converter does): the files must be equal
// byte for byte.
func TestSafetensorsAndPickleGiveIdenticalFiles(t *testing.T) {
	for _, typ := range []string{"F32", "F16", "BF16", "Q8_0"} {
		var files [][]byte
		for _, m := range []string{"tiny-llama-spm", "tiny-llama-spm-bin"} {
			out := filepath.Join(t.TempDir(), "out.gguf")
			runRecipe(t, "hf-to-gguf.yaml", map[string]string{"model": corpus.Path(t, m), "out": out, "type": typ, "name": "Tiny Llama Spm", "order": "canonical"})
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, b)
		}
		if !bytes.Equal(files[0], files[1]) {
			t.Errorf("%s: the safetensors and pickle sources give different files", typ)
		}
	}
}

// TestWholeFileMatchesConverter: with the converter's own general.name, a
// conversion is the very file convert_hf_to_gguf.py wrote, header, key
// order, tensor order, padding and all.
func TestWholeFileMatchesConverter(t *testing.T) {
	for _, c := range []struct{ model, typ, ref, name, pre string }{
		{"tiny-llama-spm", "F32", "tiny-llama-spm-ref/tiny-llama-spm-f32.gguf", "Tiny Llama Spm", ""},
		{"tiny-llama-spm", "F16", "tiny-llama-spm-ref/tiny-llama-spm-f16.gguf", "Tiny Llama Spm", ""},
		{"tiny-llama-spm", "BF16", "tiny-llama-spm-ref/tiny-llama-spm-bf16.gguf", "Tiny Llama Spm", ""},
		{"tiny-llama-spm", "Q8_0", "tiny-llama-spm-ref/tiny-llama-spm-q8_0.gguf", "Tiny Llama Spm", ""},
		{"tiny-llama-bpe", "F16", "tiny-llama-bpe-ref/tiny-llama-bpe-f16.gguf", "Tiny Llama Bpe", "llama-bpe"},
		{"tiny-llama-bpe", "Q8_0", "tiny-llama-bpe-ref/tiny-llama-bpe-q8_0.gguf", "Tiny Llama Bpe", "llama-bpe"},
	} {
		out := filepath.Join(t.TempDir(), "out.gguf")
		runRecipe(t, "hf-to-gguf.yaml", map[string]string{"model": corpus.Path(t, c.model), "out": out, "type": c.typ, "name": c.name, "pre": c.pre})
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(corpus.Path(t, c.ref))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s %s: not the file convert_hf_to_gguf.py wrote", c.model, c.typ)
		}
	}
}
