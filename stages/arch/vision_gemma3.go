package arch

import (
	"fmt"
	"math"
)

// Gemma 3's projector pools the vision tower's patches down to
// image_seq_length tokens; the converter writes the pooling factor only
// when it is not the released models' 4 (896 px, 14 px patches, 256
// tokens), i.e. for test-sized models (Gemma3VisionModel.set_gguf_parameters).
func init() {
	visionHooks["gemma3"] = visionHook{config: gemma3Config, unmap: gemma3Unmap}
}

// gemma3Config computes proj_scale_factor as the converter does:
// (image_size // patch_size) // int(sqrt(image_seq_length)).
func gemma3Config(vcfg map[string]any) error {
	seq := int64(256)
	x, given := vcfg["preprocessor.image_seq_length"]
	if given {
		n, isInt := intOf(x)
		if !isInt || n < 0 {
			return fmt.Errorf("preprocessor_config.json image_seq_length = %v: want a whole number", x)
		}
		seq = n
	}
	img, ok1 := intOf(vcfg["image_size"])
	patch, ok2 := intOf(vcfg["patch_size"])
	perSide := int64(math.Sqrt(float64(seq)))
	if !ok1 || !ok2 || patch <= 0 || perSide <= 0 {
		return fmt.Errorf("config.json vision_config image_size %v, patch_size %v and preprocessor image_seq_length %d: want positive whole numbers",
			vcfg["image_size"], vcfg["patch_size"], seq)
	}
	if given && perSide*perSide != seq {
		return fmt.Errorf("preprocessor_config.json image_seq_length = %d: want a square (llama.cpp pools the patches to a square of tokens)", seq)
	}
	// More tokens than patches gives a factor of 0, which the converter
	// leaves unwritten (llama.cpp then pools by 4): refused when the
	// preprocessor says so, kept as the converter's for its default 256.
	f := (img / patch) / perSide
	if given && f <= 0 {
		return fmt.Errorf("preprocessor_config.json image_seq_length = %d: more tokens than the %d x %d patches of vision_config image_size %d, patch_size %d",
			seq, img/patch, img/patch, img, patch)
	}
	if f > 0 && f != 4 {
		vcfg["proj_scale_factor"] = f
	}
	return nil
}

// gemma3Unmap turns the pooling factor back into image_seq_length (and
// mm_tokens_per_image, which transformers reads), so the converter
// computes the same factor again.
func gemma3Unmap(out *VisionHF) error {
	// Gemma 3's SigLIP has no pooling head (transformers' default has one)
	out.Vision["vision_use_head"] = false
	img, _ := intOf(out.Vision["image_size"])
	patch, _ := intOf(out.Vision["patch_size"])
	if patch <= 0 {
		return fmt.Errorf("clip.vision.patch_size %v: want a positive number", out.Vision["patch_size"])
	}
	side, scale := img/patch, int64(4)
	if x, ok := out.Vision["proj_scale_factor"]; ok {
		scale, _ = intOf(x)
		delete(out.Vision, "proj_scale_factor")
	}
	if scale <= 0 || side/scale == 0 {
		return nil // the converter's default image_seq_length gives the same
	}
	n := side / scale
	if side/n != scale {
		return fmt.Errorf("clip.vision.projector.scale_factor %d: no image_seq_length gives it for %d patches a side", scale, side)
	}
	out.Preprocessor["image_seq_length"] = float64(n * n)
	out.Top["mm_tokens_per_image"] = float64(n * n)
	return nil
}
