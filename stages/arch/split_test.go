package arch

import (
	"reflect"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/tensor"
)

const splitTable = `
arch: tiny
params:
  n_layer: {from: [layers]}
  heads: {from: [heads]}
  a: {from: [a]}
  b: {from: [b]}
tensors:
  - hf: "blocks.{bid}.kv"
    suffixes: weight
    split:
      groups: heads
      parts:
        - {gguf: "blk.{bid}.k", rows: a, transforms: [transpose_heads]}
        - {gguf: "blk.{bid}.v", rows: b}
`

// TestSplitCutsEachGroup cuts 2 heads of (a=2 + b=1) rows of 3 into the
// parts DeepSeek's kv_b_proj becomes: k [2, 3, 2] transposed per head, v
// [2, 1, 3]; element values say which input element each came from.
func TestSplitCutsEachGroup(t *testing.T) {
	a, err := Parse([]byte(splitTable))
	if err != nil {
		t.Fatal(err)
	}
	cfg := map[string]any{"layers": 1.0, "heads": 2.0, "a": 2.0, "b": 1.0}
	out, err := a.Remap(cfg, []*tensor.Desc{mk("blocks.0.kv.weight", 0, 6, 3)})
	if err != nil {
		t.Fatal(err)
	}
	got := byName(out)
	k, v := got["blk.0.k.weight"], got["blk.0.v.weight"]
	if k == nil || v == nil || len(out) != 2 {
		t.Fatalf("outputs %v", out)
	}
	// input rows: head 0 = rows 0,1 (k) and 2 (v); head 1 = rows 3,4 (k) and 5 (v)
	if !reflect.DeepEqual(k.Shape, []int64{2, 3, 2}) || !reflect.DeepEqual(floats(t, k), []float32{0, 3, 1, 4, 2, 5, 9, 12, 10, 13, 11, 14}) {
		t.Errorf("k %v %v", k.Shape, floats(t, k))
	}
	if !reflect.DeepEqual(v.Shape, []int64{2, 1, 3}) || !reflect.DeepEqual(floats(t, v), []float32{6, 7, 8, 15, 16, 17}) {
		t.Errorf("v %v %v", v.Shape, floats(t, v))
	}
	// the rows must add up to the tensor's
	_, err = a.Remap(cfg, []*tensor.Desc{mk("blocks.0.kv.weight", 0, 5, 3)})
	if err == nil || !strings.Contains(err.Error(), "split of blocks.0.kv.weight: shape [5 3] has 5 rows, want 2 groups of 3") {
		t.Errorf("err %v", err)
	}
	// a split rule makes no tensor gguf-to-hf could map back
	if rules, _ := a.ggufMatch("blk.0.k.weight"); len(rules) != 0 {
		t.Errorf("gguf-to-hf finds %d rules for a split part", len(rules))
	}
}

func TestParseSplitErrors(t *testing.T) {
	for _, bad := range []struct{ yaml, want string }{
		{"arch: x\ntensors:\n  - {hf: a, gguf: b, split: {parts: [{gguf: c, rows: \"1\"}, {gguf: d, rows: \"1\"}]}}\n", "either gguf or split"},
		{"arch: x\ntensors:\n  - {hf: a, split: {parts: [{gguf: c, rows: \"1\"}]}}\n", "at least two parts"},
		{"arch: x\ntensors:\n  - {hf: a, split: {parts: [{gguf: c}, {gguf: d, rows: \"1\"}]}}\n", "parts[0]: need gguf and rows"},
		{"arch: x\ntensors:\n  - {hf: a, split: {parts: [{gguf: c, rows: \"1\", transforms: [spin]}, {gguf: d, rows: \"1\"}]}}\n", `parts[0]: unknown transform "spin"`},
		{"arch: x\ntensors:\n  - {hf: a, split: {parts: [{gguf: \"blk.{bid}.c\", rows: \"1\"}, {gguf: d, rows: \"1\"}]}}\n", "uses {bid}"},
		{"arch: x\nskip_blocks_from: n_main\n", `skip_blocks_from: unknown param "n_main"`},
	} {
		if _, err := Parse([]byte(bad.yaml)); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("Parse(%q): %v, want %q", bad.yaml, err, bad.want)
		}
	}
}

// TestExprLen: len(path) counts a config list at a dotted path, 0 when
// absent (Qwen3-VL's deepstack layers), and is an error on a non-list.
func TestExprLen(t *testing.T) {
	h := newHParams(map[string]any{"vision_config": map[string]any{"idx": []any{1.0, 2.0, 3.0}, "n": 2.0}}, nil)
	for src, want := range map[string]float64{"len(vision_config.idx)": 3, "len(vision_config.none)": 0, "len(text.idx) + 1": 1} {
		if got, err := h.evalNum(src); err != nil || got != want {
			t.Errorf("%s = %v, %v; want %v", src, got, err, want)
		}
	}
	for src, want := range map[string]string{"len(vision_config.n)": "not a list", "len(1, 2)": "len takes one config path"} {
		if _, err := h.evalNum(src); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", src, err, want)
		}
	}
}
