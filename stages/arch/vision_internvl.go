package arch

import (
	"fmt"

	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

// The internvl_scale include is InternVisionModel's projector scale factor,
// int(1 / downsample_ratio) of the top-level config (the converter asserts
// the ratio is there); an mmproj file gives the ratio back as 1 / scale.
// Registered while package variables initialize, before vision.go's init
// parses the tables.
var _ = func() bool {
	includes["internvl_scale"] = internvlScaleKeys
	includeUnmaps["internvl_scale"] = internvlScaleUnmap
	return true
}()

func init() {
	visionHooks["internvl"] = visionHook{config: internvlConfig}
}

// internvlConfig takes the first of an [h, w] image_size or patch_size
// (transformers 5's InternVL config), as InternVisionModel does.
func internvlConfig(vcfg map[string]any) error {
	for _, k := range []string{"image_size", "patch_size"} {
		if l, ok := vcfg[k].([]any); ok {
			if len(l) == 0 {
				return fmt.Errorf("config.json: vision_config.%s is an empty list", k)
			}
			vcfg[k] = l[0]
		}
	}
	return nil
}

func internvlScaleKeys(a *Arch, h *hparams, m *gguf.Meta, _ *uint32) error {
	key := a.fullKey("vision.projector.scale_factor")
	r, ok := num(h.cfg["global.downsample_ratio"])
	if !ok || r <= 0 {
		return fmt.Errorf("%s: config.json downsample_ratio is %v: want a positive number", key, h.cfg["global.downsample_ratio"])
	}
	m.Set(key, gguf.Uint32(uint32(1.0/r)))
	return nil
}

// internvlScaleUnmap gives back downsample_ratio; an mmproj without a
// positive scale factor is refused, as its projector's input width cannot
// be checked nor the folder's config written.
func internvlScaleUnmap(v *Vision, meta *gguf.Meta, out *VisionHF) error {
	key := v.fullKey("vision.projector.scale_factor")
	x, ok := meta.Get(key)
	if !ok {
		return fmt.Errorf("%s is missing: want 1 / downsample_ratio", key)
	}
	if n, isInt := intOf(x.V); !isInt || n <= 0 {
		return fmt.Errorf("%s is %v: want a positive integer (1 / downsample_ratio)", key, x.V)
	} else {
		out.Top["downsample_ratio"] = 1 / float64(n)
	}
	return nil
}
