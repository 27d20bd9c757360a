package arch

import (
	"github.com/mlmf-run/mlmf-run/tensor"
)

// visionHook is what a family's converter class computes in Python that a
// vision table cannot say as data; each family's file registers one in
// visionHooks under its projector type.
type visionHook struct {
	// config adjusts what Config returns, as the class's __init__ and
	// set_gguf_parameters do before keys are read (renamed or computed
	// hyperparameters); it may refuse a config the converter refuses.
	config func(vcfg map[string]any) error
	// tensors rewrites HF tensors before they are checked and mapped
	// (modify_tensors' splits), under HF-like names the table maps.
	tensors func(ts []*tensor.Desc) ([]*tensor.Desc, error)
	// unmap turns what Unmap made of an mmproj file back into the
	// checkpoint's layout: computed keys to the config entries they came
	// from, split tensors joined.
	unmap func(out *VisionHF) error
}

// visionHooks are the registered hooks by projector type.
var visionHooks = map[string]visionHook{}

// prepare applies the family's tensor hook, if any.
func (v *Vision) prepare(ts []*tensor.Desc) ([]*tensor.Desc, error) {
	if h := visionHooks[v.Projector]; h.tensors != nil {
		return h.tensors(ts)
	}
	return ts, nil
}

// Check checks the vision tensors against the config, after the family's
// splits, so a check names what the table maps.
func (v *Vision) Check(vcfg map[string]any, ts []*tensor.Desc) error {
	ts, err := v.prepare(ts)
	if err != nil {
		return err
	}
	return v.Arch.Check(vcfg, ts)
}

// Remap maps the vision tensors to the mmproj file's, after the family's
// splits.
func (v *Vision) Remap(vcfg map[string]any, ts []*tensor.Desc) ([]*tensor.Desc, error) {
	ts, err := v.prepare(ts)
	if err != nil {
		return nil, err
	}
	return v.Arch.Remap(vcfg, ts)
}
