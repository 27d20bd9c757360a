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
	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

// runRecipeErr runs a shipped recipe, or inline recipe text when name holds
// a newline, and returns its error.
func runRecipeErr(t *testing.T, name string, vars map[string]string) error {
	t.Helper()
	var r *pipeline.Recipe
	var err error
	if strings.Contains(name, "\n") {
		r, err = pipeline.Parse("inline.yaml", []byte(name), vars, stages.Registry())
	} else {
		root, rerr := corpus.ModuleRoot()
		if rerr != nil {
			t.Fatal(rerr)
		}
		r, err = pipeline.Load(filepath.Join(root, "recipes", name), vars, stages.Registry())
	}
	if err != nil {
		return err
	}
	_, err = pipeline.Run(context.Background(), r, pipeline.RunOptions{Threads: 2, Memory: 64 << 20})
	return err
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// mergeRecipe merges a split set (or copies a GGUF) through the engine.
const mergeRecipe = `version: 1
vars: {model: null, out: null}
stages:
  - {id: src, kind: load, with: {path: "${model}"}}
  - {id: out, kind: export, inputs: [src], with: {format: gguf, path: "${out}"}}
`

// shardRecipe splits a GGUF with the shard stage; PARAMS is replaced by the split rule.
const shardRecipe = `version: 1
vars: {model: null, out: null}
stages:
  - {id: src, kind: load, with: {path: "${model}"}}
  - {id: out, kind: shard, inputs: [src], with: {path: "${out}", PARAMS}}
`

// splitRecipe splits a GGUF (or a split set) with the export stage.
const splitRecipe = `version: 1
vars: {model: null, out: null, size: "", tensors: 0}
stages:
  - {id: src, kind: load, with: {path: "${model}"}}
  - {id: out, kind: export, inputs: [src], with: {format: gguf, path: "${out}", split_max_size: "${size}", split_max_tensors: "${tensors}"}}
`

func openGGUF(t *testing.T, path string) *gguf.File {
	t.Helper()
	f, c, err := gguf.Open(path)
	must(t, err)
	t.Cleanup(func() { c.Close() })
	return f
}

func readAll(t *testing.T, d *tensor.Desc) []byte {
	t.Helper()
	b, err := tensor.ReadAll(d)
	must(t, err)
	return b
}

// TestSplitMatchesGGUFSplit splits one conversion by size and by tensor
// count with llama.cpp's llama-gguf-split and with the engine (re-splitting
// the GGUF with export and with shard, and converting from Hugging Face in
// one pass): every file of each set must be the tool's, byte for byte. The
// set must also read back as the unsplit file's tensors and merge back into
// the unsplit file.
func TestSplitMatchesGGUFSplit(t *testing.T) {
	ggufSplit := llamaTool(t, "llama-gguf-split")
	dir := t.TempDir()
	single := filepath.Join(dir, "single.gguf")
	model := corpus.Path(t, "tiny-llama-spm")
	runRecipe(t, "hf-to-gguf.yaml", map[string]string{"model": model, "out": single, "type": "F32"})
	whole := openGGUF(t, single)
	for _, c := range []struct {
		name, size, tensors string
		shard               string // the shard stage's parameters
		toolArgs            []string
	}{
		{"size-1M", "1M", "0", "by: size, max_size: 1M", []string{"--split-max-size", "1M"}},
		{"tensors-5", "", "5", "by: tensors, max_tensors: 5", []string{"--split-max-tensors", "5"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ref := filepath.Join(t.TempDir(), "ref")
			runTool(t, ggufSplit, append(append([]string{"--split"}, c.toolArgs...), single, ref)...)
			want, err := filepath.Glob(ref + "-*-of-*.gguf")
			must(t, err)
			if len(want) < 2 {
				t.Fatalf("llama-gguf-split made %v; pick a limit that splits", want)
			}
			resplit := filepath.Join(t.TempDir(), "tiny.gguf")
			must(t, runRecipeErr(t, splitRecipe, map[string]string{"model": single, "out": resplit, "size": c.size, "tensors": c.tensors}))
			onePass := filepath.Join(t.TempDir(), "tiny.gguf")
			runRecipe(t, "hf-to-gguf.yaml", map[string]string{"model": model, "out": onePass, "type": "F32",
				"split_max_size": c.size, "split_max_tensors": c.tensors})
			sharded := filepath.Join(t.TempDir(), "tiny.gguf")
			must(t, runRecipeErr(t, strings.Replace(shardRecipe, "PARAMS", c.shard, 1), map[string]string{"model": single, "out": sharded}))
			for _, out := range []string{resplit, onePass, sharded} {
				sameFiles(t, strings.TrimSuffix(out, ".gguf"), ref, len(want))
			}
			prefix := strings.TrimSuffix(onePass, ".gguf")
			set, cl, err := gguf.OpenSet(gguf.SplitPath(prefix, 0, len(want)))
			must(t, err)
			defer cl.Close()
			if len(set.Tensors) != len(whole.Tensors) {
				t.Fatalf("set holds %d tensors, want %d", len(set.Tensors), len(whole.Tensors))
			}
			for i, d := range set.Tensors {
				w := whole.Tensors[i]
				if d.Name != w.Name || d.DType != w.DType || !bytes.Equal(readAll(t, d), readAll(t, w)) {
					t.Fatalf("tensor %d: %v, want %v with the same bytes", i, d, w)
				}
			}
			// Merging the set gives back the unsplit file, byte for byte.
			merged := filepath.Join(t.TempDir(), "merged.gguf")
			must(t, runRecipeErr(t, mergeRecipe, map[string]string{"model": gguf.SplitPath(prefix, 0, len(want)), "out": merged}))
			a, err := os.ReadFile(merged)
			must(t, err)
			b, err := os.ReadFile(single)
			must(t, err)
			if !bytes.Equal(a, b) {
				t.Fatal("merged split set differs from the unsplit conversion")
			}
		})
	}
}

// sameFiles compares the split set at prefix with llama-gguf-split's n
// files at ref: as many files, each the same bytes.
func sameFiles(t *testing.T, prefix, ref string, n int) {
	t.Helper()
	got, err := filepath.Glob(prefix + "-*-of-*.gguf")
	must(t, err)
	if len(got) != n {
		t.Fatalf("%d files at %s (%v), llama-gguf-split wrote %d", len(got), prefix, got, n)
	}
	for i := 0; i < n; i++ {
		got, err := os.ReadFile(gguf.SplitPath(prefix, i, n))
		must(t, err)
		want, err := os.ReadFile(gguf.SplitPath(ref, i, n))
		must(t, err)
		if !bytes.Equal(got, want) {
			at := 0
			for at < min(len(got), len(want)) && got[at] == want[at] {
				at++
			}
			t.Errorf("%s differs from llama-gguf-split's file: %d bytes against %d, first difference at byte %d",
				gguf.SplitPath(prefix, i, n), len(got), len(want), at)
		}
	}
}

func tensorNamed(f *gguf.File, name string) *tensor.Desc {
	for _, d := range f.Tensors {
		if d.Name == name {
			return d
		}
	}
	return nil
}

// TestGGUFToHFRoundTrip converts each corpus model to an F32 GGUF (split,
// for one of them) and back to a Hugging Face folder in the checkpoint's
// own dtype: every tensor must come back bit-identical under its name, the
// config must keep the architecture's values, and the shards must respect
// the limit.
func TestGGUFToHFRoundTrip(t *testing.T) {
	for _, c := range []struct{ model, dtype, split string }{
		{"tiny-llama-spm", "BF16", ""}, {"tiny-llama-spm", "BF16", "1M"}, {"tiny-llama-bpe", "F16", ""},
	} {
		t.Run(c.model+"/"+c.split, func(t *testing.T) {
			dir := t.TempDir()
			model := corpus.Path(t, c.model)
			vars := map[string]string{"model": model, "out": filepath.Join(dir, "m.gguf"), "type": "F32", "split_max_size": c.split}
			if strings.Contains(c.model, "bpe") {
				vars["pre"] = "llama-bpe"
			}
			runRecipe(t, "hf-to-gguf.yaml", vars)
			first := filepath.Join(dir, "m.gguf")
			if c.split != "" {
				ms, _ := filepath.Glob(filepath.Join(dir, "m-00001-of-*.gguf"))
				if len(ms) != 1 {
					t.Fatalf("first split: %v", ms)
				}
				first = ms[0]
			}
			out := filepath.Join(dir, "hf")
			runRecipe(t, "gguf-to-hf.yaml", map[string]string{"model": first, "out": out, "dtype": c.dtype,
				"max_shard_size": "1MB", "tokenizer": model})
			sameTensors(t, model, out)
			checkShards(t, out, 1_000_000)
			checkConfig(t, model, out)
			for _, f := range []string{"generation_config.json", "tokenizer_config.json"} {
				a, err := os.ReadFile(filepath.Join(model, f))
				must(t, err)
				b, err := os.ReadFile(filepath.Join(out, f))
				if err != nil || !bytes.Equal(a, b) {
					t.Errorf("%s not copied verbatim: %v", f, err)
				}
			}
		})
	}
}

// TestSplitSetErrors breaks a split set on disk and runs recipes that read
// it: each must fail before writing anything, naming the offending file.
func TestSplitSetErrors(t *testing.T) {
	model := corpus.Path(t, "tiny-llama-spm")
	src := t.TempDir()
	runRecipe(t, "hf-to-gguf.yaml", map[string]string{"model": model, "out": filepath.Join(src, "m.gguf"), "type": "F32", "split_max_tensors": "8"})
	ms, _ := filepath.Glob(filepath.Join(src, "m-*-of-*.gguf"))
	if len(ms) != 3 {
		t.Fatalf("want a set of 3 files, got %v", ms)
	}
	part := func(dir string, i int) string { return gguf.SplitPath(filepath.Join(dir, "m"), i, 3) }
	for _, c := range []struct {
		name   string
		break_ func(dir string) error
		names  func(dir string) string
	}{
		{"missing", func(d string) error { return os.Remove(part(d, 1)) }, func(d string) string { return part(d, 1) }},
		{"extra", func(d string) error { return copyFile(part(d, 2), gguf.SplitPath(filepath.Join(d, "m"), 3, 3)) },
			func(d string) string { return gguf.SplitPath(filepath.Join(d, "m"), 3, 3) }},
		{"reordered", func(d string) error {
			tmp := filepath.Join(d, "tmp")
			if err := os.Rename(part(d, 1), tmp); err != nil {
				return err
			}
			if err := os.Rename(part(d, 2), part(d, 1)); err != nil {
				return err
			}
			return os.Rename(tmp, part(d, 2))
		}, func(d string) string { return part(d, 1) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, m := range ms {
				must(t, copyFile(m, filepath.Join(dir, filepath.Base(m))))
			}
			must(t, c.break_(dir))
			for _, recipe := range []string{mergeRecipe, "gguf-to-hf.yaml"} {
				out := filepath.Join(t.TempDir(), "out.gguf")
				err := runRecipeErr(t, recipe, map[string]string{"model": part(dir, 0), "out": out})
				if err == nil || !strings.Contains(err.Error(), c.names(dir)) {
					t.Errorf("%s: error %v, want one naming %s", recipe[:min(len(recipe), 20)], err, c.names(dir))
				}
				if _, serr := os.Stat(out); serr == nil {
					t.Errorf("output written despite the error")
				}
			}
		})
	}
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o644)
}

// TestSplitLogits loads split conversions into llama.cpp (by size, by
// tensor count, and the layer-balanced parts): each must compute exactly
// the logits of the unsplit file, which is itself held to the transformers
// reference.
func TestSplitLogits(t *testing.T) {
	bin, script := harness(t)
	model := corpus.Path(t, "tiny-llama-spm")
	ref := corpus.Path(t, "tiny-llama-spm", "reference_logits.json")
	ids := referenceTokens(t, ref)
	dir := t.TempDir()
	single := filepath.Join(dir, "single.gguf")
	runRecipe(t, "hf-to-gguf.yaml", map[string]string{"model": model, "out": single, "type": "F32"})
	want := logits(t, bin, single, ids)
	runRecipe(t, "hf-to-gguf.yaml", map[string]string{"model": model, "out": filepath.Join(dir, "size.gguf"), "type": "F32", "split_max_size": "1M"})
	runRecipe(t, "hf-to-gguf.yaml", map[string]string{"model": model, "out": filepath.Join(dir, "count.gguf"), "type": "F32", "split_max_tensors": "7"})
	must(t, runRecipeErr(t, layersRecipe, map[string]string{"model": single, "out": filepath.Join(dir, "pp.gguf")}))
	for _, prefix := range []string{"size", "count", "pp"} {
		ms, _ := filepath.Glob(filepath.Join(dir, prefix+"-00001-of-*.gguf"))
		if len(ms) != 1 {
			t.Fatalf("%s: first split %v", prefix, ms)
		}
		if got := logits(t, bin, ms[0], ids); got != want {
			t.Errorf("%s: llama.cpp computes other logits from the split set than from the single file", ms[0])
		}
		r := checkLogits(t, bin, script, ms[0], ref)
		if r.rel > 0.002 || r.agree != r.total {
			t.Errorf("%s: rel diff %.5f (max 0.002), argmax %d/%d", ms[0], r.rel, r.agree, r.total)
		}
	}
}
