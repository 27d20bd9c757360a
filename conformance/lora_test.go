package conformance

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
	"github.com/mlmf-run/mlmf-run/pipeline"
	"github.com/mlmf-run/mlmf-run/stages"
	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/safetensors"
)

// TestMergeLoraMatchesPEFT merges the corpus adapter in float32 and compares
// every tensor with PEFT's merge_and_unload() of the same adapter.
func TestMergeLoraMatchesPEFT(t *testing.T) {
	out := filepath.Join(t.TempDir(), "merged.safetensors")
	runRecipe(t, "merge-lora.yaml", map[string]string{
		"base": corpus.Path(t, "tiny-llama-spm"), "adapter": corpus.Path(t, "tiny-llama-spm-lora"), "out": out, "type": "F32"})
	got := loraReadTensors(t, out)
	want := loraReadTensors(t, corpus.Path(t, "tiny-llama-spm-ref", "tiny-llama-spm-lora-merged-f32.safetensors"))
	if len(got) != len(want) {
		t.Errorf("%d tensors, want %d", len(got), len(want))
	}
	adapted := 0
	for name, w := range want {
		g, ok := got[name]
		if !ok {
			t.Errorf("missing %s", name)
			continue
		}
		if !loraSameShape(g.shape, w.shape) || g.dtype != w.dtype {
			t.Errorf("%s: %v %v, want %v %v", name, g.dtype, g.shape, w.dtype, w.shape)
			continue
		}
		if !strings.HasSuffix(name, "_proj.weight") {
			if string(g.raw) != string(w.raw) {
				t.Errorf("%s is not adapted but differs from the base", name)
			}
			continue
		}
		adapted++
		if d := loraMaxDiff(g.f, w.f); d > 1e-6 {
			t.Errorf("%s: max |merged - PEFT| = %g, want <= 1e-6", name, d)
		}
	}
	if adapted != 14 {
		t.Errorf("%d adapted tensors compared, want 14", adapted)
	}
}

// TestLoraToGGUFMatchesLlamaCpp converts the corpus adapter unmerged and
// compares with convert_lora_to_gguf.py's file: keys, names, types, bytes.
func TestLoraToGGUFMatchesLlamaCpp(t *testing.T) {
	out := filepath.Join(t.TempDir(), "lora.gguf")
	runRecipe(t, "lora-to-gguf.yaml", map[string]string{
		"base": corpus.Path(t, "tiny-llama-spm"), "adapter": corpus.Path(t, "tiny-llama-spm-lora"), "out": out})
	ref, err := corpus.LoadReference(corpus.Path(t, "tiny-llama-spm-ref", "tiny-llama-spm-lora-f32.gguf.json"))
	if err != nil {
		t.Fatal(err)
	}
	diffs, err := corpus.DiffGGUF(out, ref)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range diffs {
		t.Error(d)
	}
}

type loraTensor struct {
	dtype tensor.DType
	shape []int64
	raw   []byte
	f     []float32
}

func loraReadTensors(t *testing.T, path string) map[string]loraTensor {
	t.Helper()
	set, err := safetensors.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	out := map[string]loraTensor{}
	for _, d := range set.Tensors {
		raw, err := tensor.ReadAll(d)
		if err != nil {
			t.Fatal(err)
		}
		f := make([]float32, d.Elems())
		if err := tensor.ToFloat32(d.DType, raw, f); err != nil {
			t.Fatal(err)
		}
		out[d.Name] = loraTensor{d.DType, d.Shape, raw, f}
	}
	return out
}

func loraMaxDiff(a []float32, b []float32) float64 {
	var m float64
	for i := range a {
		m = math.Max(m, math.Abs(float64(a[i])-float64(b[i])))
	}
	return m
}

func loraSameShape(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// loraMat is a row-major float matrix a test builds and computes with in float64.
type loraMat struct {
	rows, cols int
	v          []float64
}

func loraRandMat(r *rand.Rand, rows, cols int) loraMat {
	m := loraMat{rows, cols, make([]float64, rows*cols)}
	for i := range m.v {
		// float32-representable values, so the files hold exactly these.
		m.v[i] = float64(float32(r.NormFloat64() * 0.5))
	}
	return m
}

func (m loraMat) at(i, j int) float64 { return m.v[i*m.cols+j] }

func (m loraMat) f32bytes() []byte {
	b := make([]byte, 4*len(m.v))
	for i, v := range m.v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(v)))
	}
	return b
}

func (m loraMat) desc(name string) *tensor.Desc {
	shape := []int64{int64(m.rows), int64(m.cols)}
	if m.rows == 0 { // a vector
		shape = []int64{int64(m.cols)}
	}
	return &tensor.Desc{Name: name, DType: tensor.F32, Shape: shape,
		Src: &tensor.Bytes{Data: m.f32bytes(), RowBytes: 4 * int64(m.cols), What: name}}
}

// loraWriteST writes named matrices (in name order) as F32.
func loraWriteST(t *testing.T, path string, ms map[string]loraMat) {
	t.Helper()
	var ds []*tensor.Desc
	for _, name := range loraSortedNames(ms) {
		ds = append(ds, ms[name].desc(name))
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := safetensors.Write(f, ds, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
}

func loraSortedNames(ms map[string]loraMat) []string {
	var names []string
	for n := range ms {
		names = append(names, n)
	}
	for i := range names {
		for j := i + 1; j < len(names); j++ {
			if names[j] < names[i] {
				names[i], names[j] = names[j], names[i]
			}
		}
	}
	return names
}

// loraWriteAdapter writes a PEFT adapter folder: config (as JSON, key order
// kept by the caller's raw text) and tensors under PEFT's key prefix.
func loraWriteAdapter(t *testing.T, dir, config string, ms map[string]loraMat) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if !json.Valid([]byte(config)) {
		t.Fatalf("bad test config %s", config)
	}
	if err := os.WriteFile(filepath.Join(dir, "adapter_config.json"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	prefixed := map[string]loraMat{}
	for k, v := range ms {
		prefixed["base_model.model."+k] = v
	}
	loraWriteST(t, filepath.Join(dir, "adapter_model.safetensors"), prefixed)
}

// loraMergeRecipe merges adapters (path, weight) into base and writes F32.
func loraMergeRecipe(adapters [][2]string) string {
	var b strings.Builder
	b.WriteString("version: 1\nvars: {base: null, out: null}\nstages:\n")
	b.WriteString("  - {id: src, kind: load, with: {path: \"${base}\"}}\n")
	b.WriteString("  - id: merged\n    kind: merge-lora\n    inputs: [src]\n    with:\n      dtype: F32\n      adapters:\n")
	for _, a := range adapters {
		b.WriteString("        - {path: \"" + a[0] + "\", weight: " + a[1] + "}\n")
	}
	b.WriteString("  - {id: out, kind: export, inputs: [merged], with: {format: safetensors, path: \"${out}\"}}\n")
	return b.String()
}

// loraRun runs a recipe text; it returns the planning or run error.
func loraRun(t *testing.T, text string, vars map[string]string) error {
	t.Helper()
	r, err := pipeline.Parse(filepath.Join(t.TempDir(), "test.yaml"), []byte(text), vars, stages.Registry())
	if err != nil {
		t.Fatalf("recipe: %v\n%s", err, text)
	}
	_, err = pipeline.Run(context.Background(), r, pipeline.RunOptions{Threads: 2, Memory: 16 << 20})
	return err
}
