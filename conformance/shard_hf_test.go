package conformance

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
	"github.com/mlmf-run/mlmf-run/tensor/safetensors"
)

// sameTensors compares every tensor of two HF folders: names, dtypes,
// shapes and bytes.
func sameTensors(t *testing.T, wantDir, gotDir string) {
	t.Helper()
	want, err := safetensors.Open(wantDir)
	must(t, err)
	defer want.Close()
	got, err := safetensors.Open(gotDir)
	must(t, err)
	defer got.Close()
	if len(got.Tensors) != len(want.Tensors) {
		t.Fatalf("%d tensors, want %d", len(got.Tensors), len(want.Tensors))
	}
	g := map[string]int{}
	for i, d := range got.Tensors {
		g[d.Name] = i
	}
	for _, w := range want.Tensors {
		i, ok := g[w.Name]
		if !ok {
			t.Fatalf("%s missing", w.Name)
		}
		d := got.Tensors[i]
		if d.DType != w.DType || !reflect.DeepEqual(d.Shape, w.Shape) {
			t.Fatalf("%s: %v %v, want %v %v", w.Name, d.DType, d.Shape, w.DType, w.Shape)
		}
		if !bytes.Equal(readAll(t, d), readAll(t, w)) {
			t.Fatalf("%s: bytes differ", w.Name)
		}
	}
}

// index is model.safetensors.index.json.
type index struct {
	Metadata struct {
		TotalSize       int64 `json:"total_size"`
		TotalParameters int64 `json:"total_parameters"`
	} `json:"metadata"`
	WeightMap map[string]string `json:"weight_map"`
}

// checkShards checks an index against its shards: every tensor listed in
// the shard that holds it, total_size the sum of tensor bytes, and no
// shard's tensor data over the limit unless it holds a single tensor.
func checkShards(t *testing.T, dir string, limit int64) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, safetensors.IndexName))
	must(t, err)
	var idx index
	must(t, json.Unmarshal(b, &idx))
	files := map[string]bool{}
	for _, f := range idx.WeightMap {
		files[f] = true
	}
	if len(files) < 2 {
		t.Fatalf("index names %d shards; the test limit should make several", len(files))
	}
	var total int64
	for f := range files {
		set, err := safetensors.Open(filepath.Join(dir, f))
		must(t, err)
		var size int64
		for _, d := range set.Tensors {
			size += d.NBytes()
			if idx.WeightMap[d.Name] != f {
				t.Errorf("%s is in %s, index says %s", d.Name, f, idx.WeightMap[d.Name])
			}
		}
		if size > limit && len(set.Tensors) > 1 {
			t.Errorf("%s holds %d bytes of tensors, over the %d limit", f, size, limit)
		}
		total += size
		set.Close()
	}
	if idx.Metadata.TotalSize != total {
		t.Errorf("total_size %d, shards hold %d", idx.Metadata.TotalSize, total)
	}
}

// checkConfig compares the architecture values of a written config.json
// with the original's.
func checkConfig(t *testing.T, wantDir, gotDir string) {
	t.Helper()
	read := func(dir string) map[string]any {
		b, err := os.ReadFile(filepath.Join(dir, "config.json"))
		must(t, err)
		var m map[string]any
		must(t, json.Unmarshal(b, &m))
		return m
	}
	want, got := read(wantDir), read(gotDir)
	for _, k := range []string{"architectures", "model_type", "hidden_size", "intermediate_size", "num_hidden_layers",
		"num_attention_heads", "num_key_value_heads", "head_dim", "max_position_embeddings", "rms_norm_eps", "vocab_size",
		"rope_parameters", "tie_word_embeddings", "bos_token_id", "eos_token_id", "dtype"} {
		if _, ok := want[k]; ok && !reflect.DeepEqual(got[k], want[k]) {
			t.Errorf("config %s = %v, want %v", k, got[k], want[k])
		}
	}
}

// TestReshardMatchesTransformers re-shards the corpus checkpoint, which
// transformers saved in four shards of at most 1MB. The index must be
// spelled as transformers spells it (json.dumps(indent=2, sort_keys=True)
// and a newline, restated here with encoding/json) with transformers'
// totals, and the shards must keep the limit. Which shard a tensor lands
// in can differ: transformers fills shards in module order, which the
// files do not record.
func TestReshardMatchesTransformers(t *testing.T) {
	model := corpus.Path(t, "tiny-llama-spm")
	out := filepath.Join(t.TempDir(), "hf")
	runRecipe(t, "reshard.yaml", map[string]string{"model": model, "out": out, "max_shard_size": "1MB"})
	b, err := os.ReadFile(filepath.Join(out, safetensors.IndexName))
	must(t, err)
	var doc map[string]map[string]any
	must(t, json.Unmarshal(b, &doc))
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	must(t, enc.Encode(doc))
	if !bytes.Equal(b, buf.Bytes()) || len(doc) != 2 || doc["metadata"] == nil || doc["weight_map"] == nil {
		t.Errorf("index is not in transformers' spelling:\n%s", b)
	}
	var got, want index
	must(t, json.Unmarshal(b, &got))
	a, err := os.ReadFile(filepath.Join(model, safetensors.IndexName))
	must(t, err)
	must(t, json.Unmarshal(a, &want))
	if got.Metadata != want.Metadata || len(got.WeightMap) != len(want.WeightMap) {
		t.Errorf("index metadata %+v with %d tensors, transformers wrote %+v with %d", got.Metadata, len(got.WeightMap), want.Metadata, len(want.WeightMap))
	}
	sameTensors(t, model, out)
	checkShards(t, out, 1_000_000)
	var names []string
	ents, err := os.ReadDir(out)
	must(t, err)
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, f := range []string{"config.json", "generation_config.json", "special_tokens_map.json", "tokenizer.model", "tokenizer_config.json"} {
		x, err := os.ReadFile(filepath.Join(model, f))
		must(t, err)
		y, err := os.ReadFile(filepath.Join(out, f))
		if err != nil || !bytes.Equal(x, y) {
			t.Errorf("%s not copied verbatim (folder has %v)", f, names)
		}
	}
}

// layersRecipe cuts a model into layer-balanced parts.
const layersRecipe = `version: 1
vars: {model: null, out: null, parts: 2}
stages:
  - {id: src, kind: load, with: {path: "${model}"}}
  - {id: pp, kind: shard, inputs: [src], with: {path: "${out}", by: layers, parts: "${parts}"}}
`

// TestShardByLayers cuts the corpus model into two parts, as GGUF splits
// and as safetensors shards: the manifest gives each part one block, the
// embeddings sit with the first and the head with the last, and each set
// loads back with every tensor intact.
func TestShardByLayers(t *testing.T) {
	model := corpus.Path(t, "tiny-llama-spm")
	dir := t.TempDir()
	single := filepath.Join(dir, "m.gguf")
	runRecipe(t, "hf-to-gguf.yaml", map[string]string{"model": model, "out": single, "type": "F32"})
	for _, c := range []struct{ src, out, manifest, first, last string }{
		{single, filepath.Join(dir, "pp", "m.gguf"), filepath.Join(dir, "pp", "m.parts.json"), "token_embd.weight", "output.weight"},
		{model, filepath.Join(dir, "st"), filepath.Join(dir, "st", "parts.json"), "model.embed_tokens.weight", "lm_head.weight"},
	} {
		must(t, runRecipeErr(t, layersRecipe, map[string]string{"model": c.src, "out": c.out}))
		b, err := os.ReadFile(c.manifest)
		must(t, err)
		var mf struct {
			Blocks int `json:"blocks"`
			Parts  []struct {
				File       string `json:"file"`
				FirstLayer int    `json:"first_layer"`
				LastLayer  int    `json:"last_layer"`
				Bytes      int64  `json:"bytes"`
			} `json:"parts"`
		}
		must(t, json.Unmarshal(b, &mf))
		if mf.Blocks != 2 || len(mf.Parts) != 2 || mf.Parts[0].FirstLayer != 0 || mf.Parts[0].LastLayer != 0 ||
			mf.Parts[1].FirstLayer != 1 || mf.Parts[1].LastLayer != 1 {
			t.Fatalf("manifest %s", b)
		}
		holds := func(i int, name string) bool {
			for _, d := range tensorsOf(t, filepath.Join(filepath.Dir(c.manifest), mf.Parts[i].File)) {
				if d == name {
					return true
				}
			}
			return false
		}
		if !holds(0, c.first) || !holds(1, c.last) || holds(0, c.last) {
			t.Errorf("%s: embeddings must open the first part and the head close the last", c.manifest)
		}
	}
	set, cl, err := gguf.OpenSet(filepath.Join(dir, "pp", "m-00001-of-00002.gguf"))
	must(t, err)
	defer cl.Close()
	whole := openGGUF(t, single)
	if len(set.Tensors) != len(whole.Tensors) {
		t.Fatalf("%d tensors in the parts, want %d", len(set.Tensors), len(whole.Tensors))
	}
	for _, d := range set.Tensors {
		if !bytes.Equal(readAll(t, d), readAll(t, tensorNamed(whole, d.Name))) {
			t.Fatalf("%s differs", d.Name)
		}
	}
	sameTensors(t, model, filepath.Join(dir, "st"))
}

func tensorsOf(t *testing.T, path string) []string {
	t.Helper()
	var out []string
	if filepath.Ext(path) == ".gguf" {
		for _, d := range openGGUF(t, path).Tensors {
			out = append(out, d.Name)
		}
		return out
	}
	set, err := safetensors.Open(path)
	must(t, err)
	defer set.Close()
	for _, d := range set.Tensors {
		out = append(out, d.Name)
	}
	return out
}
