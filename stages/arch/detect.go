package arch

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// Detect finds the architecture of a Hugging Face checkpoint from its
// config.json (architectures, then model_type, with text_config's taking
// precedence as in the converter) and cross-checks it against the tensors:
// names no rule maps, a block count that differs from the tensors' blocks,
// or a shape that contradicts the config are errors that say which.
func Detect(cfg map[string]any, tensors []*tensor.Desc) (*Arch, error) {
	a, err := detectConfig(cfg)
	if err != nil {
		return nil, err
	}
	if err := a.Check(cfg, tensors); err != nil {
		return nil, err
	}
	return a, nil
}

func strs(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, x := range l {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	if s, ok := v.([]string); ok {
		out = append(out, s...)
	}
	return out
}

func detectConfig(cfg map[string]any) (*Arch, error) {
	tc, _ := flatten(cfg)["text_config"].(map[string]any) // llm_config (InternVL) too
	archs := append(strs(tc["architectures"]), strs(cfg["architectures"])...)
	for _, hf := range archs {
		for _, name := range Known() {
			if contains(builtin[name].HFArchitectures, hf) {
				return builtin[name], nil
			}
		}
	}
	var types []string
	for _, v := range []any{tc["model_type"], cfg["model_type"]} {
		if s, ok := v.(string); ok {
			types = append(types, s)
		}
	}
	for _, mt := range types {
		for _, name := range Known() {
			if contains(builtin[name].ModelTypes, mt) {
				return builtin[name], nil
			}
		}
	}
	what := "config.json names no architecture"
	if len(archs) > 0 || len(types) > 0 {
		what = fmt.Sprintf("unknown architecture %s (model_type %s)", strings.Join(archs, ", "), strings.Join(types, ", "))
	}
	return nil, fmt.Errorf("%s; known architectures: %s (or supply a table)", what, strings.Join(Known(), ", "))
}

// Check verifies that tensors fit the table and the config: every name maps
// or is skipped on purpose, the blocks present are exactly 0..block_count-1,
// and the table's shape checks hold.
func (a *Arch) Check(cfg map[string]any, tensors []*tensor.Desc) error {
	h := a.hparamsOf(cfg)
	var errs, unmapped []string
	maxBid := int64(-1)
	byName := map[string]*tensor.Desc{}
	for _, d := range tensors {
		byName[a.rename(d.Name)] = d
		m, skip, ok := a.lookup(d.Name)
		switch {
		case skip || (ok && a.droppedBlock(h, m)):
		case !ok:
			unmapped = append(unmapped, d.Name)
		case m.r.bid > 0 && m.bid > maxBid:
			maxBid = m.bid
		}
	}
	if len(unmapped) > 0 {
		if len(unmapped) > 8 {
			unmapped = append(unmapped[:8], fmt.Sprintf("and %d more", len(unmapped)-8))
		}
		errs = append(errs, fmt.Sprintf("config says %s but these tensors map to no %s tensor: %s", a.Arch, a.Arch, strings.Join(unmapped, ", ")))
	}
	blocks := "n_layer"
	if _, ok := a.Params["n_block"]; ok {
		blocks = "n_block"
	}
	if n, err := h.intParam(blocks); err == nil && maxBid >= 0 && n != maxBid+1 && !mtpLeftOut(h, blocks, maxBid) {
		errs = append(errs, fmt.Sprintf("config says %d layers but the tensors have %d (blocks 0..%d)", n, maxBid+1, maxBid))
	} else if err != nil && !isUnresolved(err) {
		errs = append(errs, err.Error())
	}
	for _, c := range a.Checks {
		if e := a.checkBlocks(h, c, byName, maxBid); e != "" {
			errs = append(errs, e)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s: %s", a.Arch, strings.Join(errs, "; "))
	}
	return nil
}

// checkBlocks applies a check to the tensor of every block present (not
// block 0 alone: a checkpoint may lie in any layer), reporting the first
// block that fails; a required tensor must be in each.
func (a *Arch) checkBlocks(h *hparams, c Check, byName map[string]*tensor.Desc, maxBid int64) string {
	last := int64(0)
	if strings.Contains(c.Tensor, "{bid}") {
		last = max(0, maxBid)
	}
	for b := int64(0); b <= last; b++ {
		name := strings.ReplaceAll(c.Tensor, "{bid}", strconv.FormatInt(b, 10))
		var d *tensor.Desc
		ok := false
		for _, alt := range strings.Split(name, "|") { // one name per layout
			if d, ok = byName[alt]; ok {
				break
			}
		}
		if !ok {
			name = strings.ReplaceAll(name, "|", " or ")
			if c.Required {
				return fmt.Sprintf("no %s: %s needs it (%s)", name, a.Arch, c.Why)
			}
			continue
		}
		if e := a.checkShape(h, c, d); e != "" {
			return e
		}
	}
	return ""
}

func (a *Arch) checkShape(h *hparams, c Check, d *tensor.Desc) string {
	if c.Dim < 0 || c.Dim >= len(d.Shape) {
		return fmt.Sprintf("%s has shape %v, no dimension %d", d.Name, d.Shape, c.Dim)
	}
	want, err := h.evalNum(c.Expr)
	if err != nil {
		if isUnresolved(err) {
			return ""
		}
		return err.Error()
	}
	if got := d.Shape[c.Dim]; float64(got) != want || want != math.Trunc(want) {
		return fmt.Sprintf("%s has %d in dimension %d but the config gives %s = %v (%s)", d.Name, got, c.Dim, c.Expr, want, c.Why)
	}
	return ""
}

// mtpLeftOut reports a checkpoint whose blocks stop where the multi-token-
// prediction layers (counted in n_block) would start: transformers has no
// module for GLM-4.5's MTP layer and saves a model without it, and the
// converter still writes block_count over n_block, which llama.cpp loads.
func mtpLeftOut(h *hparams, blocks string, maxBid int64) bool {
	if blocks != "n_block" {
		return false
	}
	n, err := h.intParam("n_layer")
	return err == nil && n == maxBid+1
}
