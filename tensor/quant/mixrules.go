package quant

import (
	"errors"
	"fmt"
	"strings"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// This file holds llama-quantize's per-tensor rules (src/llama-quant.cpp):
// which tensors are quantized at all, the broad role of each tensor, the
// mixes' rules per role, and the fallback for rows the type cannot take.

// category is a tensor's role as the rules see it, from its GGUF name.
type category int

const (
	catOther category = iota
	catTokenEmbd
	catOutput
	catAttnQKV
	catAttnKVB
	catAttnV
	catAttnK
	catAttnQ
	catAttnOutput
	catFFNUp
	catFFNGate
	catFFNDown
)

// categoryOf tests in llama.cpp's order: the first match decides, so
// "ffn_up_exps" is an up projection and "attn_qkv" counts as attn_v.
func categoryOf(name string) category {
	switch name {
	case "output.weight":
		return catOutput
	case "token_embd.weight", "per_layer_token_embd.weight":
		return catTokenEmbd
	}
	for _, c := range []struct {
		sub string
		cat category
	}{
		{"attn_qkv.weight", catAttnQKV}, {"attn_kv_b.weight", catAttnKVB},
		{"attn_v.weight", catAttnV}, {"attn_k.weight", catAttnK},
		{"attn_q.weight", catAttnQ}, {"attn_output.weight", catAttnOutput},
		{"ffn_up", catFFNUp}, {"ffn_gate", catFFNGate}, {"ffn_down", catFFNDown},
	} {
		if strings.Contains(name, c.sub) {
			return c.cat
		}
	}
	return catOther
}

// isAttnV: fused QKV and MLA's kv_b carry the values too, and get attn_v's rules.
func (c category) isAttnV() bool { return c == catAttnV || c == catAttnQKV || c == catAttnKVB }

// notQuantized are name fragments llama.cpp never quantizes: norms, MoE
// routers, small or precision-critical tensors of various architectures.
var notQuantized = []string{
	"_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel",
	"per_layer_model_proj", "ssm_conv1d", "shortconv.conv.weight",
	"indexer.k_proj.weight", "indexer.q_proj.weight",
	"time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight",
	"time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight", "time_mix_a0.weight",
	"time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight", "time_mix_g2.weight",
	"time_mix_decay_w1.weight", "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight",
	"attn_rel_b.weight", ".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_",
	".rel_pos", ".patch_embd", ".patch_merger", "a.rvq.codebook", "mm.a.code_embd",
}

// allowsQuantization is llama.cpp's predicate: matrices (and expert stacks)
// whose name ends in "weight", minus the exclusions.
func allowsQuantization(t *tensor.Desc, opt Options) bool {
	// llama.cpp tests rfind("weight") == size-6, which a 5-byte name also
	// passes (both sides wrap to npos); kept for identical plans.
	if nDims(t.Shape) < 2 || !(strings.HasSuffix(t.Name, "weight") || len(t.Name) == 5) {
		return false
	}
	switch t.Name {
	case "position_embd.weight", "token_types.weight": // BERT-style, never quantized
		return false
	case "output.weight":
		if opt.LeaveOutput {
			return false
		}
	}
	for _, s := range notQuantized {
		if strings.Contains(t.Name, s) {
			return false
		}
	}
	return true
}

// nDims is ggml_n_dims: trailing ggml dimensions of size 1 do not count, so a
// row-major [1, n] tensor is one-dimensional.
func nDims(shape []int64) int {
	for j, s := range shape {
		if s > 1 {
			return len(shape) - j
		}
	}
	return 1
}

// planner carries llama.cpp's quantize_state across the tensors of one plan.
type planner struct {
	mix                     *Mix
	info                    ModelInfo
	opt                     Options
	tied, is70B             bool
	nAttnV, iAttnV          int
	nFFN, iDown, iGate, iUp int
}

func newPlanner(m *Mix, info ModelInfo, ts []*tensor.Desc, opt Options) (*planner, error) {
	if m == nil || !m.Default.Valid() {
		return nil, errors.New("quantization mix: none chosen")
	}
	if info.NLayer < 0 || info.NExpert < 0 || info.NHead < 0 || info.NHeadKV < 0 {
		return nil, fmt.Errorf("quantization mix %s: negative hyperparameter in %+v", m.Name, info)
	}
	for _, d := range []struct {
		what string
		t    tensor.DType
	}{{"output tensor type", opt.OutputType}, {"token embedding type", opt.EmbeddingType}} {
		if d.t != tensor.Invalid && (!d.t.Valid() || d.t.Info().GGML < 0) {
			return nil, fmt.Errorf("quantization mix %s: %s %v is not a ggml type", m.Name, d.what, d.t)
		}
	}
	for i, o := range opt.Overrides {
		if o.Pattern == nil || !o.Type.Valid() || o.Type.Info().GGML < 0 {
			return nil, fmt.Errorf("quantization mix %s: override %d needs a pattern and a ggml type", m.Name, i)
		}
	}
	p := &planner{mix: m, info: info, opt: opt, tied: true, nFFN: info.NLayer,
		is70B: info.Type70B || Infer70B(info)}
	seen := make(map[string]bool, len(ts))
	for i, t := range ts {
		if t == nil {
			return nil, fmt.Errorf("quantization mix %s: tensor %d is nil", m.Name, i)
		}
		if seen[t.Name] {
			return nil, fmt.Errorf("quantization mix %s: tensor %s appears twice", m.Name, t.Name)
		}
		seen[t.Name] = true
		for _, s := range t.Shape {
			if s < 0 {
				return nil, fmt.Errorf("quantization mix %s: tensor %s has shape %v", m.Name, t.Name, t.Shape)
			}
		}
		c := categoryOf(t.Name)
		if c.isAttnV() {
			p.nAttnV++
		}
		if c == catOutput {
			p.tied = false
		}
	}
	if m.Default.Quantized() && !opt.Pure && info.NLayer == 0 {
		return nil, fmt.Errorf("quantization mix %s: the rules need the block count, got 0", m.Name)
	}
	return p, nil
}

// tensorType is llama_tensor_get_type for a tensor that may be quantized.
func (p *planner) tensorType(t *tensor.Desc, r *Report) (tensor.DType, error) {
	cat := categoryOf(t.Name)
	if p.opt.EmbeddingType != tensor.Invalid && cat == catTokenEmbd && !p.overrideNames(t.Name) {
		return p.opt.EmbeddingType, nil
	}
	if p.opt.OutputType != tensor.Invalid && cat == catOutput {
		return p.opt.OutputType, nil
	}
	typ := p.mix.Default
	if !typ.Quantized() {
		return typ, nil
	}
	manual := false
	for _, o := range p.opt.Overrides {
		if o.Pattern.MatchString(t.Name) {
			typ, manual = o.Type, true
			break
		}
	}
	if !manual && !p.opt.Pure {
		var err error
		if typ, err = p.rules(t, cat, typ); err != nil {
			return tensor.Invalid, err
		}
	}
	return fallback(t, typ, r)
}

// fallback replaces a type whose block does not divide the row length:
// K-quants by a 32-element type of at least as many bits, and F16 when even
// that does not fit. Types with no fallback in llama.cpp are an error.
func fallback(t *tensor.Desc, typ tensor.DType, r *Report) (tensor.DType, error) {
	cols := int64(1)
	if len(t.Shape) > 0 {
		cols = t.Shape[len(t.Shape)-1]
	}
	if cols%typ.Info().BlockSize == 0 {
		return typ, nil
	}
	var used tensor.DType
	switch typ {
	case tensor.IQ1_S, tensor.IQ1_M, tensor.IQ2_XXS, tensor.IQ2_XS, tensor.IQ2_S,
		tensor.IQ3_XXS, tensor.IQ3_S, tensor.IQ4_XS:
		used = tensor.IQ4_NL
	case tensor.Q2_0, tensor.Q2_K, tensor.Q3_K, tensor.TQ1_0, tensor.TQ2_0:
		used = tensor.Q4_0
	case tensor.Q4_K:
		used = tensor.Q5_0
	case tensor.Q5_K:
		used = tensor.Q5_1
	case tensor.Q6_K:
		used = tensor.Q8_0
	default:
		if typ.Info().BlockSize <= 32 { // no smaller block to go to: F16 below
			used = typ
			break
		}
		return tensor.Invalid, fmt.Errorf("rows of %d elements do not fit %v (blocks of %d), and llama.cpp defines no fallback for it",
			cols, typ, typ.Info().BlockSize)
	}
	if cols%used.Info().BlockSize != 0 {
		used = tensor.F16
	}
	r.Fallbacks = append(r.Fallbacks, Fallback{Name: t.Name, Cols: cols, Want: typ, Used: used})
	return used, nil
}

// needsImatrix is tensor_requires_imatrix: the lowest-bit types are garbage
// without one, and so is Q2_K inside a Q2_K_S file.
func needsImatrix(name string, typ tensor.DType, ft uint32) bool {
	if c := categoryOf(name); c == catTokenEmbd || c == catOutput {
		return false
	}
	switch typ {
	case tensor.IQ3_XXS, tensor.IQ2_XXS, tensor.IQ2_XS, tensor.IQ2_S, tensor.IQ1_M, tensor.IQ1_S:
		return true
	case tensor.Q2_K:
		return ft == ftQ2_K_S
	}
	return false
}
