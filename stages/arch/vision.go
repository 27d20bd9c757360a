package arch

import (
	"bytes"
	"cmp"
	"embed"
	"fmt"
	"io/fs"
	"math"
	"sort"
	"strings"

	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
	"gopkg.in/yaml.v3"
)

// A vision table describes how convert_hf_to_gguf.py --mmproj writes one
// family's vision tower and projector (the "mmproj" GGUF llama.cpp's mtmd
// loads beside the text model). It is the text table format plus what only
// a vision-language checkpoint needs; tables/vision/*.yaml hold them.
type visionTable struct {
	Table `yaml:",inline"`
	// Projector is clip.projector_type, and the table's name.
	Projector string `yaml:"projector"`
	// Parts are substrings of HF names that belong to the vision side (the
	// converter's filter_tensors); every other tensor is the language model's.
	Parts []string `yaml:"parts"`
	// Defaults fill vision_config keys that checkpoints of one vision
	// model_type leave out, as the converter's __init__ does.
	Defaults map[string]map[string]any `yaml:"defaults"`
	// VisionModelType is vision_config's model_type in a folder written
	// from an mmproj file.
	VisionModelType string `yaml:"vision_model_type"`
	// TextPrefix replaces the language model's "model." prefix inside the
	// checkpoint (SmolVLM: model.text_model.).
	TextPrefix string `yaml:"text_prefix"`
	// F16 lists GGUF name patterns the converter writes as float16 whatever
	// the output type (Gemma 3's input projection).
	F16 []string `yaml:"f16"`
	// VisionModelTypes, when set, are the vision_config model_type values
	// the converter's class accepts (LLaVA's: pixtral, not CLIP).
	VisionModelTypes []string `yaml:"vision_model_types"`
	// LMHead replaces the language model's "lm_head" inside the checkpoint
	// (InternVL: language_model.lm_head).
	LMHead string `yaml:"lm_head"`
	// TextConfigKey is where a joined config.json puts the language model's
	// config: text_config unless set (InternVL: llm_config).
	TextConfigKey string `yaml:"text_config_key"`
	// Joins say which vision-language class a joined folder is, by the
	// text GGUF's architecture, when the family has several.
	Joins []Join `yaml:"joins"`
}

// Join is the config a joined folder gets for one text architecture.
type Join struct {
	// TextArch is the text GGUF's general.architecture.
	TextArch string `yaml:"text_arch"`
	// Architecture and ModelType are config.json's.
	Architecture string `yaml:"architecture"`
	ModelType    string `yaml:"model_type"`
	// TextModelType replaces text_config's model_type (and drops its
	// architectures): transformers builds the language model from it.
	TextModelType string `yaml:"text_model_type"`
	// Config are config.json keys whose class defaults would be wrong for
	// this projector (LLaVA's vision_feature_layer -2 for a pixtral tower,
	// which llama.cpp runs whole).
	Config map[string]any `yaml:"config"`
}

// Vision is a parsed vision table.
type Vision struct {
	*Arch
	Projector       string
	parts           []string
	defaults        map[string]map[string]any
	visionModelType string
	textPrefix      string
	f16             []string
	visionTypes     []string
	joins           []Join
	lmHead          string
	// TextConfigKey is where a joined config.json puts the language
	// model's config.
	TextConfigKey string
}

//go:embed tables/vision/*.yaml
var visionFS embed.FS

var visionBuiltin = map[string]*Vision{}

func init() {
	includes["mmproj"] = mmprojKeys
	files, err := fs.Glob(visionFS, "tables/vision/*.yaml")
	if err != nil {
		panic(err)
	}
	for _, f := range files {
		b, err := visionFS.ReadFile(f)
		if err != nil {
			panic(err)
		}
		v, err := ParseVision(b)
		if err != nil {
			panic(fmt.Sprintf("embedded %s: %v", f, err))
		}
		visionBuiltin[v.Projector] = v
	}
}

// ParseVision reads a vision table; like Parse, unknown keys are errors.
func ParseVision(b []byte) (*Vision, error) {
	var t visionTable
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("vision table: %w", err)
	}
	if t.Projector == "" || len(t.Parts) == 0 {
		return nil, fmt.Errorf("vision table: need projector and parts")
	}
	a, err := build(t.Table)
	if err != nil {
		return nil, err
	}
	return &Vision{Arch: a, Projector: t.Projector, parts: t.Parts, defaults: t.Defaults,
		visionModelType: t.VisionModelType, textPrefix: t.TextPrefix, f16: t.F16, visionTypes: t.VisionModelTypes, joins: t.Joins,
		lmHead: t.LMHead, TextConfigKey: cmp.Or(t.TextConfigKey, "text_config")}, nil
}

// KnownVision lists the HF architectures the vision tables know, sorted.
func KnownVision() []string {
	var out []string
	for _, v := range visionBuiltin {
		out = append(out, v.HFArchitectures...)
	}
	sort.Strings(out)
	return out
}

// DetectVision finds the vision table for a vision-language checkpoint from
// config.json's architectures; an unknown one is an error naming the known.
func DetectVision(cfg map[string]any) (*Vision, error) {
	archs := strs(cfg["architectures"])
	for _, hf := range archs {
		for _, v := range visionBuiltin {
			if contains(v.HFArchitectures, hf) {
				return v, nil
			}
		}
	}
	if _, ok := cfg["vision_config"].(map[string]any); !ok {
		return nil, fmt.Errorf("config.json has no vision_config: %s is not a vision-language model", orNone(archs))
	}
	return nil, fmt.Errorf("no vision table for %s; known vision-language architectures: %s", orNone(archs), strings.Join(KnownVision(), ", "))
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "a config naming no architecture"
	}
	return strings.Join(s, ", ")
}

// IsVision reports whether an HF tensor belongs to the vision tower or
// the projector.
func (v *Vision) IsVision(name string) bool {
	for _, p := range v.parts {
		if strings.Contains(name, p) {
			return true
		}
	}
	return false
}

// Config is the config a vision table's keys and params read, as
// MmprojModel sees it: vision_config's keys at the top level (with the
// table's defaults), config.json's keys as "global.<key>", the
// preprocessor's as "preprocessor.<key>" (one nested level as
// "preprocessor.size.longest_edge"), and n_embd_text, the language model's
// hidden size. pre is preprocessor_config.json merged with
// processor_config.json's image_processor, or nil.
func (v *Vision) Config(cfg, pre map[string]any) (map[string]any, error) {
	vc, ok := cfg["vision_config"].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("config.json: no vision_config object")
	}
	mt, _ := vc["model_type"].(string)
	if len(v.visionTypes) > 0 && !contains(v.visionTypes, mt) {
		return nil, fmt.Errorf("config.json: vision_config.model_type %q: llama.cpp's converter reads a %s checkpoint only with a vision_config of model_type %s",
			mt, strings.Join(v.HFArchitectures, "/"), strings.Join(v.visionTypes, ", "))
	}
	out := map[string]any{}
	for k, x := range vc {
		out[k] = x
	}
	if v.defaults[mt] != nil {
		for k, x := range v.defaults[mt] {
			if _, ok := out[k]; !ok {
				out[k] = x
			}
		}
	}
	flattenInto(out, "global.", cfg)
	flattenInto(out, "preprocessor.", pre)
	if np, ok := cfg["_name_or_path"]; ok {
		out["_name_or_path"] = np
	} else {
		delete(out, "_name_or_path")
	}
	text := map[string]any{}
	for k, x := range cfg {
		text[k] = x
	}
	if tc, ok := flatten(cfg)["text_config"].(map[string]any); ok {
		for k, x := range tc {
			text[k] = x
		}
	}
	n, _ := intOf(text["hidden_size"])
	if n == 0 {
		n, _ = intOf(text["n_embd"])
	}
	if n <= 0 {
		return nil, fmt.Errorf("config.json: no text_config.hidden_size (or n_embd): the projector's output size is unknown")
	}
	out["n_embd_text"] = n
	if h := visionHooks[v.Projector]; h.config != nil {
		if err := h.config(out); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func flattenInto(dst map[string]any, prefix string, src map[string]any) {
	for k, x := range src {
		dst[prefix+k] = x
		if m, ok := x.(map[string]any); ok {
			for k2, x2 := range m {
				dst[prefix+k+"."+k2] = x2
			}
		}
	}
}

// Header is the mmproj file's metadata, in the converter's order: the
// general keys as for a text model but general.type "mmproj", then the
// table's keys. vcfg is what Config returned; tensors are the remapped
// projector tensors (their counts give general.size_label).
func (v *Vision) Header(vcfg map[string]any, tensors []*tensor.Desc, opt HeaderOptions) (*gguf.Meta, error) {
	m, err := v.Arch.Header(vcfg, tensors, opt)
	if err != nil {
		return nil, err
	}
	m.Set("general.type", gguf.String("mmproj"))
	return m, nil
}

// OutType is the type the converter writes a projector tensor in: the
// table's float32 list (tensor_force_quant) first, then patch embeddings
// in F16 for F16 files and F32 otherwise (MmprojModel.tensor_force_quant),
// then the text rules (1-D, norms, biases and position embeddings F32, a
// Q8_0 row that does not fill whole blocks F16).
func (v *Vision) OutType(name string, shape []int64, requested tensor.DType) tensor.DType {
	for _, p := range v.F32 {
		if globRegexp(p).MatchString(name) {
			return tensor.F32
		}
	}
	for _, p := range v.f16 {
		if globRegexp(p).MatchString(name) && len(shape) > 1 {
			return tensor.F16
		}
	}
	if len(shape) > 1 && (strings.Contains(name, ".patch_embd.weight") || strings.Contains(name, ".patch_merger.weight")) {
		if requested == tensor.F16 {
			return tensor.F16
		}
		return tensor.F32
	}
	return outType(name, shape, requested, nil)
}

// mmprojKeys is MmprojModel.set_gguf_parameters for a vision encoder.
func mmprojKeys(a *Arch, h *hparams, m *gguf.Meta, _ *uint32) error {
	m.Set(a.fullKey("has_vision_encoder"), gguf.Bool(true))
	keys := []Key{
		{Key: "vision.projection_dim", From: strList{"n_embd_text"}, Type: "UINT32"},
		{Key: "vision.image_size", From: strList{"image_size"}, Type: "UINT32"},
		{Key: "vision.patch_size", From: strList{"patch_size"}, Type: "UINT32"},
		{Key: "vision.embedding_length", From: strList{"hidden_size", "width", "vt_hidden_size"}, Type: "UINT32"},
		{Key: "vision.feed_forward_length", From: strList{"intermediate_size", "vt_intermediate_size"}, Type: "UINT32"},
		{Key: "vision.block_count", From: strList{"n_layers", "num_hidden_layers", "n_layer", "num_layers", "depth", "layers", "encoder_layers", "vt_num_hidden_layers"}, Type: "UINT32"},
		{Key: "vision.attention.head_count", From: strList{"num_attention_heads", "num_heads", "heads", "vt_num_attention_heads"}, Type: "UINT32"},
	}
	if err := setAll(a, h, m, keys); err != nil {
		return err
	}
	for _, k := range []string{"image_mean", "image_std"} {
		l, ok := h.cfg["preprocessor."+k].([]any)
		if !ok {
			return fmt.Errorf("%s: preprocessor_config.json has no %s list", a.fullKey("vision."+k), k)
		}
		if len(l) != 3 { // llama.cpp's clip reads three, one per RGB channel
			return fmt.Errorf("%s: preprocessor_config.json %s has %d entries: want 3 (R, G, B)", a.fullKey("vision."+k), k, len(l))
		}
		fs := make([]float32, len(l))
		for i, x := range l {
			f, ok := num(x)
			if !ok || math.IsNaN(f) || math.IsInf(f, 0) || (k == "image_std" && f == 0) {
				return fmt.Errorf("%s: preprocessor_config.json %s[%d] = %v: want a finite number (nonzero for a divisor)", a.fullKey("vision."+k), k, i, x)
			}
			fs[i] = float32(f)
		}
		m.Set(a.fullKey("vision."+k), gguf.Float32s(fs))
	}
	return nil
}

// JoinAs is the config a folder joined from a text GGUF of textArch gets:
// the table's join for it, else its first architecture and model type.
func (v *Vision) JoinAs(textArch string) (Join, error) {
	if len(v.joins) == 0 {
		j := Join{TextArch: textArch, Architecture: v.HFArchitectures[0]}
		if len(v.ModelTypes) > 0 {
			j.ModelType = v.ModelTypes[0]
		}
		return j, nil
	}
	var known []string
	for _, j := range v.joins {
		if j.TextArch == textArch {
			return j, nil
		}
		known = append(known, j.TextArch)
	}
	return Join{}, fmt.Errorf("a %s projector joins a language model of architecture %s, not %q", v.Projector, strings.Join(known, " or "), textArch)
}

// LookupVision returns the vision table for a clip.projector_type.
func LookupVision(projector string) (*Vision, error) {
	if v, ok := visionBuiltin[projector]; ok {
		return v, nil
	}
	return nil, fmt.Errorf("no vision table for projector type %q; known: %s", projector, strings.Join(sortedKeys(visionBuiltin), ", "))
}
