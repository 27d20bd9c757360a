package conformance

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
	"github.com/mlmf-run/mlmf-run/pipeline"
	"github.com/mlmf-run/mlmf-run/stages"
	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
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
	matchesReference(t, out, corpus.Path(t, "tiny-llama-spm-ref", "tiny-llama-spm-lora-f32.gguf.json"))
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
	vec        bool // a 1-D tensor of cols elements
}

func loraRandMat(r *rand.Rand, rows, cols int) loraMat {
	m := loraMat{rows: rows, cols: cols, v: make([]float64, rows*cols)}
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
	if m.vec {
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
	err = safetensors.Write(f, ds, map[string]string{"format": "pt"})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
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

// A LoRA test base: F32 tensors with PEFT-visible module names, one per
// kind of layer an adapter may target.
const (
	tQ     = "model.layers.0.self_attn.q_proj" // Linear 8×6
	tK     = "model.layers.0.self_attn.k_proj" // Linear 4×6
	tEmbed = "model.embed_tokens"              // Embedding 10×6
	tConv  = "transformer.h.0.attn.c_attn"     // Conv1D, stored (in 6, out 12)
	tHead  = "lm_head"                         // 10×6
)

func loraBase(r *rand.Rand) map[string]loraMat {
	return map[string]loraMat{
		tQ + ".weight": loraRandMat(r, 8, 6), tK + ".weight": loraRandMat(r, 4, 6),
		tEmbed + ".weight": loraRandMat(r, 10, 6), tConv + ".weight": loraRandMat(r, 6, 12),
		tHead + ".weight": loraRandMat(r, 10, 6),
	}
}

// testMod is one adapted module; scale is what PEFT's config means for
// it, worked out by hand in each case.
type testMod struct {
	module string
	kind   string // linear, fifo (fan_in_fan_out Conv1D), embed
	rank   int
	scale  float64
	dora   bool
}

type testAdapter struct {
	config string
	weight float64
	mods   []testMod
	saved  []string // base tensors the adapter replaces (modules_to_save)
}

// build writes the adapter's tensors and returns them for the reference.
func (a testAdapter) build(t *testing.T, r *rand.Rand, dir string, base map[string]loraMat) map[string]loraMat {
	ms := map[string]loraMat{}
	for _, m := range a.mods {
		w := base[m.module+".weight"]
		switch m.kind {
		case "linear":
			ms[m.module+".lora_A.weight"] = loraRandMat(r, m.rank, w.cols)
			ms[m.module+".lora_B.weight"] = loraRandMat(r, w.rows, m.rank)
		case "fifo":
			ms[m.module+".lora_A.weight"] = loraRandMat(r, m.rank, w.rows)
			ms[m.module+".lora_B.weight"] = loraRandMat(r, w.cols, m.rank)
		case "embed":
			ms[m.module+".lora_embedding_A"] = loraRandMat(r, m.rank, w.rows)
			ms[m.module+".lora_embedding_B"] = loraRandMat(r, w.cols, m.rank)
		}
		if m.dora {
			mag := loraRandMat(r, 1, w.rows)
			for i := range mag.v {
				mag.v[i] = float64(float32(1 + math.Abs(mag.v[i])))
			}
			mag.vec = true
			ms[m.module+".lora_magnitude_vector"] = mag
		}
	}
	for _, name := range a.saved {
		ms[name] = loraRandMat(r, base[name].rows, base[name].cols)
	}
	loraWriteAdapter(t, dir, a.config, ms)
	return ms
}

// expect applies the adapter to want in float64 by the textbook formulas.
func (a testAdapter) expect(want map[string]loraMat, ms map[string]loraMat) {
	for _, m := range a.mods {
		w := want[m.module+".weight"]
		s := a.weight * m.scale
		for i := 0; i < w.rows; i++ {
			for j := 0; j < w.cols; j++ {
				var d float64
				switch m.kind {
				case "linear": // ΔW[o][i] = Σ B[o][k] A[k][i]
					A, B := ms[m.module+".lora_A.weight"], ms[m.module+".lora_B.weight"]
					for k := 0; k < m.rank; k++ {
						d += B.at(i, k) * A.at(k, j)
					}
				case "fifo": // stored W[in][out] += Σ B[out][k] A[k][in]
					A, B := ms[m.module+".lora_A.weight"], ms[m.module+".lora_B.weight"]
					for k := 0; k < m.rank; k++ {
						d += B.at(j, k) * A.at(k, i)
					}
				case "embed": // W[token][dim] += Σ A[k][token] B[dim][k]
					A, B := ms[m.module+".lora_embedding_A"], ms[m.module+".lora_embedding_B"]
					for k := 0; k < m.rank; k++ {
						d += A.at(k, i) * B.at(j, k)
					}
				}
				w.v[i*w.cols+j] += s * d
			}
			if m.dora { // row i rescaled to magnitude[i] / ||W[i] + ΔW[i]||
				var ss float64
				for j := 0; j < w.cols; j++ {
					ss += w.at(i, j) * w.at(i, j)
				}
				f := ms[m.module+".lora_magnitude_vector"].v[i] / math.Sqrt(ss)
				for j := 0; j < w.cols; j++ {
					w.v[i*w.cols+j] *= f
				}
			}
		}
	}
	for _, name := range a.saved {
		copy(want[name].v, ms[name].v)
	}
}

func cfgJSON(extra string) string {
	return `{"peft_type": "LORA", "base_model_name_or_path": "test-base", "fan_in_fan_out": false, ` + extra + `}`
}

var mergeCases = []struct {
	name     string
	adapters []testAdapter
}{
	{"plain", []testAdapter{{config: cfgJSON(`"r": 2, "lora_alpha": 4, "target_modules": ["q_proj", "k_proj"]`), weight: 1,
		mods: []testMod{{tQ, "linear", 2, 2, false}, {tK, "linear", 2, 2, false}}}}},
	{"rslora", []testAdapter{{config: cfgJSON(`"r": 4, "lora_alpha": 8, "use_rslora": true, "target_modules": ["q_proj"]`), weight: 1,
		mods: []testMod{{tQ, "linear", 4, 8 / 2.0, false}}}}},
	// "proj" must not match ..._proj (patterns match at a dot); the first
	// matching rank_pattern key wins; k keeps r but takes alpha 2.
	{"patterns", []testAdapter{{config: cfgJSON(`"r": 2, "lora_alpha": 6, "target_modules": ["q_proj", "k_proj"],
		"rank_pattern": {"self_attn.q_proj": 3, "q_proj": 1}, "alpha_pattern": {"proj": 100, "k_proj": 2}`), weight: 1,
		mods: []testMod{{tQ, "linear", 3, 6 / 3.0, false}, {tK, "linear", 2, 2 / 2.0, false}}}}},
	{"fan_in_fan_out", []testAdapter{{config: `{"r": 2, "lora_alpha": 3, "fan_in_fan_out": true, "target_modules": ["c_attn"]}`, weight: 1,
		mods: []testMod{{tConv, "fifo", 2, 1.5, false}}}}},
	{"embedding", []testAdapter{{config: cfgJSON(`"r": 3, "lora_alpha": 3, "target_modules": ["embed_tokens"]`), weight: 1,
		mods: []testMod{{tEmbed, "embed", 3, 1, false}}}}},
	{"two_weighted", []testAdapter{
		{config: cfgJSON(`"r": 2, "lora_alpha": 4, "target_modules": ["q_proj"]`), weight: 0.5, mods: []testMod{{tQ, "linear", 2, 2, false}}},
		{config: cfgJSON(`"r": 4, "lora_alpha": 2, "target_modules": ["q_proj", "k_proj"]`), weight: -1.5,
			mods: []testMod{{tQ, "linear", 4, 0.5, false}, {tK, "linear", 4, 0.5, false}}}}},
	{"dora", []testAdapter{{config: cfgJSON(`"r": 2, "lora_alpha": 4, "use_dora": true, "target_modules": ["q_proj", "k_proj"]`), weight: 1,
		mods: []testMod{{tQ, "linear", 2, 2, true}, {tK, "linear", 2, 2, true}}}}},
	{"modules_to_save", []testAdapter{{config: cfgJSON(`"r": 2, "lora_alpha": 2, "target_modules": ["q_proj"], "modules_to_save": ["lm_head"]`), weight: 1,
		mods: []testMod{{tQ, "linear", 2, 1, false}}, saved: []string{tHead + ".weight"}}}},
}

// TestMergeLoraFormula merges generated adapters and checks every output
// value against the formula evaluated in float64 by the test itself.
func TestMergeLoraFormula(t *testing.T) {
	for ci, c := range mergeCases {
		t.Run(c.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(ci), 7))
			dir := t.TempDir()
			base := loraBase(r)
			basePath := filepath.Join(dir, "base.safetensors")
			loraWriteST(t, basePath, base)
			want := map[string]loraMat{}
			for k, v := range base {
				want[k] = loraMat{rows: v.rows, cols: v.cols, v: append([]float64(nil), v.v...)}
			}
			var refs [][2]string
			for i, a := range c.adapters {
				ad := filepath.Join(dir, "adapter"+string(rune('a'+i)))
				a.expect(want, a.build(t, r, ad, base))
				refs = append(refs, [2]string{ad, strconv.FormatFloat(a.weight, 'g', -1, 64)})
			}
			out := filepath.Join(dir, "out.safetensors")
			if err := loraRun(t, loraMergeRecipe(refs), map[string]string{"base": basePath, "out": out}); err != nil {
				t.Fatal(err)
			}
			got := loraReadTensors(t, out)
			for name, w := range want {
				g := got[name]
				for i, v := range w.v {
					if math.Abs(float64(g.f[i])-v) > 1e-5 {
						t.Errorf("%s[%d] = %g, want %g", name, i, g.f[i], v)
						break
					}
				}
			}
		})
	}
}

// TestMergeLoraRefusals checks that bad adapters are refused while
// planning, before any weight is read or any file written, with a message
// that says what is wrong.
func TestMergeLoraRefusals(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	A := func(rank, cols int) loraMat { return loraRandMat(r, rank, cols) }
	cases := []struct {
		name, config string
		weight       string
		tensors      map[string]loraMat
		want         []string
	}{
		{"unmatched module", cfgJSON(`"r": 2, "lora_alpha": 2, "target_modules": ["q_proj", "gate_proj"]`), "1",
			map[string]loraMat{"model.layers.0.mlp.gate_proj.lora_A.weight": A(2, 6), "model.layers.0.mlp.gate_proj.lora_B.weight": A(8, 2)},
			[]string{"model.layers.0.mlp.gate_proj matches no base tensor"}},
		{"shape mismatch", cfgJSON(`"r": 2, "lora_alpha": 2, "target_modules": ["q_proj"]`), "1",
			map[string]loraMat{tQ + ".lora_A.weight": A(2, 5), tQ + ".lora_B.weight": A(8, 2)},
			[]string{"has shape [8 6] but the adapter (rank 2) gives [8 5]"}},
		{"rank disagrees with config", cfgJSON(`"r": 4, "lora_alpha": 2, "target_modules": ["q_proj"]`), "1",
			map[string]loraMat{tQ + ".lora_A.weight": A(2, 6), tQ + ".lora_B.weight": A(8, 2)},
			[]string{"the matrices have rank 2 but adapter_config.json says 4"}},
		{"A and B ranks differ", cfgJSON(`"r": 2, "lora_alpha": 2, "target_modules": ["q_proj"]`), "1",
			map[string]loraMat{tQ + ".lora_A.weight": A(2, 6), tQ + ".lora_B.weight": A(8, 3)},
			[]string{"lora_A has rank 2", "lora_B has rank 3"}},
		{"another architecture", cfgJSON(`"r": 2, "lora_alpha": 2, "target_modules": ["c_fc", "c_proj"]`), "1",
			map[string]loraMat{"transformer.h.0.mlp.c_fc.lora_A.weight": A(2, 6), "transformer.h.0.mlp.c_fc.lora_B.weight": A(24, 2)},
			[]string{"target_modules (c_fc, c_proj) name no module of the base", "transformer.h.0.mlp.c_fc matches no base tensor"}},
		{"DoRA needs whole columns", `{"r": 2, "lora_alpha": 2, "use_dora": true, "fan_in_fan_out": true, "target_modules": ["c_attn"]}`, "1",
			map[string]loraMat{tConv + ".lora_A.weight": A(2, 6), tConv + ".lora_B.weight": A(12, 2), tConv + ".lora_magnitude_vector": {rows: 1, cols: 6, v: make([]float64, 6), vec: true}},
			[]string{"DoRA on an embedding or a fan_in_fan_out layer"}},
		{"DoRA with a weight", cfgJSON(`"r": 2, "lora_alpha": 2, "use_dora": true, "target_modules": ["q_proj"]`), "0.5",
			map[string]loraMat{tQ + ".lora_A.weight": A(2, 6), tQ + ".lora_B.weight": A(8, 2), tQ + ".lora_magnitude_vector": {rows: 1, cols: 8, v: make([]float64, 8), vec: true}},
			[]string{"DoRA rescales the whole merged weight"}},
		{"DoRA config without magnitudes", cfgJSON(`"r": 2, "lora_alpha": 2, "use_dora": true, "target_modules": ["q_proj"]`), "1",
			map[string]loraMat{tQ + ".lora_A.weight": A(2, 6), tQ + ".lora_B.weight": A(8, 2)},
			[]string{"use_dora is true but the magnitude vector is missing"}},
		{"lora bias", cfgJSON(`"r": 2, "lora_alpha": 2, "lora_bias": true, "target_modules": ["q_proj"]`), "1",
			map[string]loraMat{tQ + ".lora_A.weight": A(2, 6), tQ + ".lora_B.weight": A(8, 2), tQ + ".lora_B.bias": {rows: 1, cols: 8, v: make([]float64, 8), vec: true}},
			[]string{"LoRA biases (lora_bias) are not supported"}},
		{"half a module", cfgJSON(`"r": 2, "lora_alpha": 2, "target_modules": ["q_proj"]`), "1",
			map[string]loraMat{tQ + ".lora_A.weight": A(2, 6)},
			[]string{"has only one of its lora_A/lora_B matrices"}},
		{"modules_to_save shape", cfgJSON(`"r": 2, "lora_alpha": 2, "target_modules": ["q_proj"], "modules_to_save": ["lm_head"]`), "1",
			map[string]loraMat{tHead + ".weight": A(12, 6)},
			[]string{"modules_to_save tensor lm_head.weight has shape [12 6], the base's has [10 6]"}},
		{"not LoRA", `{"peft_type": "IA3", "r": 2, "lora_alpha": 2}`, "1",
			map[string]loraMat{tQ + ".lora_A.weight": A(2, 6), tQ + ".lora_B.weight": A(8, 2)},
			[]string{`"IA3" adapters cannot be merged as LoRA`}},
	}
	dir := t.TempDir()
	basePath := filepath.Join(dir, "base.safetensors")
	loraWriteST(t, basePath, loraBase(r))
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ad := filepath.Join(dir, "adapter"+strconv.Itoa(i))
			loraWriteAdapter(t, ad, c.config, c.tensors)
			out := filepath.Join(dir, "out"+strconv.Itoa(i)+".safetensors")
			rec, err := pipeline.Parse(filepath.Join(dir, "r.yaml"), []byte(loraMergeRecipe([][2]string{{ad, c.weight}})),
				map[string]string{"base": basePath, "out": out}, stages.Registry())
			if err != nil {
				t.Fatal(err)
			}
			_, err = pipeline.Build(context.Background(), rec, pipeline.Env{Threads: 1, Memory: 1 << 20})
			if err == nil {
				t.Fatal("planned without error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not say %q", err, w)
				}
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("planning wrote the output")
			}
		})
	}
}

// TestLoraToGGUFScalesAndPermutes exports a generated rsLoRA adapter with an
// alpha_pattern on the corpus LLaMA: llama.cpp scales by alpha/rank, so B
// must carry PEFT's own scale over that, and Q/K's B rows must follow the
// converter's head permutation (both computed here independently).
func TestLoraToGGUFScalesAndPermutes(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	dir := t.TempDir()
	q, k := "model.layers.0.self_attn.q_proj", "model.layers.1.self_attn.k_proj"
	ms := map[string]loraMat{
		q + ".lora_A.weight": loraRandMat(r, 4, 256), q + ".lora_B.weight": loraRandMat(r, 256, 4),
		k + ".lora_A.weight": loraRandMat(r, 4, 256), k + ".lora_B.weight": loraRandMat(r, 128, 4),
	}
	ad := filepath.Join(dir, "my-adapter")
	loraWriteAdapter(t, ad, cfgJSON(`"r": 4, "lora_alpha": 8, "use_rslora": true, "alpha_pattern": {"k_proj": 2}, "target_modules": ["q_proj", "k_proj"]`), ms)
	out := filepath.Join(dir, "a.gguf")
	runRecipe(t, "lora-to-gguf.yaml", map[string]string{"base": corpus.Path(t, "tiny-llama-spm"), "adapter": ad, "out": out})
	f, c, err := gguf.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if v, _ := f.Meta.Get("adapter.lora.alpha"); v.V != float32(8) {
		t.Errorf("adapter.lora.alpha = %v, want 8", v.V)
	}
	// PEFT: q scale 8/sqrt(4) = 4, k scale 2/sqrt(4) = 1; llama.cpp: 8/4 = 2.
	checks := []struct {
		name  string
		want  loraMat
		heads int // 0: no permutation
		ratio float64
	}{
		{"blk.0.attn_q.weight.lora_a", ms[q+".lora_A.weight"], 0, 1},
		{"blk.0.attn_q.weight.lora_b", ms[q+".lora_B.weight"], 4, 2},
		{"blk.1.attn_k.weight.lora_a", ms[k+".lora_A.weight"], 0, 1},
		{"blk.1.attn_k.weight.lora_b", ms[k+".lora_B.weight"], 2, 0.5},
	}
	got := map[string]*tensor.Desc{}
	for _, d := range f.Tensors {
		got[d.Name] = d
	}
	if len(got) != len(checks) {
		t.Errorf("%d tensors, want %d", len(got), len(checks))
	}
	for _, ch := range checks {
		d := got[ch.name]
		if d == nil || d.DType != tensor.F32 || !loraSameShape(d.Shape, []int64{int64(ch.want.rows), int64(ch.want.cols)}) {
			t.Errorf("%s: %v, want F32 [%d %d]", ch.name, d, ch.want.rows, ch.want.cols)
			continue
		}
		raw, err := tensor.ReadAll(d)
		if err != nil {
			t.Fatal(err)
		}
		for o := 0; o < ch.want.rows; o++ {
			src := o
			if ch.heads > 0 { // LlamaModel.permute: within a head, row 2i+j <- j*half+i
				half := ch.want.rows / ch.heads / 2
				h, rem := o/(2*half), o%(2*half)
				src = h*2*half + (rem%2)*half + rem/2
			}
			for j := 0; j < ch.want.cols; j++ {
				g := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*(o*ch.want.cols+j):]))
				if w := ch.want.at(src, j) * ch.ratio; math.Abs(float64(g)-w) > 1e-6 {
					t.Fatalf("%s[%d][%d] = %g, want %g", ch.name, o, j, g, w)
				}
			}
		}
	}
}

// TestLoraToGGUFRefusals checks what llama.cpp's format cannot carry is
// refused while planning.
func TestLoraToGGUFRefusals(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	q := "model.layers.0.self_attn.q_proj"
	cases := []struct {
		name, config string
		tensors      map[string]loraMat
		want         string
	}{
		{"dora", cfgJSON(`"r": 2, "lora_alpha": 2, "use_dora": true`), map[string]loraMat{q + ".lora_A.weight": loraRandMat(r, 2, 256),
			q + ".lora_B.weight": loraRandMat(r, 256, 2), q + ".lora_magnitude_vector": {rows: 1, cols: 256, v: make([]float64, 256), vec: true}},
			"DoRA adapters have no llama.cpp GGUF form"},
		{"modules_to_save", cfgJSON(`"r": 2, "lora_alpha": 2, "modules_to_save": ["lm_head"]`), map[string]loraMat{"lm_head.weight": loraRandMat(r, 512, 256)},
			"modules_to_save tensors (lm_head.weight) have no place in a LoRA GGUF"},
		{"shape", cfgJSON(`"r": 2, "lora_alpha": 2`), map[string]loraMat{q + ".lora_A.weight": loraRandMat(r, 2, 128), q + ".lora_B.weight": loraRandMat(r, 256, 2)},
			"has shape [256 256] but the adapter (rank 2) gives [256 128]"},
		{"other model", cfgJSON(`"r": 2, "lora_alpha": 2`), map[string]loraMat{"transformer.h.0.attn.c_attn.lora_A.weight": loraRandMat(r, 2, 256),
			"transformer.h.0.attn.c_attn.lora_B.weight": loraRandMat(r, 768, 2)}, "transformer.h.0.attn.c_attn matches no base tensor"},
	}
	root, err := corpus.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ad := filepath.Join(t.TempDir(), "adapter")
			loraWriteAdapter(t, ad, c.config, c.tensors)
			out := filepath.Join(t.TempDir(), strconv.Itoa(i)+".gguf")
			rec, err := pipeline.Load(filepath.Join(root, "recipes", "lora-to-gguf.yaml"),
				map[string]string{"base": corpus.Path(t, "tiny-llama-spm"), "adapter": ad, "out": out}, stages.Registry())
			if err != nil {
				t.Fatal(err)
			}
			_, err = pipeline.Build(context.Background(), rec, pipeline.Env{Threads: 1, Memory: 1 << 20})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want one saying %q", err, c.want)
			}
		})
	}
}
