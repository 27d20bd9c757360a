package stages

import (
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/pipeline"
	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

// TestOverrideKVAsLlamaQuantize: KEY=TYPE:VALUE is written as
// llama-quantize writes it (int as the UINT32 of its magnitude, float as
// FLOAT32), and a malformed entry names itself and what was expected.
func TestOverrideKVAsLlamaQuantize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want gguf.Value
	}{
		{"llama.context_length=int:-128", gguf.Uint32(128)},
		{"a.b=float:0.5", gguf.Float32(0.5)},
		{"a.b=bool:false", gguf.Bool(false)},
		{"general.name=str:My Model: v2", gguf.String("My Model: v2")},
	} {
		kv, err := parseOverrideKV(c.in)
		if err != nil || kv.Value != c.want {
			t.Errorf("%s: %+v, %v; want %+v", c.in, kv.Value, err, c.want)
		}
	}
	for _, c := range []struct{ in, want string }{
		{"novalue", "want KEY=TYPE:VALUE"},
		{"a=int:12abc", "not an integer"},
		{"a=bool:yes", "true or false"},
		{"a=u32:1", `type "u32"`},
		{"a=str:" + strings.Repeat("x", 128), "127 bytes"},
		{strings.Repeat("k", 128) + "=int:1", "1..127 bytes"},
	} {
		if _, err := parseOverrideKV(c.in); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%.20s: %v, want an error saying %q", c.in, err, c.want)
		}
	}
}

func FuzzParseOverrideKV(f *testing.F) {
	for _, s := range []string{"a=int:1", "b=float:1e9", "c=bool:true", "d=str:x y", "=int:1", "e=int:", "f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		kv, err := parseOverrideKV(s)
		if err == nil && (kv.Key == "" || strings.Contains(kv.Key, "=")) {
			t.Errorf("%q gave key %q", s, kv.Key)
		}
	})
}

func TestQuantizeFlagErrors(t *testing.T) {
	for _, c := range []struct {
		with pipeline.Params
		want string
	}{
		{pipeline.Params{"type": "Q4_K_M", "imatrix": "x", "include_weights": "a", "exclude_weights": "b"}, "cannot be used together"},
		{pipeline.Params{"type": "Q4_K_M", "include_weights": "a"}, "set imatrix"},
		{pipeline.Params{"type": "Q4_K_M", "tensor_types": "attn_v"}, "want pattern=type"},
		{pipeline.Params{"type": "Q4_K_M", "tensor_types": []any{"attn_v=q9_9"}}, "not a ggml type"},
		{pipeline.Params{"type": "Q4_K_M", "tensor_types": "(=q8_0"}, "tensor_types"},
		{pipeline.Params{"type": "Q4_K_M", "prune_layers": "1,x"}, `"x" is not a layer number`},
		{pipeline.Params{"type": "Q4_K_M", "tensor_type_file": "/nonexistent/types.txt"}, "tensor_type_file"},
		{pipeline.Params{"type": "Q4_K_M", "override_kv": "a=int:x"}, "override_kv"},
	} {
		_, err := newQuantize(c.with)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error saying %q", c.with, err, c.want)
		}
	}
}

// TestPruneLayersRenumbers: llama-quantize's remap_layer keeps the blocks
// below the first pruned one, drops the pruned, and numbers the rest on
// (blocks 0..4 pruning 1 and 3: 0, 2->1, 4->2; three blocks).
func TestPruneLayersRenumbers(t *testing.T) {
	var ts []*tensor.Desc
	for _, n := range []string{"token_embd.weight", "blk.0.attn_q.weight", "blk.1.attn_q.weight", "blk.2.attn_q.weight",
		"blk.3.attn_q.weight", "blk.4.attn_q.weight", "blk.4.ffn_up.weight", "output.weight"} {
		ts = append(ts, &tensor.Desc{Name: n, DType: tensor.F32, Shape: []int64{2, 2}})
	}
	kept, orig, blocks := pruneLayers(ts, []int{1, 3})
	var got []string
	for _, t := range kept {
		got = append(got, orig[t]+">"+t.Name)
	}
	want := "token_embd.weight>token_embd.weight blk.0.attn_q.weight>blk.0.attn_q.weight blk.2.attn_q.weight>blk.1.attn_q.weight " +
		"blk.4.attn_q.weight>blk.2.attn_q.weight blk.4.ffn_up.weight>blk.2.ffn_up.weight output.weight>output.weight"
	if strings.Join(got, " ") != want || blocks != 3 {
		t.Errorf("got %s, %d blocks\nwant %s, 3 blocks", strings.Join(got, " "), blocks, want)
	}
}
