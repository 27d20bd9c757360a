package arch

import (
	"fmt"

	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

// The vision_act include is the activation flag the converter's pixtral
// and InternVL classes write from vision_config.hidden_act: clip.use_silu
// for silu, clip.use_gelu for gelu, and an error for anything else (the
// converter raises; clip.cpp would run another activation). It is
// registered while package variables initialize, before vision.go's init
// parses the tables that use it.
var _ = func() bool {
	includes["vision_act"] = visionActKeys
	includeUnmaps["vision_act"] = visionActUnmap
	return true
}()

func visionActKeys(a *Arch, h *hparams, m *gguf.Meta, _ *uint32) error {
	act, ok := h.cfg["hidden_act"].(string)
	switch {
	case ok && act == "silu":
		m.Set(a.fullKey("use_silu"), gguf.Bool(true))
	case ok && act == "gelu":
		m.Set(a.fullKey("use_gelu"), gguf.Bool(true))
	default:
		return fmt.Errorf("%s: vision_config.hidden_act is %v: llama.cpp's converter writes only silu or gelu", a.fullKey("use_silu"), h.cfg["hidden_act"])
	}
	return nil
}

// includeUnmaps give back the config entries an include wrote keys from,
// for Vision.Unmap.
var includeUnmaps = map[string]func(v *Vision, meta *gguf.Meta, out *VisionHF) error{}

func visionActUnmap(v *Vision, meta *gguf.Meta, out *VisionHF) error {
	for _, act := range []string{"silu", "gelu"} {
		if b, ok := meta.Get(v.fullKey("use_" + act)); ok && b.V == true {
			out.Vision["hidden_act"] = act
		}
	}
	return nil
}
