package arch

import (
	"slices"

	"github.com/mlmf-run/mlmf-run/tensor"
)

func init() {
	visionHooks["pixtral"] = visionHook{unmap: pixtralUnmap}
}

// pixtralUnmap records whether the projector has biases
// (multimodal_projector_bias: pixtral-12b's LLaVA has, Mistral 3's has
// not), which LlavaConfig and Mistral3Config default differently.
func pixtralUnmap(out *VisionHF) error {
	out.Top["multimodal_projector_bias"] = slices.ContainsFunc(out.Tensors, func(d *tensor.Desc) bool {
		return d.Name == "model.multi_modal_projector.linear_1.bias"
	})
	return nil
}
