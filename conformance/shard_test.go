package conformance

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
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

// expectSplit is gguf-split's plan, restated from tools/gguf-split: tensors
// in order; by size, a tensor's size padded to 32 counts and a new file
// starts when the next tensor would take the current one over the limit; by
// count, a new file starts at every multiple of n.
func expectSplit(ts []*tensor.Desc, maxBytes int64, maxTensors int) [][]string {
	var groups [][]string
	var cur int64
	for i, d := range ts {
		n := (d.NBytes() + 31) / 32 * 32
		split := i > 0 && ((maxBytes > 0 && cur+n > maxBytes) || (maxTensors > 0 && i%maxTensors == 0))
		if i == 0 || split {
			groups = append(groups, nil)
			cur = 0
		}
		cur += n
		groups[len(groups)-1] = append(groups[len(groups)-1], d.Name)
	}
	return groups
}

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

func TestSplitMatchesGGUFSplit(t *testing.T) {
	dir := t.TempDir()
	single := filepath.Join(dir, "single.gguf")
	model := corpus.Path(t, "tiny-llama-spm")
	runRecipe(t, "hf-to-gguf.yaml", map[string]string{"model": model, "out": single, "type": "F32"})
	whole := openGGUF(t, single)
	for _, c := range []struct {
		name, size, tensors string
		maxBytes            int64
		maxTensors          int
	}{
		{"size-1M", "1M", "0", 1_000_000, 0},
		{"tensors-5", "", "5", 0, 5},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "tiny.gguf")
			runRecipe(t, "hf-to-gguf.yaml", map[string]string{"model": model, "out": out, "type": "F32",
				"split_max_size": c.size, "split_max_tensors": c.tensors})
			want := expectSplit(whole.Tensors, c.maxBytes, c.maxTensors)
			if len(want) < 2 {
				t.Fatalf("test limit gives %d files; pick one that splits", len(want))
			}
			prefix := strings.TrimSuffix(out, ".gguf")
			for i, names := range want {
				checkPart(t, whole, gguf.SplitPath(prefix, i, len(want)), i, len(want), names)
			}
			if _, err := os.Stat(gguf.SplitPath(prefix, len(want), len(want)+1)); err == nil {
				t.Fatal("more files than gguf-split writes")
			}
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

// checkPart checks one split file against gguf-split's layout: the first
// carries every key of the unsplit file in order, each file then ends with
// split.no, split.tensors.count and split.count (UINT16, INT32, UINT16);
// the others hold only those three; tensors in the planned order with the
// unsplit file's bytes at 32-aligned offsets.
func checkPart(t *testing.T, whole *gguf.File, path string, i, n int, names []string) {
	t.Helper()
	f := openGGUF(t, path)
	var wantKeys []string
	if i == 0 {
		wantKeys = keyOrder(whole.Meta)
	}
	wantKeys = append(wantKeys, gguf.KeySplitNo, gguf.KeySplitTensorsCount, gguf.KeySplitCount)
	if got := keyOrder(f.Meta); strings.Join(got, ",") != strings.Join(wantKeys, ",") {
		t.Fatalf("%s keys\n got %v\nwant %v", path, got, wantKeys)
	}
	for _, kv := range whole.Meta.All() {
		if v, _ := f.Meta.Get(kv.Key); i == 0 && (v.Type != kv.Value.Type || !sameValue(v.V, kv.Value.V)) {
			t.Fatalf("%s: key %s = %v, want %v", path, kv.Key, v, kv.Value)
		}
	}
	for _, kv := range []struct {
		key string
		typ gguf.ValueType
		v   any
	}{
		{gguf.KeySplitNo, gguf.TypeUint16, uint16(i)}, {gguf.KeySplitCount, gguf.TypeUint16, uint16(n)},
		{gguf.KeySplitTensorsCount, gguf.TypeInt32, int32(len(whole.Tensors))},
	} {
		v, _ := f.Meta.Get(kv.key)
		if v.Type != kv.typ || v.V != kv.v {
			t.Fatalf("%s: %s = %v %v, want %v %v", path, kv.key, v.Type, v.V, kv.typ, kv.v)
		}
	}
	if len(f.Tensors) != len(names) {
		t.Fatalf("%s: %d tensors, want %d", path, len(f.Tensors), len(names))
	}
	var off int64
	for j, d := range f.Tensors {
		w := tensorNamed(whole, names[j])
		if d.Name != names[j] || f.Offsets[j] != off || !bytes.Equal(readAll(t, d), readAll(t, w)) {
			t.Fatalf("%s: tensor %d is %s at %d, want %s at %d with the unsplit bytes", path, j, d.Name, f.Offsets[j], names[j], off)
		}
		off += (d.NBytes() + 31) / 32 * 32
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

// keyOrder lists a file's keys in file order.
func keyOrder(m *gguf.Meta) []string {
	var out []string
	for _, kv := range m.All() {
		out = append(out, kv.Key)
	}
	return out
}

func sameValue(a, b any) bool { return reflect.DeepEqual(a, b) }

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
