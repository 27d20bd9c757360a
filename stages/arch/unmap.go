package arch

import (
	"fmt"
	"strings"

	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

// hfKeys maps GGUF hyperparameter keys back to the config.json names
// transformers writes, for Unmap.
var hfKeys = map[string]string{
	"block_count": "num_hidden_layers", "context_length": "max_position_embeddings",
	"embedding_length": "hidden_size", "feed_forward_length": "intermediate_size",
	"attention.head_count": "num_attention_heads", "attention.head_count_kv": "num_key_value_heads",
	"attention.layer_norm_rms_epsilon": "rms_norm_eps", "attention.key_length": "head_dim",
	"vocab_size": "vocab_size", "expert_count": "num_local_experts", "expert_used_count": "num_experts_per_tok",
}

// Unmap turns a GGUF model of this architecture back into HF names and
// layout: config values from the metadata, tensors renamed through the
// table with permute_qk undone (its inverse is again a row map). Tables whose
// tensors need other transforms or stacking are refused, naming the tensor.
func (a *Arch) Unmap(meta *gguf.Meta, tensors []*tensor.Desc) (map[string]any, []*tensor.Desc, error) {
	cfg := map[string]any{"model_type": a.Arch}
	if len(a.HFArchitectures) > 0 {
		cfg["architectures"] = []any{a.HFArchitectures[0]}
	}
	for _, kv := range meta.All() {
		k, ok := strings.CutPrefix(kv.Key, a.Arch+".")
		if !ok {
			continue
		}
		if hf, ok := hfKeys[k]; ok {
			if f, ok := num(kv.Value.V); ok {
				cfg[hf] = f
			}
		}
		if k == "rope.freq_base" {
			f, _ := num(kv.Value.V)
			cfg["rope_parameters"] = map[string]any{"rope_theta": f, "rope_type": "default"}
		}
	}
	h := newHParams(cfg, a.Params)
	c := &tctx{h: h}
	var out []*tensor.Desc
	var errs []string
	for _, d := range tensors {
		nd, err := a.unmapTensor(c, d)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		if nd != nil {
			out = append(out, nd)
		}
	}
	if len(errs) > 0 {
		return nil, nil, fmt.Errorf("%s unmap: %s", a.Arch, strings.Join(errs, "; "))
	}
	return cfg, out, nil
}

func (a *Arch) unmapTensor(c *tctx, d *tensor.Desc) (*tensor.Desc, error) {
	if d.Name == "rope_freqs.weight" {
		return nil, nil // regenerated from rope_parameters by the converter
	}
	for _, r := range a.rules {
		if r.src.Stack != nil {
			continue
		}
		pat := strings.ReplaceAll(regexpQuote(r.gguf), `\{bid\}`, `(\d+)`)
		sm := compileCached(pat).FindStringSubmatch(d.Name)
		if sm == nil {
			continue
		}
		hf := r.src.HF[0] + "." + r.gguf[strings.LastIndex(r.gguf, ".")+1:]
		if len(sm) > 1 {
			hf = strings.ReplaceAll(hf, "{bid}", sm[1])
		}
		nd := d.Clone()
		for i := len(r.transforms) - 1; i >= 0; i-- {
			t := r.transforms[i]
			if t[0] != "permute_qk" {
				return nil, fmt.Errorf("tensor %s: transform %s cannot be undone", d.Name, t[0])
			}
			var err error
			if nd, err = unpermuteQK(c, nd, t[1]); err != nil {
				return nil, err
			}
		}
		nd.Name = hf
		return nd, nil
	}
	return nil, fmt.Errorf("tensor %s maps to no HF tensor", d.Name)
}

// unpermuteQK inverts permuteQK: GGUF row 2i+j of a head goes back to HF
// row j*half+i.
func unpermuteQK(c *tctx, d *tensor.Desc, arg string) (*tensor.Desc, error) {
	heads, err := c.h.intParam(arg)
	if err != nil {
		return nil, fmt.Errorf("unpermute of %s: %w", d.Name, err)
	}
	if len(d.Shape) != 2 || d.Shape[0]%(2*heads) != 0 {
		return nil, fmt.Errorf("unpermute of %s: shape %v does not split into %d heads", d.Name, d.Shape, heads)
	}
	half := d.Shape[0] / heads / 2
	out := d.Clone()
	out.Src = &rowMap{src: d.Src, rowBytes: d.RowBytes(), what: fmt.Sprintf("unpermute_qk[%d]", heads), mapRow: func(o int64) int64 {
		h, rem := o/(2*half), o%(2*half)
		j, i := rem/half, rem%half
		return h*2*half + 2*i + j
	}}
	return out, nil
}
