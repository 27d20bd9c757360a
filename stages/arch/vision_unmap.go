package arch

import (
	"fmt"
	"strings"

	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

// VisionHF is an mmproj GGUF turned back into Hugging Face terms: the
// vision tensors under their checkpoint names, vision_config, the
// top-level config.json keys the projector file records (scale_factor),
// the preprocessor config, and the text hidden size it was made for.
type VisionHF struct {
	Tensors      []*tensor.Desc
	Vision       map[string]any
	Top          map[string]any
	Preprocessor map[string]any
	TextHidden   int64
}

// mmprojConfigKeys invert the include "mmproj" keys: GGUF key (under
// clip.) -> vision_config key.
var mmprojConfigKeys = [][2]string{
	{"vision.image_size", "image_size"}, {"vision.patch_size", "patch_size"},
	{"vision.embedding_length", "hidden_size"}, {"vision.feed_forward_length", "intermediate_size"},
	{"vision.block_count", "num_hidden_layers"}, {"vision.attention.head_count", "num_attention_heads"},
}

// Unmap turns an mmproj GGUF of this family back into HF names and configs,
// so that converting the folder again gives the same file: each table key
// read from a config entry is written back to that entry (global.* at the
// top level, preprocessor.* into the preprocessor config).
func (v *Vision) Unmap(meta *gguf.Meta, tensors []*tensor.Desc) (*VisionHF, error) {
	if a, _ := meta.Str("general.architecture"); a != v.Arch.Arch {
		return nil, fmt.Errorf("general.architecture is %q, want %q: not an mmproj file", a, v.Arch.Arch)
	}
	if p, _ := meta.Str(v.fullKey("projector_type")); p != v.Projector {
		return nil, fmt.Errorf("%s is %q: the %s table cannot read it", v.fullKey("projector_type"), p, v.Projector)
	}
	out := &VisionHF{Vision: map[string]any{}, Top: map[string]any{}, Preprocessor: map[string]any{}}
	get := func(key string) (any, bool) {
		val, ok := meta.Get(v.fullKey(key))
		if !ok {
			return nil, false
		}
		return configValue(val)
	}
	for _, k := range mmprojConfigKeys {
		x, ok := get(k[0])
		if !ok {
			return nil, fmt.Errorf("%s is missing", v.fullKey(k[0]))
		}
		out.Vision[k[1]] = x
	}
	if pd, ok := get("vision.projection_dim"); ok {
		n, _ := intOf(pd)
		out.TextHidden = n
	}
	for _, k := range []string{"image_mean", "image_std"} {
		val, ok := meta.Get(v.fullKey("vision." + k))
		fs, isF := val.V.([]float32)
		if !ok || !isF {
			return nil, fmt.Errorf("%s is missing or not a FLOAT32 array", v.fullKey("vision."+k))
		}
		l := make([]any, len(fs))
		for i, f := range fs {
			l[i] = shortFloat(float64(f))
		}
		out.Preprocessor[k] = l
	}
	for _, k := range v.Keys {
		from := []string(k.From)
		if k.Param != "" {
			from = v.Params[k.Param].From
		}
		if undo := includeUnmaps[k.Include]; undo != nil {
			if err := undo(v, meta, out); err != nil {
				return nil, err
			}
		}
		x, ok := get(k.Key)
		if k.Include != "" || k.Value != nil || len(from) == 0 || !ok {
			continue
		}
		if n, isInt := intOf(x); isInt && strings.Contains(k.Type, "INT") {
			x = n // an integer in config.json, as transformers writes it
		}
		setPath(out, from[0], x)
	}
	if mt := v.visionModelType; mt != "" {
		out.Vision["model_type"] = mt
	}
	// the transforms' params (permute_qk's head count) read the config
	// just rebuilt, as Config would give it
	flat := map[string]any{}
	for k, x := range out.Vision {
		flat[k] = x
	}
	flattenInto(flat, "global.", out.Top)
	c := &tctx{h: newHParams(flat, v.Params)}
	names := map[string]bool{}
	for _, d := range tensors {
		names[d.Name] = true
	}
	var errs []string
	sj := newSplitJoiner(v.Arch)
	for _, d := range tensors {
		if joined, ok, err := sj.add(d); ok {
			if err != nil {
				errs = append(errs, err.Error())
			} else if joined != nil {
				out.Tensors = append(out.Tensors, joined)
			}
			continue
		}
		nds, err := v.unmapTensor(c, d, names)
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		out.Tensors = append(out.Tensors, nds...)
	}
	errs = append(errs, sj.leftover()...)
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s unmap: %s", v.Projector, strings.Join(errs, "; "))
	}
	if h := visionHooks[v.Projector]; h.unmap != nil {
		if err := h.unmap(out); err != nil {
			return nil, fmt.Errorf("%s unmap: %w", v.Projector, err)
		}
	}
	for _, d := range out.Tensors {
		if strings.HasSuffix(d.Name, "patch_embedding.weight") && len(d.Shape) == 4 {
			out.Vision["num_channels"] = float64(d.Shape[1])
		}
	}
	return out, nil
}

// setPath writes a config value where a table key read it from.
func setPath(out *VisionHF, from string, x any) {
	if k, ok := strings.CutPrefix(from, "global."); ok {
		out.Top[k] = x
		return
	}
	if k, ok := strings.CutPrefix(from, "preprocessor."); ok {
		if outer, inner, nested := strings.Cut(k, "."); nested {
			m, _ := out.Preprocessor[outer].(map[string]any)
			if m == nil {
				m = map[string]any{}
				out.Preprocessor[outer] = m
			}
			m[inner] = x
			return
		}
		out.Preprocessor[k] = x
		return
	}
	out.Vision[from] = x
}

// TextName is the name a language model tensor (LLaMA's HF layout) takes
// inside this family's checkpoint: "model." becomes the table's text
// prefix; lm_head stays.
func (v *Vision) TextName(name string) string {
	if rest, ok := strings.CutPrefix(name, "model."); ok && v.textPrefix != "" {
		return v.textPrefix + rest
	}
	if rest, ok := strings.CutPrefix(name, "lm_head."); ok && v.lmHead != "" {
		return v.lmHead + "." + rest
	}
	return name
}
