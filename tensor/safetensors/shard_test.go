package safetensors

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
	"github.com/mlmf-run/mlmf-run/tensor"
)

func TestParseSize(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"5GB", 5_000_000_000, true},
		{"5gb", 5_000_000_000, true}, // huggingface_hub upper-cases; no bits
		{"1MB", 1_000_000, true},
		{" 2 KB ", 2000, true},
		{"1.5GB", 1_500_000_000, true},
		{"0.1GB", 100_000_000, true},
		{"3TB", 3_000_000_000_000, true},
		{"1GiB", 1 << 30, true},
		{"2mib", 2 << 20, true},
		{"3KiB", 3 << 10, true},
		{"1TiB", 1 << 40, true},
		{"12345", 12345, true},
		{"0", 0, true},
		{"", 0, false},
		{"GB", 0, false},
		{"-1GB", 0, false},
		{"-5", 0, false},
		{"5XB", 0, false},
		{"infGB", 0, false},
		{"nanMB", 0, false},
		{"1e30TB", 0, false},
		{"5 G", 0, false},
	}
	for _, c := range cases {
		got, err := ParseSize(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

func sized(sizes ...int64) []*tensor.Desc {
	var out []*tensor.Desc
	for i, s := range sizes {
		out = append(out, &tensor.Desc{Name: fmt.Sprint("t", i), DType: tensor.U8, Shape: []int64{s}})
	}
	return out
}

func names(shards [][]*tensor.Desc) [][]string {
	var out [][]string
	for _, s := range shards {
		var n []string
		for _, t := range s {
			n = append(n, t.Name)
		}
		out = append(out, n)
	}
	return out
}

func TestPlanShards(t *testing.T) {
	cases := []struct {
		sizes []int64
		max   int64
		want  [][]string
	}{
		// huggingface_hub's docstring example: [6,6,2,6,2,2] under 10.
		{[]int64{6, 6, 2, 6, 2, 2}, 10, [][]string{{"t0"}, {"t1", "t2"}, {"t3", "t4", "t5"}}},
		// A tensor over the limit gets its own shard, emitted before the one being filled.
		{[]int64{3, 12, 4, 5}, 10, [][]string{{"t1"}, {"t0", "t2"}, {"t3"}}},
		{[]int64{10, 10}, 10, [][]string{{"t0"}, {"t1"}}},
		{[]int64{1, 2, 3}, 100, [][]string{{"t0", "t1", "t2"}}},
		{nil, 10, nil},
	}
	for _, c := range cases {
		if got := names(PlanShards(sized(c.sizes...), c.max)); !reflect.DeepEqual(got, c.want) {
			t.Errorf("PlanShards(%v, %d) = %v, want %v", c.sizes, c.max, got, c.want)
		}
	}
	if got := ShardNames(1); !reflect.DeepEqual(got, []string{"model.safetensors"}) {
		t.Errorf("ShardNames(1) = %v", got)
	}
	if got := ShardNames(12); got[0] != "model-00001-of-00012.safetensors" || got[11] != "model-00012-of-00012.safetensors" {
		t.Errorf("ShardNames(12) = %v", got)
	}
}

// llamaStateDictOrder is the order LlamaForCausalLM.state_dict() lists its
// parameters (module registration order), which save_pretrained shards in.
func llamaStateDictOrder(layers int) []string {
	out := []string{"model.embed_tokens.weight"}
	for i := 0; i < layers; i++ {
		for _, m := range []string{"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
			"mlp.gate_proj", "mlp.up_proj", "mlp.down_proj", "input_layernorm", "post_attention_layernorm"} {
			out = append(out, fmt.Sprintf("model.layers.%d.%s.weight", i, m))
		}
	}
	return append(out, "model.norm.weight", "lm_head.weight")
}

// TestCorpusSharding re-shards the corpus' sharded checkpoint the way
// save_pretrained(max_shard_size="1MB") did: the shard boundaries (shard data
// of 917504, 918528, 787968 and 262144 bytes, so any limit in [918528,
// 1050112) would do, and "1MB" is the round one), the index bytes, and every
// shard file must come out identical.
func TestCorpusSharding(t *testing.T) {
	dir := filepath.Join(corpus.Dir(t), "tiny-llama-spm")
	set, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	byName := map[string]*tensor.Desc{}
	for _, d := range set.Tensors {
		byName[d.Name] = d
	}
	var ordered []*tensor.Desc
	for _, n := range llamaStateDictOrder(2) {
		d, ok := byName[n]
		if !ok {
			t.Fatalf("corpus lacks %s", n)
		}
		ordered = append(ordered, d)
	}
	if len(ordered) != len(set.Tensors) {
		t.Fatalf("state dict order names %d tensors, the checkpoint has %d", len(ordered), len(set.Tensors))
	}
	limit, err := ParseSize("1MB")
	if err != nil {
		t.Fatal(err)
	}
	shards := PlanShards(ordered, limit)
	index, err := Index(shards, Parameters(ordered))
	if err != nil {
		t.Fatal(err)
	}
	wantIndex, err := os.ReadFile(filepath.Join(dir, IndexName))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(index, wantIndex) {
		t.Errorf("index\n%s\nwant\n%s", index, wantIndex)
	}
	for i, name := range ShardNames(len(shards)) {
		want, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		if err := Write(&out, shards[i], map[string]string{"format": "pt"}); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(out.Bytes(), want) {
			t.Errorf("%s differs from the corpus", name)
		}
	}
}

// TestIndexFormat checks Index against json.dumps(indent=2, sort_keys=True)
// spelled out by hand, with a name that needs ensure_ascii escaping.
func TestIndexFormat(t *testing.T) {
	shards := [][]*tensor.Desc{sized(4), {{Name: "é\"", DType: tensor.F32, Shape: []int64{2}}}}
	got, err := Index(shards, -1)
	if err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"metadata\": {\n    \"total_size\": 12\n  },\n  \"weight_map\": {\n" +
		"    \"t0\": \"model-00001-of-00002.safetensors\",\n" +
		"    \"\\u00e9\\\"\": \"model-00002-of-00002.safetensors\"\n  }\n}\n"
	if string(got) != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	var v any
	if err := json.Unmarshal(got, &v); err != nil {
		t.Errorf("not JSON: %v", err)
	}
	if _, err := Index([][]*tensor.Desc{sized(1), sized(1)}, 0); err == nil {
		t.Error("a tensor in two shards: no error")
	}
}
