package arch

import (
	"fmt"
	"strings"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// repack replaces each group of tensors that together encode one weight
// of a quantized checkpoint (GPTQ's qweight, qzeros, scales, g_idx;
// pack-quantized's weight_packed and its scale and shape; MXFP4's blocks
// and scales) by the weight build makes of them. A group is found by its
// lead tensor <base><lead>; its members are <base><suffix> for each of
// need (the lead among them) and of optional. Members are dropped; the
// made weights follow the other tensors in the order of their leads, as
// the converter appends dequantized weights, or with first come before
// them. Every problem is reported, at once, under what.
type repack struct {
	what           string
	lead           string
	need, optional []string
	first          bool
	build          func(base string, members map[string]*tensor.Desc) (*tensor.Desc, error)
}

func (g repack) apply(tensors []*tensor.Desc) ([]*tensor.Desc, error) {
	byName := map[string]*tensor.Desc{}
	for _, d := range tensors {
		byName[d.Name] = d
	}
	used := map[string]bool{}
	var made []*tensor.Desc
	var errs []string
	for _, d := range tensors {
		base, ok := strings.CutSuffix(d.Name, g.lead)
		if !ok {
			continue
		}
		members := map[string]*tensor.Desc{}
		var missing []string
		for i, sfx := range append(append([]string(nil), g.need...), g.optional...) {
			t, ok := byName[base+sfx]
			if !ok {
				if i < len(g.need) {
					missing = append(missing, base+sfx)
				}
				continue
			}
			members[sfx] = t
			used[t.Name] = true
		}
		if len(missing) > 0 {
			errs = append(errs, fmt.Sprintf("%s: no %s beside it", d.Name, strings.Join(missing, " or ")))
			continue
		}
		w, err := g.build(base, members)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		made = append(made, w)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s: %s", g.what, strings.Join(errs, "; "))
	}
	out := make([]*tensor.Desc, 0, len(tensors))
	if g.first {
		out = append(out, made...)
	}
	for _, d := range tensors {
		if !used[d.Name] {
			out = append(out, d)
		}
	}
	if !g.first {
		out = append(out, made...)
	}
	return out, nil
}
