package quant_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
	"github.com/mlmf-run/mlmf-run/tensor"
	. "github.com/mlmf-run/mlmf-run/tensor/quant"
)

// mixRef is a corpus *.gguf.json: a GGUF as llama.cpp's gguf-py reads it.
type mixRef struct {
	KV      map[string]struct{ Value any } `json:"kv"`
	Tensors map[string]struct {
		Type  string  `json:"type"`
		Shape []int64 `json:"shape"` // ggml order
	} `json:"tensors"`
	Order []string `json:"tensor_order"`
}

func loadMixRef(t *testing.T, path string) *mixRef {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r mixRef
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &r
}

func (r *mixRef) num(t *testing.T, key string) int {
	t.Helper()
	kv, ok := r.KV[key]
	if !ok {
		return 0
	}
	f, ok := kv.Value.(float64)
	if !ok {
		t.Fatalf("key %s: %v is not a number", key, kv.Value)
	}
	return int(f)
}

// descs lists the reference's tensors in file order, shapes made row-major.
func (r *mixRef) descs(t *testing.T) []*tensor.Desc {
	t.Helper()
	var out []*tensor.Desc
	for _, n := range r.Order {
		rt := r.Tensors[n]
		d, err := tensor.ParseDType(rt.Type)
		if err != nil {
			t.Fatal(err)
		}
		shape := slices.Clone(rt.Shape)
		slices.Reverse(shape)
		out = append(out, &tensor.Desc{Name: n, DType: d, Shape: shape})
	}
	return out
}

// TestMixCorpus plans the bf16 reference with every mix llama-quantize was run
// with and compares each tensor's type, the file type and the tensor order.
func TestMixCorpus(t *testing.T) {
	dir := filepath.Join(corpus.Dir(t), "tiny-llama-spm-ref")
	src := loadMixRef(t, filepath.Join(dir, "tiny-llama-spm-bf16.gguf.json"))
	info := ModelInfo{
		Arch:    src.KV["general.architecture"].Value.(string),
		NLayer:  src.num(t, "llama.block_count"),
		NExpert: src.num(t, "llama.expert_count"),
		NHead:   src.num(t, "llama.attention.head_count"),
		NHeadKV: src.num(t, "llama.attention.head_count_kv"),
	}
	ts := src.descs(t)
	for _, c := range []struct {
		file, mix string
		pure      bool
	}{
		{"Q8_0", "Q8_0", false}, {"Q4_0", "Q4_0", false}, {"Q4_1", "Q4_1", false},
		{"Q5_0", "Q5_0", false}, {"Q5_1", "Q5_1", false}, {"Q2_K", "Q2_K", false},
		{"Q3_K_M", "Q3_K_M", false}, {"Q4_K_S", "Q4_K_S", false}, {"Q4_K_M", "Q4_K_M", false},
		{"Q5_K_M", "Q5_K_M", false}, {"Q6_K", "Q6_K", false},
		{"Q2_K-pure", "Q2_K", true}, {"Q3_K-pure", "Q3_K", true}, {"Q4_K-pure", "Q4_K", true},
		{"Q5_K-pure", "Q5_K", true}, {"Q6_K-pure", "Q6_K", true},
	} {
		t.Run(c.file, func(t *testing.T) {
			ref := loadMixRef(t, filepath.Join(dir, "tiny-llama-spm-"+c.file+".gguf.json"))
			m, err := ParseMix(c.mix)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := m.FileType, uint32(ref.num(t, "general.file_type")); got != want {
				t.Errorf("file type %d, reference %d", got, want)
			}
			rep, err := m.PlanReport(info, ts, Options{Pure: c.pure})
			if err != nil {
				t.Fatal(err)
			}
			for i, d := range ts {
				if want := ref.Tensors[d.Name].Type; rep.Types[i].String() != want {
					t.Errorf("%s: %v, reference %s", d.Name, rep.Types[i], want)
				}
			}
			if len(rep.Fallbacks) != 0 || len(rep.NeedsImatrix) != 0 {
				t.Errorf("fallbacks %v, imatrix %v; want none", rep.Fallbacks, rep.NeedsImatrix)
			}
			var order []string
			for _, i := range LoaderOrder(src.Order) {
				order = append(order, src.Order[i])
			}
			if !slices.Equal(order, ref.Order) {
				t.Errorf("loader order %v\nreference %v", order, ref.Order)
			}
		})
	}
}

// model builds a dense llama-like tensor list (file order of the HF converter).
func mixModel(nLayer int, embd, ff, kv, vocab int64, withOutput bool) []*tensor.Desc {
	ts := []*tensor.Desc{{Name: "token_embd.weight", DType: tensor.BF16, Shape: []int64{vocab, embd}}}
	add := func(name string, dt tensor.DType, shape ...int64) {
		ts = append(ts, &tensor.Desc{Name: name, DType: dt, Shape: shape})
	}
	for i := range nLayer {
		p := "blk." + strconv.Itoa(i) + "."
		add(p+"attn_norm.weight", tensor.F32, embd)
		add(p+"attn_q.weight", tensor.BF16, embd, embd)
		add(p+"attn_k.weight", tensor.BF16, kv, embd)
		add(p+"attn_v.weight", tensor.BF16, kv, embd)
		add(p+"attn_output.weight", tensor.BF16, embd, embd)
		add(p+"ffn_norm.weight", tensor.F32, embd)
		add(p+"ffn_gate.weight", tensor.BF16, ff, embd)
		add(p+"ffn_up.weight", tensor.BF16, ff, embd)
		add(p+"ffn_down.weight", tensor.BF16, embd, ff)
	}
	add("output_norm.weight", tensor.F32, embd)
	if withOutput {
		add("output.weight", tensor.BF16, vocab, embd)
	}
	return ts
}

func mixPlan(t *testing.T, mix string, info ModelInfo, ts []*tensor.Desc, opt Options) map[string]tensor.DType {
	t.Helper()
	m, err := ParseMix(mix)
	if err != nil {
		t.Fatal(err)
	}
	types, err := m.Plan(info, ts, opt)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]tensor.DType{}
	for i, d := range ts {
		out[d.Name] = types[i]
	}
	return out
}

// mixMoreBits32 is use_more_bits for 32 layers worked out by hand: the first
// and last 4 layers, and 4 + 3k + 2 in between.
var mixMoreBits32 = []int{0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31}

func TestMix32Layers(t *testing.T) {
	info := ModelInfo{Arch: "llama", NLayer: 32, NHead: 32, NHeadKV: 8}
	ts := mixModel(32, 4096, 14336, 1024, 128256, true)
	// the plan must not depend on the caller's order: llama.cpp sorts by layer
	rev := slices.Clone(ts)
	slices.Reverse(rev)
	for _, in := range [][]*tensor.Desc{ts, rev} {
		q4 := mixPlan(t, "Q4_K_M", info, in, Options{})
		q3 := mixPlan(t, "Q3_K_M", info, in, Options{})
		for i := range 32 {
			p := "blk." + strconv.Itoa(i) + "."
			want := tensor.Q4_K
			if slices.Contains(mixMoreBits32, i) {
				want = tensor.Q6_K
			}
			if q4[p+"attn_v.weight"] != want || q4[p+"ffn_down.weight"] != want {
				t.Errorf("Q4_K_M layer %d: attn_v %v ffn_down %v, want %v", i,
					q4[p+"attn_v.weight"], q4[p+"ffn_down.weight"], want)
			}
			if q4[p+"attn_q.weight"] != tensor.Q4_K || q4[p+"attn_output.weight"] != tensor.Q4_K {
				t.Errorf("Q4_K_M layer %d: attn_q %v attn_output %v", i, q4[p+"attn_q.weight"], q4[p+"attn_output.weight"])
			}
			// Q3_K_M: attn_v Q5_K for the first two, ffn_down Q5_K below 32/16.
			want = tensor.Q4_K
			if i < 2 {
				want = tensor.Q5_K
			}
			if q3[p+"attn_v.weight"] != want || q3[p+"ffn_down.weight"] != want {
				t.Errorf("Q3_K_M layer %d: attn_v %v ffn_down %v, want %v", i,
					q3[p+"attn_v.weight"], q3[p+"ffn_down.weight"], want)
			}
			if q3[p+"attn_output.weight"] != tensor.Q4_K || q3[p+"ffn_up.weight"] != tensor.Q3_K ||
				q3[p+"attn_norm.weight"] != tensor.F32 {
				t.Errorf("Q3_K_M layer %d: attn_output %v ffn_up %v norm %v", i,
					q3[p+"attn_output.weight"], q3[p+"ffn_up.weight"], q3[p+"attn_norm.weight"])
			}
		}
		if q4["output.weight"] != tensor.Q6_K || q4["token_embd.weight"] != tensor.Q4_K {
			t.Errorf("Q4_K_M output %v token_embd %v", q4["output.weight"], q4["token_embd.weight"])
		}
	}
}

func TestMixGQAAnd70B(t *testing.T) {
	ts := mixModel(80, 8192, 28672, 1024, 128256, true)
	gqa8 := ModelInfo{Arch: "llama", NLayer: 80, NHead: 64, NHeadKV: 8}
	q2 := mixPlan(t, "Q2_K", gqa8, ts, Options{})
	// Q2_K: attn_v Q4_K when gqa >= 4 (70B keeps Q4_K -> Q5_K), ffn_down and attn_output Q3_K.
	if q2["blk.7.attn_v.weight"] != tensor.Q5_K || q2["blk.7.ffn_down.weight"] != tensor.Q3_K ||
		q2["blk.7.attn_output.weight"] != tensor.Q3_K || q2["blk.7.attn_q.weight"] != tensor.Q2_K {
		t.Errorf("Q2_K 70B: %v %v %v %v", q2["blk.7.attn_v.weight"], q2["blk.7.ffn_down.weight"],
			q2["blk.7.attn_output.weight"], q2["blk.7.attn_q.weight"])
	}
	notLlama := gqa8
	notLlama.Arch = "mistral-like"
	if q := mixPlan(t, "Q2_K", notLlama, ts, Options{}); q["blk.7.attn_v.weight"] != tensor.Q4_K {
		t.Errorf("Q2_K gqa 8, not 70B: attn_v %v, want Q4_K", q["blk.7.attn_v.weight"])
	}
	gqa2 := ModelInfo{Arch: "phi", NLayer: 80, NHead: 64, NHeadKV: 32}
	if q := mixPlan(t, "Q2_K", gqa2, ts, Options{}); q["blk.7.attn_v.weight"] != tensor.Q3_K {
		t.Errorf("Q2_K gqa 2: attn_v %v, want Q3_K", q["blk.7.attn_v.weight"])
	}
	// Q4_K_M on 80 layers: more bits below 10, from 70, and at 12, 15, ...;
	// the 70B rule lifts the others from Q4_K to Q5_K.
	q4 := mixPlan(t, "Q4_K_M", gqa8, ts, Options{})
	for l, want := range map[int]tensor.DType{0: tensor.Q6_K, 9: tensor.Q6_K, 10: tensor.Q5_K, 11: tensor.Q5_K,
		12: tensor.Q6_K, 13: tensor.Q5_K, 69: tensor.Q6_K, 68: tensor.Q5_K, 70: tensor.Q6_K, 79: tensor.Q6_K} {
		if got := q4["blk."+strconv.Itoa(l)+".attn_v.weight"]; got != want {
			t.Errorf("Q4_K_M 70B layer %d attn_v: %v, want %v", l, got, want)
		}
	}
	if got := q4["blk.10.ffn_down.weight"]; got != tensor.Q4_K {
		t.Errorf("Q4_K_M 70B ffn_down layer 10: %v, want Q4_K (70B only touches attn_v)", got)
	}
}

// moe builds an 8-expert model with stacked experts and a shared expert.
func mixMoE(nLayer int) []*tensor.Desc {
	ts := []*tensor.Desc{
		{Name: "token_embd.weight", DType: tensor.BF16, Shape: []int64{32000, 4096}},
		{Name: "output.weight", DType: tensor.BF16, Shape: []int64{32000, 4096}},
	}
	for i := range nLayer {
		p := "blk." + strconv.Itoa(i) + "."
		for _, d := range []*tensor.Desc{
			{Name: p + "attn_q.weight", Shape: []int64{4096, 4096}},
			{Name: p + "attn_k.weight", Shape: []int64{1024, 4096}},
			{Name: p + "attn_v.weight", Shape: []int64{1024, 4096}},
			{Name: p + "attn_output.weight", Shape: []int64{4096, 4096}},
			{Name: p + "ffn_gate_inp.weight", Shape: []int64{8, 4096}},
			{Name: p + "ffn_down_exps.weight", Shape: []int64{8, 4096, 14336}},
			{Name: p + "ffn_down_shexp.weight", Shape: []int64{4096, 14336}},
			{Name: p + "ffn_up_exps.weight", Shape: []int64{8, 14336, 4096}},
		} {
			d.DType = tensor.BF16
			ts = append(ts, d)
		}
	}
	return ts
}

func TestMixMoE(t *testing.T) {
	info := ModelInfo{Arch: "mixtral", NLayer: 32, NExpert: 8, NHead: 32, NHeadKV: 8}
	q := mixPlan(t, "Q4_K_M", info, mixMoE(32), Options{})
	for i := range 32 {
		p := "blk." + strconv.Itoa(i) + "."
		down := tensor.Q4_K
		if slices.Contains(mixMoreBits32, i) {
			down = tensor.Q6_K // read from the name: two ffn_down tensors per layer
		}
		for name, want := range map[string]tensor.DType{
			"attn_v.weight": tensor.Q8_0, "attn_k.weight": tensor.Q8_0, "attn_output.weight": tensor.Q5_K,
			"attn_q.weight": tensor.Q4_K, "ffn_gate_inp.weight": tensor.BF16, "ffn_up_exps.weight": tensor.Q4_K,
			"ffn_down_exps.weight": down, "ffn_down_shexp.weight": down,
		} {
			if q[p+name] != want {
				t.Errorf("MoE Q4_K_M %s%s: %v, want %v", p, name, q[p+name], want)
			}
		}
	}
	// MXFP4_MOE: stacked experts MXFP4, other matrices and the output Q8_0.
	mx := mixPlan(t, "MXFP4_MOE", info, mixMoE(2), Options{})
	if mx["blk.1.ffn_up_exps.weight"] != tensor.MXFP4 || mx["blk.1.ffn_down_shexp.weight"] != tensor.Q8_0 ||
		mx["output.weight"] != tensor.Q8_0 || mx["token_embd.weight"] != tensor.Q8_0 {
		t.Errorf("MXFP4_MOE: %v", mx)
	}
	m := mustMix(t, "Q4_K_M")
	for _, bad := range []string{"ffn_down_exps.weight", "blk.32.ffn_down_exps.weight", "blk.x.ffn_up_exps.weight"} {
		ts := []*tensor.Desc{{Name: bad, DType: tensor.BF16, Shape: []int64{8, 4096, 14336}}}
		if _, err := m.Plan(info, ts, Options{}); err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("%s: error %v, want one naming the tensor", bad, err)
		}
	}
}

func TestMixFallback(t *testing.T) {
	info := ModelInfo{Arch: "llama", NLayer: 32, NHead: 32, NHeadKV: 32}
	one := func(name string, cols int64) []*tensor.Desc {
		return []*tensor.Desc{{Name: name, DType: tensor.F16, Shape: []int64{4096, cols}},
			{Name: "output.weight", DType: tensor.F16, Shape: []int64{32000, 4096}}}
	}
	for _, c := range []struct {
		mix, name    string
		cols         int64
		want, wanted tensor.DType
	}{
		{"Q4_K_M", "blk.5.attn_q.weight", 4000, tensor.Q5_0, tensor.Q4_K},
		{"Q4_K_M", "blk.0.ffn_down.weight", 4000, tensor.Q8_0, tensor.Q6_K}, // more bits first, then fallback
		{"Q4_K_M", "blk.5.attn_q.weight", 100, tensor.F16, tensor.Q4_K},     // not even 32 divides it
		{"Q5_K_M", "blk.5.attn_q.weight", 4000, tensor.Q5_1, tensor.Q5_K},
		{"Q2_K", "blk.5.attn_q.weight", 4000, tensor.Q4_0, tensor.Q2_K},
		{"Q3_K_M", "blk.5.attn_output.weight", 4000, tensor.Q5_0, tensor.Q4_K},
		{"Q6_K", "blk.5.attn_q.weight", 4000, tensor.Q8_0, tensor.Q6_K},
		{"Q4_K_M", "blk.5.attn_q.weight", 4096, tensor.Q4_K, tensor.Invalid},
		{"Q2_0", "blk.5.attn_q.weight", 4000, tensor.Q4_0, tensor.Q2_0}, // 64 does not divide 4000
		{"Q2_0", "blk.5.ffn_down.weight", 320, tensor.Q2_0, tensor.Invalid},
		{"Q2_0", "blk.5.ffn_down.weight", 4020, tensor.F16, tensor.Q2_0},
		{"Q1_0", "blk.5.attn_q.weight", 4096, tensor.Q1_0, tensor.Invalid},
	} {
		m := mustMix(t, c.mix)
		rep, err := m.PlanReport(info, one(c.name, c.cols), Options{})
		if err != nil {
			t.Fatalf("%s %s: %v", c.mix, c.name, err)
		}
		if rep.Types[0] != c.want {
			t.Errorf("%s %s cols %d: %v, want %v", c.mix, c.name, c.cols, rep.Types[0], c.want)
		}
		var wantFB []Fallback
		if c.wanted != tensor.Invalid {
			wantFB = []Fallback{{c.name, c.cols, c.wanted, c.want}}
		}
		if !reflect.DeepEqual(rep.Fallbacks, wantFB) {
			t.Errorf("%s %s: fallbacks %v, want %v", c.mix, c.name, rep.Fallbacks, wantFB)
		}
	}
	// The output head takes Q8_0 when its rows do not fit the mix's type; that
	// is a rule, not a counted fallback.
	m := mustMix(t, "Q4_K_M")
	rep, err := m.PlanReport(info, []*tensor.Desc{{Name: "output.weight", DType: tensor.F16, Shape: []int64{32000, 4000}}}, Options{})
	if err != nil || rep.Types[0] != tensor.Q8_0 || len(rep.Fallbacks) != 0 {
		t.Errorf("output 4000 cols: %v %v %v, want Q8_0 and no fallback", rep, err, rep.Fallbacks)
	}
	// Q1_0 has no fallback in llama.cpp: its 128-element blocks on 320-wide
	// rows are an error ("no tensor type fallback is defined for type q1_0").
	_, err = mustMix(t, "Q1_0").PlanReport(info, one("blk.5.ffn_down.weight", 320), Options{})
	if err == nil || !strings.Contains(err.Error(), "blk.5.ffn_down.weight") || !strings.Contains(err.Error(), "no fallback") {
		t.Errorf("Q1_0 with 320 columns: %v, want an error naming the tensor and saying there is no fallback", err)
	}
	// A 32-element type has no smaller block to go to: llama.cpp's
	// tensor_type_fallback keeps it, and the check after it turns it into F16.
	for _, mix := range []string{"Q8_0", "IQ4_NL"} {
		rep, err := mustMix(t, mix).PlanReport(info, one("blk.5.attn_q.weight", 100), Options{})
		want := []Fallback{{"blk.5.attn_q.weight", 100, mustMix(t, mix).Default, tensor.F16}}
		if err != nil || rep.Types[0] != tensor.F16 || !reflect.DeepEqual(rep.Fallbacks, want) {
			t.Errorf("%s with 100 columns: %v, %v; want F16 and fallback %v", mix, rep, err, want)
		}
	}
}

// TestMixQuantizable uses the F16 mix, which has no block size to trip on, to
// see llama.cpp's predicate alone.
func TestMixQuantizable(t *testing.T) {
	m := mustMix(t, "F16")
	info := ModelInfo{Arch: "llama", NLayer: 1, NHead: 8, NHeadKV: 8}
	for _, c := range []struct {
		name  string
		shape []int64
		quant bool
	}{
		{"blk.0.attn_q.weight", []int64{256, 256}, true},
		{"blk.0.ffn_up_exps.weight", []int64{4, 256, 256}, true},
		{"v.blk.0.attn_q.weight", []int64{256, 256}, true},
		{"blk.0.attn_q.weight", []int64{1, 256}, false}, // ggml_n_dims is 1
		{"blk.0.attn_q.weight", []int64{256, 1}, true},
		{"rope_freqs.weight", []int64{32}, false},
		{"blk.0.attn_norm.weight", []int64{256, 256}, false},
		{"blk.0.attn_q.bias", []int64{256, 256}, false},
		{"blk.0.ffn_gate_inp.weight", []int64{8, 256}, false},
		{"position_embd.weight", []int64{512, 256}, false},
		{"token_types.weight", []int64{2, 256}, false},
		{"blk.0.ssm_conv1d.weight", []int64{256, 4}, false},
		{"blk.0.time_mix_w1.weight", []int64{256, 256}, false},
		{"v.patch_embd.weight", []int64{256, 256}, false},
		{"v.position_embd.weight", []int64{256, 256}, false},
		{"blk.0.altup_proj.weight", []int64{256, 256}, false},
		{"abcde", []int64{256, 256}, true}, // llama.cpp's rfind quirk
		{"weigh", []int64{256, 256}, true},
		{"abcdef", []int64{256, 256}, false},
	} {
		ts := []*tensor.Desc{{Name: c.name, DType: tensor.F32, Shape: c.shape}}
		rep, err := m.PlanReport(info, ts, Options{})
		if err != nil {
			t.Fatal(err)
		}
		want := tensor.F32
		if c.quant {
			want = tensor.F16
		}
		if rep.Quantizable[0] != c.quant || rep.Types[0] != want {
			t.Errorf("%s %v: quantizable %v type %v, want %v %v", c.name, c.shape, rep.Quantizable[0], rep.Types[0], c.quant, want)
		}
	}
}

func TestMixOptions(t *testing.T) {
	info := ModelInfo{Arch: "llama", NLayer: 4, NHead: 8, NHeadKV: 8}
	ts := mixModel(4, 256, 512, 256, 512, true)
	tied := mixModel(4, 256, 512, 256, 512, false)
	ov, err := ParseOverride("BLK\\.0\\.attn_v=q8_0")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what string
		mix  string
		ts   []*tensor.Desc
		opt  Options
		want map[string]tensor.DType
	}{
		{"pure", "Q4_K_M", ts, Options{Pure: true}, map[string]tensor.DType{
			"output.weight": tensor.Q4_K, "blk.3.attn_v.weight": tensor.Q4_K, "blk.0.ffn_down.weight": tensor.Q4_K}},
		{"tied", "Q4_K_M", tied, Options{}, map[string]tensor.DType{"token_embd.weight": tensor.Q6_K}},
		{"tied pure", "Q4_K_M", tied, Options{Pure: true}, map[string]tensor.DType{"token_embd.weight": tensor.Q4_K}},
		{"tied output type", "Q4_K_M", tied, Options{OutputType: tensor.Q5_K}, map[string]tensor.DType{"token_embd.weight": tensor.Q5_K}},
		{"output type", "Q4_K_M", ts, Options{OutputType: tensor.Q8_0, Pure: true}, map[string]tensor.DType{
			"output.weight": tensor.Q8_0, "token_embd.weight": tensor.Q4_K}},
		{"embedding type", "Q4_K_M", ts, Options{EmbeddingType: tensor.Q8_0}, map[string]tensor.DType{
			"output.weight": tensor.Q6_K, "token_embd.weight": tensor.Q8_0}},
		{"leave output", "Q4_K_M", ts, Options{LeaveOutput: true}, map[string]tensor.DType{
			"output.weight": tensor.BF16, "token_embd.weight": tensor.Q4_K}},
		// A manual override skips the rules and so does not advance attn_v's
		// counter: under Q3_K_M the next two attn_v still get Q5_K.
		{"override", "Q3_K_M", ts, Options{Overrides: []Override{ov}}, map[string]tensor.DType{
			"blk.0.attn_v.weight": tensor.Q8_0, "blk.1.attn_v.weight": tensor.Q5_K,
			"blk.2.attn_v.weight": tensor.Q5_K, "blk.3.attn_v.weight": tensor.Q4_K}},
		{"imatrix", "Q4_0", mixModel(16, 256, 512, 256, 512, true), Options{HasImatrix: true}, map[string]tensor.DType{
			"blk.1.ffn_down.weight": tensor.Q4_1, "blk.2.ffn_down.weight": tensor.Q4_0, "output.weight": tensor.Q6_K}},
		{"f16", "F16", ts, Options{}, map[string]tensor.DType{
			"output.weight": tensor.F16, "blk.0.attn_norm.weight": tensor.F32, "token_embd.weight": tensor.F16}},
		{"f16 keeps token type", "F16", ts, Options{EmbeddingType: tensor.Q8_0}, map[string]tensor.DType{
			"token_embd.weight": tensor.Q8_0}},
		{"TQ2_0", "TQ2_0", ts, Options{}, map[string]tensor.DType{
			"token_embd.weight": tensor.Q4_K, "output.weight": tensor.Q6_K, "blk.0.attn_q.weight": tensor.TQ2_0}},
		// Q2_0's token_embd is grouped with TQ1_0/TQ2_0's; Q1_0 has no such rule.
		{"Q2_0", "Q2_0", ts, Options{}, map[string]tensor.DType{
			"token_embd.weight": tensor.Q4_K, "output.weight": tensor.Q6_K, "blk.0.attn_q.weight": tensor.Q2_0,
			"blk.0.attn_v.weight": tensor.Q2_0, "blk.0.ffn_down.weight": tensor.Q2_0}},
		{"Q1_0", "Q1_0", ts, Options{}, map[string]tensor.DType{
			"token_embd.weight": tensor.Q1_0, "output.weight": tensor.Q6_K, "blk.0.attn_q.weight": tensor.Q1_0,
			"blk.0.attn_v.weight": tensor.Q1_0, "blk.0.ffn_down.weight": tensor.Q1_0}},
		{"Q1_0 tied", "Q1_0", tied, Options{}, map[string]tensor.DType{"token_embd.weight": tensor.Q6_K}},
	} {
		info := info
		if c.what == "imatrix" {
			info.NLayer = 16
		}
		got := mixPlan(t, c.mix, info, c.ts, c.opt)
		for n, w := range c.want {
			if got[n] != w {
				t.Errorf("%s: %s %v, want %v", c.what, n, got[n], w)
			}
		}
	}
}

func TestMixImatrixRequired(t *testing.T) {
	m := mustMix(t, "q2_k_s")
	info := ModelInfo{Arch: "llama", NLayer: 2, NHead: 4, NHeadKV: 2}
	ts := mixModel(2, 256, 512, 128, 512, true)
	if _, err := m.Plan(info, ts, Options{}); err == nil || !strings.Contains(err.Error(), "importance matrix") {
		t.Fatalf("Q2_K_S without imatrix: %v", err)
	}
	rep, err := m.PlanReport(info, ts, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Q2_K tensors need it, except token_embd (Q2_K too) and output (Q6_K).
	for _, n := range rep.NeedsImatrix {
		if n == "token_embd.weight" || n == "output.weight" || strings.Contains(n, "norm") {
			t.Errorf("%s listed as needing an imatrix", n)
		}
	}
	if !slices.Contains(rep.NeedsImatrix, "blk.1.attn_q.weight") {
		t.Errorf("needs imatrix: %v, want blk.1.attn_q.weight among them", rep.NeedsImatrix)
	}
}

func TestParseMix(t *testing.T) {
	for _, c := range []struct {
		in   string
		name string
		ft   uint32
		def  tensor.DType
	}{
		{"Q4_K_M", "Q4_K_M", 15, tensor.Q4_K}, {"q4_k_m", "Q4_K_M", 15, tensor.Q4_K},
		{"Q4_K", "Q4_K_M", 15, tensor.Q4_K}, {"q3_k", "Q3_K_M", 12, tensor.Q3_K},
		{"Q5_K", "Q5_K_M", 17, tensor.Q5_K}, {"Q2_K_S", "Q2_K_S", 21, tensor.Q2_K},
		{"Q3_K_S", "Q3_K_S", 11, tensor.Q3_K}, {"Q3_K_L", "Q3_K_L", 13, tensor.Q3_K},
		{"Q4_K_S", "Q4_K_S", 14, tensor.Q4_K}, {"Q5_K_S", "Q5_K_S", 16, tensor.Q5_K},
		{"Q6_K", "Q6_K", 18, tensor.Q6_K}, {"Q8_0", "Q8_0", 7, tensor.Q8_0},
		{"Q4_0", "Q4_0", 2, tensor.Q4_0}, {"Q4_1", "Q4_1", 3, tensor.Q4_1},
		{"Q5_0", "Q5_0", 8, tensor.Q5_0}, {"Q5_1", "Q5_1", 9, tensor.Q5_1},
		{"Q2_K", "Q2_K", 10, tensor.Q2_K}, {"f16", "F16", 1, tensor.F16},
		{"BF16", "BF16", 32, tensor.BF16}, {"F32", "F32", 0, tensor.F32},
		{"15", "Q4_K_M", 15, tensor.Q4_K}, {"0", "F32", 0, tensor.F32},
		{"MXFP4_MOE", "MXFP4_MOE", 38, tensor.MXFP4}, {"TQ1_0", "TQ1_0", 36, tensor.TQ1_0},
		{"iq2_s", "IQ2_S", 28, tensor.IQ2_XS}, {"IQ2_M", "IQ2_M", 29, tensor.IQ2_S},
		{"22", "IQ3_XS", 22, tensor.IQ3_S}, {"IQ3_M", "IQ3_M", 27, tensor.IQ3_S},
		{"IQ1_M", "IQ1_M", 31, tensor.IQ1_M}, {"IQ4_XS", "IQ4_XS", 30, tensor.IQ4_XS},
		{"Q1_0", "Q1_0", 40, tensor.Q1_0}, {"q2_0", "Q2_0", 41, tensor.Q2_0}, {"40", "Q1_0", 40, tensor.Q1_0},
	} {
		m, err := ParseMix(c.in)
		if err != nil || m.Name != c.name || m.FileType != c.ft || m.Default != c.def {
			t.Errorf("ParseMix(%q) = %+v, %v; want %s %d %v", c.in, m, err, c.name, c.ft, c.def)
		}
	}
	for _, bad := range []string{"", "Q4_K_X", "IQ2_XL", "Q3_0", "99", "-1", "Q4_K_M "} {
		_, err := ParseMix(bad)
		if bad == "Q4_K_M " { // surrounding spaces are forgiven
			if err != nil {
				t.Errorf("ParseMix(%q): %v", bad, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "Q4_K_M") {
			t.Errorf("ParseMix(%q): %v, want an error listing the known mixes", bad, err)
		}
	}
}

func TestParseOverride(t *testing.T) {
	for _, bad := range []string{"attn_q", "=q8_0", "attn_q=", "attn_q=q9_9", "(=q8_0", "attn_q=F8_E4M3"} {
		if _, err := ParseOverride(bad); err == nil {
			t.Errorf("ParseOverride(%q) succeeded", bad)
		}
	}
	o, err := ParseOverride("FFN_(up|gate)=Q5_K")
	if err != nil || o.Type != tensor.Q5_K || !o.Pattern.MatchString("blk.3.ffn_gate.weight") ||
		o.Pattern.MatchString("blk.3.ffn_down.weight") {
		t.Errorf("ParseOverride: %+v %v", o, err)
	}
}

func TestLoaderOrder(t *testing.T) {
	names := []string{"blk.10.attn_v.weight", "blk.9.ffn_up.weight", "output.weight", "blk.2.b",
		"token_embd.weight", "blk.2.a", "blk.x.y", "blk. 3.z", "blk.-1.q"}
	want := []string{"blk.-1.q", "blk.x.y", "output.weight", "token_embd.weight",
		"blk.2.a", "blk.2.b", "blk. 3.z", "blk.9.ffn_up.weight", "blk.10.attn_v.weight"}
	var got []string
	for _, i := range LoaderOrder(names) {
		got = append(got, names[i])
	}
	if !slices.Equal(got, want) {
		t.Errorf("LoaderOrder = %v\nwant %v", got, want)
	}
}

func TestMixHostile(t *testing.T) {
	m := mustMix(t, "Q4_K_M")
	ok := ModelInfo{Arch: "llama", NLayer: 2, NHead: 4, NHeadKV: 2}
	w := func(name string, shape ...int64) *tensor.Desc {
		return &tensor.Desc{Name: name, DType: tensor.F32, Shape: shape}
	}
	for _, c := range []struct {
		what string
		info ModelInfo
		ts   []*tensor.Desc
		opt  Options
	}{
		{"nil tensor", ok, []*tensor.Desc{nil}, Options{}},
		{"duplicate", ok, []*tensor.Desc{w("a.weight", 256, 256), w("a.weight", 256, 256)}, Options{}},
		{"negative dim", ok, []*tensor.Desc{w("a.weight", -256, 256)}, Options{}},
		{"no layers", ModelInfo{Arch: "llama"}, []*tensor.Desc{w("a.weight", 256, 256)}, Options{}},
		{"negative heads", ModelInfo{NLayer: 2, NHead: -1}, nil, Options{}},
		{"bad output type", ok, nil, Options{OutputType: tensor.F8E4M3}},
		{"nil override", ok, nil, Options{Overrides: []Override{{Type: tensor.Q8_0}}}},
	} {
		if _, err := m.Plan(c.info, c.ts, c.opt); err == nil {
			t.Errorf("%s: no error", c.what)
		}
	}
	if _, err := (*Mix)(nil).Plan(ok, nil, Options{}); err == nil {
		t.Error("nil mix: no error")
	}
}

func FuzzMixNames(f *testing.F) {
	// names as they appear in the corpus GGUFs, and odd ones
	for _, s := range []string{"Q4_K_M", "15", "blk.1.ffn_down.weight", "blk.0.attn_v.weight", "output.weight",
		"token_embd.weight", "blk.0.attn_norm.weight", "blk.-9.ffn_down", "blk.99999999999.x", "attn_v=q8_0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if m, err := ParseMix(s); err == nil {
			if again, err := ParseMix(m.Name); err != nil || *again != *m {
				t.Fatalf("ParseMix(%q) = %v, but its name gives %v %v", s, m, again, err)
			}
		}
		_, _ = ParseOverride(s)
		m := mustMix(t, "Q4_K_M")
		info := ModelInfo{Arch: "llama", NLayer: 4, NExpert: 8, NHead: 8, NHeadKV: 2}
		ts := []*tensor.Desc{{Name: s, DType: tensor.F32, Shape: []int64{8, 64, 300}}, {Name: "x" + s, DType: tensor.F32, Shape: []int64{256, 256}}}
		types, err := m.Plan(info, ts, Options{})
		if err == nil && len(types) != 2 {
			t.Fatalf("%d types for 2 tensors", len(types))
		}
		_ = LoaderOrder([]string{s, "blk.1." + s})
	})
}

// mustMix parses a mix the test relies on, failing the test if it cannot.
func mustMix(t testing.TB, name string) *Mix {
	t.Helper()
	m, err := ParseMix(name)
	if err != nil {
		t.Fatal(err)
	}
	return m
}
