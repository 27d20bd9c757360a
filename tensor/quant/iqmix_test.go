package quant

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// iqMixRefs is testdata/iqmix/refs.json, written by scripts/make-iqmix-refs.sh
// from llama-quantize's own outputs.
type iqMixRefs struct {
	Models map[string]struct {
		Arch        string  `json:"arch"`
		BlockCount  int     `json:"block_count"`
		HeadCount   int     `json:"head_count"`
		HeadCountKV int     `json:"head_count_kv"`
		ExpertCount int     `json:"expert_count"`
		Tensors     [][]any `json:"tensors"` // name, type, ggml shape
	} `json:"models"`
	Cases []struct {
		Model, Mix   string
		Imatrix      bool
		Types        map[string]string
		NeedsImatrix string `json:"needs_imatrix"`
		NoFallback   string `json:"no_fallback"` // the tensor whose rows fit neither the type nor a fallback
	} `json:"cases"`
}

// TestIQMixesMatchLlamaQuantize plans every IQ, ternary, MXFP4, Q1_0 and
// Q2_0 mix as llama-quantize did on the corpus model and its 16-layer GQA-4
// copy, with and without an importance matrix: each tensor's type, and the
// refusal (naming the same tensor) where llama-quantize refused.
func TestIQMixesMatchLlamaQuantize(t *testing.T) {
	b, err := os.ReadFile("testdata/iqmix/refs.json")
	if err != nil {
		t.Fatal(err)
	}
	var refs iqMixRefs
	if err := json.Unmarshal(b, &refs); err != nil {
		t.Fatal(err)
	}
	if len(refs.Cases) == 0 {
		t.Fatal("no cases in testdata/iqmix/refs.json")
	}
	for _, c := range refs.Cases {
		name := c.Model + "/" + c.Mix + "/imatrix=" + map[bool]string{true: "yes", false: "no"}[c.Imatrix]
		t.Run(name, func(t *testing.T) {
			md, ok := refs.Models[c.Model]
			if !ok {
				t.Fatalf("no model %q", c.Model)
			}
			info := ModelInfo{Arch: md.Arch, NLayer: md.BlockCount, NHead: md.HeadCount, NHeadKV: md.HeadCountKV, NExpert: md.ExpertCount}
			var ts []*tensor.Desc
			for _, r := range md.Tensors {
				d, err := tensor.ParseDType(r[1].(string))
				if err != nil {
					t.Fatal(err)
				}
				var shape []int64
				for _, v := range r[2].([]any) {
					shape = append(shape, int64(v.(float64)))
				}
				slices.Reverse(shape)
				ts = append(ts, &tensor.Desc{Name: r[0].(string), DType: d, Shape: shape})
			}
			m, err := ParseMix(c.Mix)
			if err != nil {
				t.Fatal(err)
			}
			opt := Options{HasImatrix: c.Imatrix}
			rep, err := m.PlanReport(info, ts, opt)
			if c.NoFallback != "" {
				if err == nil || !strings.Contains(err.Error(), "tensor "+c.NoFallback+":") {
					t.Errorf("PlanReport: %v; llama-quantize refused %s (no fallback for its rows)", err, c.NoFallback)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, planErr := m.Plan(info, ts, opt)
			if c.NeedsImatrix != "" {
				if len(rep.NeedsImatrix) == 0 || rep.NeedsImatrix[0] != c.NeedsImatrix {
					t.Errorf("needs an imatrix first for %v, llama-quantize refused at %s", rep.NeedsImatrix, c.NeedsImatrix)
				}
				if planErr == nil || !strings.Contains(planErr.Error(), c.NeedsImatrix) {
					t.Errorf("Plan: %v, want a refusal naming %s", planErr, c.NeedsImatrix)
				}
				return
			}
			if !c.Imatrix && planErr != nil {
				t.Errorf("Plan without imatrix: %v; llama-quantize wrote the file", planErr)
			}
			if len(c.Types) != len(ts) {
				t.Fatalf("reference has %d tensors, model %d", len(c.Types), len(ts))
			}
			for i, d := range ts {
				if want := c.Types[d.Name]; rep.Types[i].String() != want {
					t.Errorf("%s: %v, llama-quantize %s", d.Name, rep.Types[i], want)
				}
			}
		})
	}
}
