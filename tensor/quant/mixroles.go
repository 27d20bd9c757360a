package quant

import (
	"errors"
	"fmt"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// The mixes' rules per tensor role (llama_tensor_get_type_impl).

// useMoreBits picks the first and last eighth of the layers and every third
// one in between: the layers where extra bits pay off most.
func useMoreBits(i, n int) bool {
	return i < n/8 || i >= 7*n/8 || (i-n/8)%3 == 2
}

// layer is the (layer, layer count) a per-layer rule uses. Dense models count
// the tensors of the role as they come; MoE models may list experts out of
// order, so the layer is read from the name instead.
func (p *planner) layer(i int, name string) (int, int, error) {
	if max(1, p.info.NExpert) > 1 {
		l, ok := blockOf(name)
		if !ok {
			return 0, 0, errors.New("cannot read its layer number (want blk.N.)")
		}
		if l < 0 || l >= p.nFFN {
			return 0, 0, fmt.Errorf("layer %d is outside [0, %d)", l, p.nFFN)
		}
		i = l
	}
	return i, p.nFFN, nil
}

// lowBit reports the mixes whose rules llama.cpp groups apart: the 1- and
// 2-bit IQ mixes.
func lowBit(ft uint32) bool {
	switch ft {
	case ftIQ2_XXS, ftIQ2_XS, ftIQ1_S, ftIQ2_S, ftIQ2_M, ftIQ1_M:
		return true
	}
	return false
}

// iq2SM reports IQ2_S and IQ2_M, which spend IQ3_S where the other low-bit
// mixes spend Q2_K.
func iq2SM(ft uint32) bool { return ft == ftIQ2_S || ft == ftIQ2_M }

// rules is llama_tensor_get_type_impl for the mixes this package offers,
// branch for branch in llama.cpp's order (the order decides: a fused QKV
// tensor takes attn_v's branch, never its own).
func (p *planner) rules(t *tensor.Desc, cat category, typ tensor.DType) (tensor.DType, error) {
	ft, arch, nExp := p.mix.FileType, p.info.Arch, p.info.NExpert
	falcon := arch == "falcon"
	switch {
	case cat == catOutput || (p.tied && cat == catTokenEmbd):
		cols := t.Shape[len(t.Shape)-1]
		switch {
		case p.opt.OutputType != tensor.Invalid:
			typ = p.opt.OutputType
		case ft == ftMXFP4MoE, falcon, cols%typ.Info().BlockSize != 0:
			typ = tensor.Q8_0
		case lowBit(ft) || ft == ftIQ3_XXS:
			typ = tensor.Q5_K
		case typ != tensor.Q8_0:
			typ = tensor.Q6_K
		}
	case ft == ftMXFP4MoE:
		expertRole := cat == catFFNUp || cat == catFFNGate || cat == catFFNDown
		if ne2(t.Shape) > 1 && (arch != "bailingmoe3" || expertRole) {
			typ = tensor.MXFP4
		} else {
			typ = tensor.Q8_0
		}
	case cat == catTokenEmbd:
		switch {
		case lowBit(ft) && !iq2SM(ft):
			typ = tensor.Q2_K
		case iq2SM(ft), ft == ftIQ3_XXS:
			typ = tensor.IQ3_S
		case ft == ftTQ1_0 || ft == ftTQ2_0 || ft == ftQ2_0: // not Q1_0
			typ = tensor.Q4_K
		}
	case lowBit(ft):
		typ = p.lowBitRules(cat, typ)
	case cat.isAttnV():
		typ = p.attnV(typ)
	case cat == catAttnK:
		switch {
		case nExp == 8:
			typ = tensor.Q8_0
		case ft == ftIQ3_XS:
			typ = tensor.IQ3_XXS
		case ft == ftIQ3_XXS:
			typ = tensor.IQ2_S
		}
	case cat == catAttnQ:
		switch ft {
		case ftIQ3_XS:
			typ = tensor.IQ3_XXS
		case ftIQ3_XXS:
			typ = tensor.IQ2_S
		}
	case cat == catFFNDown:
		l, n, err := p.layer(p.iDown, t.Name)
		if err != nil {
			return tensor.Invalid, err
		}
		typ = p.ffnDown(typ, l, n)
		p.iDown++
	case cat == catAttnOutput:
		typ = p.attnOutput(typ)
	case cat == catFFNGate, cat == catFFNUp: // rules only for IQ3_XS, but MoE names must parse
		ctr := &p.iGate
		if cat == catFFNUp {
			ctr = &p.iUp
		}
		l, n, err := p.layer(*ctr, t.Name)
		if err != nil {
			return tensor.Invalid, err
		}
		if ft == ftIQ3_XS && l >= n/8 && l < 7*n/8 {
			typ = tensor.IQ3_XXS
		}
		*ctr++
	}
	return typ, nil
}

// lowBitRules is llama.cpp's branch for the 1- and 2-bit IQ mixes: its
// ffn_down counter is the plain tensor count (no layer from MoE names),
// and ffn_gate/ffn_up are left alone.
func (p *planner) lowBitRules(cat category, typ tensor.DType) tensor.DType {
	ft, nExp := p.mix.FileType, p.info.NExpert
	small := tensor.Q2_K
	if iq2SM(ft) {
		small = tensor.IQ3_S
	}
	switch {
	case cat.isAttnV():
		typ = small
		if p.info.gqa() >= 4 || nExp >= 4 {
			typ = tensor.Q4_K
		}
		p.iAttnV++
	case nExp == 8 && cat == catAttnK:
		typ = tensor.Q4_K
	case cat == catFFNDown:
		if p.iDown < p.nFFN/8 {
			typ = small
		}
		p.iDown++
	case cat == catAttnOutput:
		switch {
		case nExp == 8:
			typ = tensor.Q5_K
		case ft == ftIQ1_S || ft == ftIQ1_M:
			typ = tensor.IQ2_XXS
		case iq2SM(ft):
			typ = tensor.IQ3_S
		}
	}
	return typ
}

func (p *planner) attnV(typ tensor.DType) tensor.DType {
	gqa := p.info.gqa()
	switch ft := p.mix.FileType; {
	case ft == ftQ2_K:
		typ = tensor.Q3_K
		if gqa >= 4 {
			typ = tensor.Q4_K
		}
	case ft == ftQ2_K_S && gqa >= 4:
		typ = tensor.Q4_K
	case ft == ftIQ3_XXS:
		switch {
		case gqa >= 4:
			typ = tensor.Q4_K
		case !p.opt.HasImatrix:
			typ = tensor.IQ3_S
		default:
			typ = tensor.IQ3_XXS
		}
	case (ft == ftIQ3_XS || ft == ftIQ3_S) && gqa >= 4:
		typ = tensor.Q4_K
	case ft == ftIQ3_M:
		typ = tensor.Q4_K
	case ft == ftQ3_K_M:
		typ = tensor.Q4_K
		if p.iAttnV < 2 {
			typ = tensor.Q5_K
		}
	case ft == ftQ3_K_L:
		typ = tensor.Q5_K
	case (ft == ftIQ4_NL || ft == ftIQ4_XS) && gqa >= 4:
		typ = tensor.Q5_K
	case (ft == ftQ4_K_M || ft == ftQ5_K_M) && useMoreBits(p.iAttnV, p.nAttnV):
		typ = tensor.Q6_K
	case ft == ftQ4_K_S && p.iAttnV < 4:
		typ = tensor.Q5_K
	}
	if p.is70B && (typ == tensor.Q3_K || typ == tensor.Q4_K) {
		typ = tensor.Q5_K // 8 heads share attn_v: it is small, give it bits
	}
	if p.info.NExpert == 8 {
		typ = tensor.Q8_0
	}
	p.iAttnV++
	return typ
}

func (p *planner) ffnDown(typ tensor.DType, l, n int) tensor.DType {
	falcon := p.info.Arch == "falcon"
	more := useMoreBits(l, n)
	switch ft := p.mix.FileType; {
	case ft == ftQ2_K:
		typ = tensor.Q3_K
	case ft == ftQ2_K_S:
		if l < n/8 {
			typ = tensor.Q4_K
		}
	case ft == ftIQ3_XXS && !p.opt.HasImatrix:
		typ = tensor.Q3_K
		if l < n/8 {
			typ = tensor.Q4_K
		}
	case ft == ftQ3_K_M:
		switch {
		case l < n/16:
			typ = tensor.Q5_K
		case !falcon || more:
			typ = tensor.Q4_K
		default:
			typ = tensor.Q3_K
		}
	case ft == ftIQ3_M && (l < n/8 || p.info.NExpert == 8 && more):
		typ = tensor.Q4_K
	case ft == ftQ3_K_L:
		typ = tensor.Q5_K
		if falcon {
			typ = tensor.Q4_K
		}
	case ft == ftQ4_K_M:
		switch {
		case falcon && l < n/16:
			typ = tensor.Q6_K
		case falcon && more:
			typ = tensor.Q5_K
		case falcon:
			typ = tensor.Q4_K
		case more:
			typ = tensor.Q6_K
		}
	case l < n/8 && (ft == ftIQ4_NL || ft == ftIQ4_XS) && !p.opt.HasImatrix:
		typ = tensor.Q5_K
	case ft == ftQ5_K_M && more:
		typ = tensor.Q6_K
	case ft == ftQ4_K_S && !falcon && l < n/8:
		typ = tensor.Q5_K
	case (ft == ftQ4_0 || ft == ftQ5_0) && p.opt.HasImatrix && l < n/8:
		typ = tensor.Q4_1
		if ft == ftQ5_0 {
			typ = tensor.Q5_1
		}
	}
	return typ
}

func (p *planner) attnOutput(typ tensor.DType) tensor.DType {
	ft := p.mix.FileType
	switch {
	case p.info.Arch == "falcon":
		if ft == ftQ3_K_L {
			typ = tensor.Q4_K
		}
	case p.info.NExpert == 8:
		switch ft {
		case ftQ2_K, ftIQ3_XS, ftIQ3_XXS, ftQ3_K_S, ftQ3_K_M, ftIQ4_NL, ftQ4_K_S, ftQ4_K_M, ftIQ3_S, ftIQ3_M, ftIQ4_XS:
			typ = tensor.Q5_K
		}
	case ft == ftQ2_K:
		typ = tensor.Q3_K
	case ft == ftIQ3_XXS:
		typ = tensor.IQ3_S
	case ft == ftQ3_K_M, ft == ftIQ3_M:
		typ = tensor.Q4_K
	case ft == ftQ3_K_L:
		typ = tensor.Q5_K
	}
	return typ
}

// ne2 is ggml's third dimension (the expert count of a stacked MoE tensor).
func ne2(shape []int64) int64 {
	if len(shape) < 3 {
		return 1
	}
	return shape[len(shape)-3]
}
