package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/safetensors"
)

type config struct {
	Hidden, FFN, Layers, Heads, KVHeads, Vocab, Ctx int
	DType                                           string
	Seed                                            uint64
	MaxShard                                        string
}

// tensors lists the checkpoint in transformers' state-dict order.
func (c config) tensors(dt tensor.DType) []*tensor.Desc {
	h, f, kv := int64(c.Hidden), int64(c.FFN), int64(c.Hidden/c.Heads*c.KVHeads)
	var ts []*tensor.Desc
	add := func(name string, shape ...int64) {
		d := &tensor.Desc{Name: name, DType: dt, Shape: shape}
		d.Src = &randomRows{seed: c.Seed ^ hash(name), d: d, norm: len(shape) == 1}
		ts = append(ts, d)
	}
	add("model.embed_tokens.weight", int64(c.Vocab), h)
	for i := 0; i < c.Layers; i++ {
		p := fmt.Sprintf("model.layers.%d.", i)
		add(p+"self_attn.q_proj.weight", h, h)
		add(p+"self_attn.k_proj.weight", kv, h)
		add(p+"self_attn.v_proj.weight", kv, h)
		add(p+"self_attn.o_proj.weight", h, h)
		add(p+"mlp.gate_proj.weight", f, h)
		add(p+"mlp.up_proj.weight", f, h)
		add(p+"mlp.down_proj.weight", h, f)
		add(p+"input_layernorm.weight", h)
		add(p+"post_attention_layernorm.weight", h)
	}
	add("model.norm.weight", h)
	add("lm_head.weight", int64(c.Vocab), h)
	return ts
}

func write(dir string, c config) error {
	dt, err := tensor.ParseDType(c.DType)
	if err != nil || (dt != tensor.BF16 && dt != tensor.F16 && dt != tensor.F32) {
		return fmt.Errorf("-dtype %q: expected BF16, F16 or F32", c.DType)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(dir, "config.json"), c.hfConfig(dt)); err != nil {
		return err
	}
	if err := writeTokenizer(dir, c.Vocab); err != nil {
		return err
	}
	ts := c.tensors(dt)
	if c.MaxShard == "" {
		return writeFile(filepath.Join(dir, safetensors.SingleName), ts)
	}
	max, err := safetensors.ParseSize(c.MaxShard)
	if err != nil {
		return err
	}
	shards := safetensors.PlanShards(ts, max)
	names := safetensors.ShardNames(len(shards))
	for i, s := range shards {
		if err := writeFile(filepath.Join(dir, names[i]), s); err != nil {
			return err
		}
	}
	idx, err := safetensors.Index(shards, safetensors.Parameters(ts))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, safetensors.IndexName), idx, 0o644)
}

func writeFile(path string, ts []*tensor.Desc) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := safetensors.Write(f, ts, map[string]string{"format": "pt"}); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func (c config) hfConfig(dt tensor.DType) map[string]any {
	names := map[tensor.DType]string{tensor.BF16: "bfloat16", tensor.F16: "float16", tensor.F32: "float32"}
	return map[string]any{
		"architectures": []string{"LlamaForCausalLM"}, "model_type": "llama",
		"hidden_size": c.Hidden, "intermediate_size": c.FFN, "num_hidden_layers": c.Layers,
		"num_attention_heads": c.Heads, "num_key_value_heads": c.KVHeads, "head_dim": c.Hidden / c.Heads,
		"vocab_size": c.Vocab, "max_position_embeddings": c.Ctx, "rms_norm_eps": 1e-5,
		"rope_theta": 10000.0, "hidden_act": "silu", "tie_word_embeddings": false,
		"bos_token_id": c.Vocab - 2, "eos_token_id": c.Vocab - 1, "torch_dtype": names[dt],
	}
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// randomRows makes each row from a seed and the row index alone, so any
// chunk can be generated independently and every run gives the same bytes.
type randomRows struct {
	seed uint64
	d    *tensor.Desc
	norm bool
}

func (r *randomRows) ReadRows(row, n int64, dst []byte) error {
	rl := r.d.RowLen()
	f := make([]float32, rl)
	rb := r.d.RowBytes()
	for i := int64(0); i < n; i++ {
		s := splitmix(r.seed + uint64(row+i)*0x9e3779b97f4a7c15)
		for j := range f {
			s = s*6364136223846793005 + 1442695040888963407
			u := float32(s>>40) / float32(1<<24) // [0,1)
			if r.norm {
				f[j] = 1 + (u-0.5)*0.2 // norms near 1, jittered
			} else {
				f[j] = (u - 0.5) * 0.08
			}
		}
		if err := tensor.FromFloat32(r.d.DType, f, dst[i*rb:(i+1)*rb]); err != nil {
			return err
		}
	}
	return nil
}

func (r *randomRows) Describe() string { return "random:" + r.d.Name }

func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ x>>30) * 0xbf58476d1ce4e5b9
	x = (x ^ x>>27) * 0x94d049bb133111eb
	return x ^ x>>31
}

func hash(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return h
}
