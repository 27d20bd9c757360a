package stages

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mlmf-run/mlmf-run/pipeline"
	"github.com/mlmf-run/mlmf-run/stages/arch"
	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

const (
	fuseMMProj     = "mmproj"
	fuseType       = "type"
	fuseMMProjType = "mmproj_type"
	fuseName       = "name"
	fuseDType      = "dtype"
	fuseImageToken = "image_token_id"
)

// FactSideFiles is the Model.Facts key of files (name -> contents) that an
// hf export writes beside config.json: fuse's preprocessor_config.json.
const FactSideFiles = "side_files"

// mmprojTypes are the types convert_hf_to_gguf.py --mmproj writes; llama.cpp
// has no quantizer for projector files.
var mmprojTypes = []string{"F32", "F16", "BF16", "Q8_0"}

var fuseSpec = &pipeline.Spec{
	Kind: "fuse",
	Summary: "With one input, split a vision-language checkpoint: write its vision tower and projector as llama.cpp's mmproj GGUF " +
		"(as convert_hf_to_gguf.py --mmproj) and pass the language model on, so one read makes both files. " +
		"With two (a language model with HF names, an mmproj GGUF), join them into one vision-language model, connector shapes checked",
	Params: obj(props{
		fuseMMProj:     str("split: output mmproj .gguf (the file llama.cpp's mtmd loads beside the text model)"),
		fuseType:       str("split: the run's output type; F32, F16, BF16, Q8_0 and auto are the projector's type too, as the converter's --outtype"),
		fuseMMProjType: str("split: projector type (F32, F16, BF16 or Q8_0) when it is not type's, e.g. for a Q4_K_M text model; empty: type"),
		fuseName:       str("split: general.name (default: derived from the model folder, as llama.cpp's converter does)"),
		fuseDType:      enum("join: dtype of the vision tensors; auto: the language model's", "auto", "F32", "F16", "BF16"),
		fuseImageToken: integer("join: image_token_id; -1: the id of <image> in the language model's vocabulary", -1),
	}),
	MinInputs: 1, MaxInputs: 2,
	Examples: []string{"id: vision\nkind: fuse\ninputs: [src]\nwith: {mmproj: mmproj-model-f16.gguf, type: F16}",
		"id: vlm\nkind: fuse\ninputs: [text, mmproj]\nwith: {dtype: F32, image_token_id: 49190}"},
	New: func(p pipeline.Params) (pipeline.Stage, error) {
		s := &fuseStage{Type: "F16", DType: "auto", ImageTokenID: -1}
		if err := p.Decode(s); err != nil {
			return nil, err
		}
		return s, nil
	},
}

type fuseStage struct {
	MMProj       string `json:"mmproj"`
	Type         string `json:"type"`
	MMProjType   string `json:"mmproj_type"`
	Name         string `json:"name"`
	DType        string `json:"dtype"`
	ImageTokenID int64  `json:"image_token_id"`
	outs         []*pipeline.OutputFile
}

var _ pipeline.Sink = (*fuseStage)(nil)

func (s *fuseStage) Outputs() []*pipeline.OutputFile { return s.outs }

// Plan splits one input, joins two.
func (s *fuseStage) Plan(ctx context.Context, env *pipeline.Env, in []*pipeline.Model) (*pipeline.Model, error) {
	if len(in) == 2 {
		return s.join(in[0], in[1])
	}
	return s.split(in[0])
}

// split plans the mmproj file of a vision-language checkpoint and returns
// its language model: the same folder, config and tokenizer, without the
// vision tensors, for detect, remap, quantize and export to make the text
// GGUF.
func (s *fuseStage) split(in *pipeline.Model) (*pipeline.Model, error) {
	if s.MMProj == "" {
		return nil, errors.New("with one input fuse splits a vision-language model: set mmproj, the projector file to write")
	}
	m := in.Clone()
	if m.Naming != "hf" || m.Config == nil {
		return nil, errors.New("fuse splits a Hugging Face vision-language folder (config.json with a vision_config): load one")
	}
	v, err := arch.DetectVision(m.Config)
	if err != nil {
		return nil, err
	}
	pre, files, err := readPreprocessor(m.Dir)
	if err != nil {
		return nil, err
	}
	m.Files = append(m.Files, files...)
	var vision, text []*tensor.Desc
	for _, t := range m.Tensors {
		if v.IsVision(t.Name) {
			vision = append(vision, t)
		} else {
			text = append(text, t)
		}
	}
	if len(vision) == 0 {
		return nil, fmt.Errorf("config.json names %s but no tensor belongs to a vision tower or projector", v.Projector)
	}
	vcfg, err := v.Config(m.Config, pre)
	if err != nil {
		return nil, err
	}
	out, err := s.mmprojFile(v, vcfg, m.Dir, vision)
	if err != nil {
		return nil, err
	}
	s.outs = []*pipeline.OutputFile{out}
	m.Tensors = text
	return m, nil
}

// mmprojFile lays out the projector GGUF: tensors checked against the
// config, renamed, converted to the converter's types, and its header.
func (s *fuseStage) mmprojFile(v *arch.Vision, vcfg map[string]any, dir string, vision []*tensor.Desc) (*pipeline.OutputFile, error) {
	typ, err := s.projectorType(vision[0].DType)
	if err != nil {
		return nil, err
	}
	if err := v.Check(vcfg, vision); err != nil {
		return nil, err
	}
	ts, err := v.Remap(vcfg, vision)
	if err != nil {
		return nil, err
	}
	for i, t := range ts {
		want := v.OutType(t.Name, t.Shape, typ)
		if ts[i], err = convertTo(t, want, func(d tensor.DType) bool { return d == want }); err != nil {
			return nil, err
		}
	}
	meta, err := v.Header(vcfg, ts, arch.HeaderOptions{Dir: dir, Name: s.Name, OutType: typ})
	if err != nil {
		return nil, err
	}
	prefix, offs, size, err := gguf.Layout(meta, ts, gguf.DefaultAlignment)
	if err != nil {
		return nil, err
	}
	return placed(s.MMProj, prefix, size, ts, offs), nil
}

// projectorType is mmproj_type, else type when the converter writes a
// projector in it; auto is F16 for an F16 checkpoint and BF16 otherwise,
// judged by the first vision tensor as the converter does.
func (s *fuseStage) projectorType(first tensor.DType) (tensor.DType, error) {
	name, from := s.MMProjType, fuseMMProjType
	if name == "" {
		name, from = s.Type, fuseType
	}
	switch u := strings.ToUpper(name); {
	case u == "AUTO" && from == fuseType:
		if first == tensor.F16 {
			return tensor.F16, nil
		}
		return tensor.BF16, nil
	case contains(mmprojTypes, u):
		return tensor.ParseDType(u)
	case from == fuseType:
		return 0, fmt.Errorf("type %s: llama.cpp writes a projector only as %s; set %s for the mmproj file",
			name, strings.Join(mmprojTypes, ", "), fuseMMProjType)
	}
	return 0, fmt.Errorf("%s %s: llama.cpp writes a projector only as %s", fuseMMProjType, name, strings.Join(mmprojTypes, ", "))
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// readPreprocessor is the image preprocessing config as MmprojModel reads
// it: preprocessor_config.json (media_proc_cfg lifted), then
// processor_config.json (image_processor lifted) over it. It returns the
// files it read; neither file is an error (the keys that need one say so).
func readPreprocessor(dir string) (map[string]any, []string, error) {
	out := map[string]any{}
	var files []string
	for _, f := range []struct{ name, lift string }{{"preprocessor_config.json", "media_proc_cfg"}, {"processor_config.json", "image_processor"}} {
		p := filepath.Join(dir, f.name)
		b, err := tensor.ReadInput(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, nil, err
		}
		var cfg map[string]any
		if err := json.Unmarshal(b, &cfg); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", p, err)
		}
		if sub, ok := cfg[f.lift].(map[string]any); ok {
			for k, x := range sub {
				cfg[k] = x
			}
		}
		for k, x := range cfg {
			out[k] = x
		}
		files = append(files, p)
	}
	return out, files, nil
}

// join makes one vision-language model of a language model with HF names
// (an unmapped text GGUF, or a loaded folder) and an mmproj GGUF: the text
// tensors under the family's prefix, the vision tensors under their
// checkpoint names, config.json with text_config and vision_config, and
// preprocessor_config.json for the hf export. The connector must fit both
// sides and the image token the vocabulary; a mismatch names the tensors.
func (s *fuseStage) join(text, mm *pipeline.Model) (*pipeline.Model, error) {
	if text.Naming != "hf" || text.Config == nil {
		return nil, errors.New("fuse's first input must be the language model with Hugging Face names: unmap a text GGUF, or load a folder")
	}
	if mm.Naming != "gguf" || mm.Meta == nil {
		return nil, errors.New("fuse's second input must be an mmproj GGUF: load one")
	}
	if a, _ := mm.Meta.Str("general.architecture"); a != "clip" {
		return nil, fmt.Errorf("%s is not an mmproj file: general.architecture is %q, want clip", firstFile(mm), a)
	}
	proj, _ := mm.Meta.Str("clip.projector_type")
	v, err := arch.LookupVision(proj)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", firstFile(mm), err)
	}
	embd := text.Tensor("model.embed_tokens.weight")
	if embd == nil || len(embd.Shape) != 2 {
		return nil, errors.New("the language model has no 2-D model.embed_tokens.weight: cannot check the connector against it")
	}
	to, err := s.visionDType(text)
	if err != nil {
		return nil, err
	}
	plain := make([]*tensor.Desc, len(mm.Tensors))
	for i, t := range mm.Tensors {
		if plain[i], err = convertTo(t, to, func(d tensor.DType) bool { return d == to }); err != nil {
			return nil, err
		}
	}
	vh, err := v.Unmap(mm.Meta, plain)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", firstFile(mm), err)
	}
	cfg, err := s.joinConfig(v, text, vh, embd)
	if err != nil {
		return nil, err
	}
	m := text.Clone()
	m.Files = append(m.Files, mm.Files...)
	m.Tensors = m.Tensors[:0]
	for _, t := range text.Tensors {
		c := t.Clone()
		c.Name = v.TextName(t.Name)
		m.Tensors = append(m.Tensors, c)
	}
	m.Tensors = append(m.Tensors, vh.Tensors...)
	m.Config, m.Dir = cfg, ""
	pre, err := ConfigJSON(vh.Preprocessor)
	if err != nil {
		return nil, err
	}
	m.Facts[FactSideFiles] = map[string][]byte{"preprocessor_config.json": pre}
	return m, nil
}

// joinConfig is the vision-language config.json, checked against the
// tensors: the connector against the vision tower and the text embedding,
// the image token against the vocabulary.
func (s *fuseStage) joinConfig(v *arch.Vision, text *pipeline.Model, vh *arch.VisionHF, embd *tensor.Desc) (map[string]any, error) {
	vocab, hidden := embd.Shape[0], embd.Shape[1]
	id := s.ImageTokenID
	if id < 0 {
		var ok bool
		if id, ok = tokenID(text, "<image>"); !ok {
			return nil, errors.New("the language model's vocabulary has no <image> token: set image_token_id")
		}
	}
	if id >= vocab {
		return nil, fmt.Errorf("image_token_id %d is outside the vocabulary: model.embed_tokens.weight is %v", id, embd.Shape)
	}
	textArch, _ := text.Meta.Str("general.architecture")
	j, err := v.JoinAs(textArch)
	if err != nil {
		return nil, err
	}
	tc := text.Config
	if j.TextModelType != "" {
		tc = map[string]any{}
		for k, x := range text.Config {
			tc[k] = x
		}
		tc["model_type"] = j.TextModelType
		delete(tc, "architectures")
	}
	cfg := map[string]any{"architectures": []any{j.Architecture}, "image_token_id": float64(id),
		v.TextConfigKey: tc, "vision_config": vh.Vision}
	if j.ModelType != "" {
		cfg["model_type"] = j.ModelType
	}
	for k, x := range j.Config {
		cfg[k] = x
	}
	for _, k := range []string{"tie_word_embeddings", "dtype"} {
		if x, ok := text.Config[k]; ok {
			cfg[k] = x
		}
	}
	for k, x := range vh.Top {
		cfg[k] = x
	}
	vcfg, err := v.Config(cfg, vh.Preprocessor)
	if err == nil {
		err = v.Check(vcfg, vh.Tensors)
	}
	if err == nil && vh.TextHidden != 0 && vh.TextHidden != hidden {
		err = fmt.Errorf("clip.vision.projection_dim is %d", vh.TextHidden)
	}
	if err != nil {
		return nil, fmt.Errorf("the projector (%s) does not fit the language model (model.embed_tokens.weight %v, hidden size %d): %w",
			checkedShapes(v, vh.Tensors), embd.Shape, hidden, err)
	}
	return cfg, nil
}

// checkedShapes lists the tensors the vision table's checks name, with
// their shapes, for a message about a mismatch.
func checkedShapes(v *arch.Vision, ts []*tensor.Desc) string {
	var out []string
	for _, c := range v.Checks {
		names := strings.Split(strings.ReplaceAll(c.Tensor, "{bid}", "0"), "|") // one name per layout
		for _, t := range ts {
			if slices.Contains(names, t.Name) && !contains(out, fmt.Sprintf("%s %v", t.Name, t.Shape)) {
				out = append(out, fmt.Sprintf("%s %v", t.Name, t.Shape))
			}
		}
	}
	return strings.Join(out, ", ")
}

func (s *fuseStage) visionDType(text *pipeline.Model) (tensor.DType, error) {
	if s.DType != "auto" {
		return tensor.ParseDType(s.DType)
	}
	if len(text.Tensors) > 0 && torchNames[text.Tensors[0].DType] != "" {
		return text.Tensors[0].DType, nil
	}
	return tensor.BF16, nil
}

// tokenID finds a token in a GGUF's vocabulary (tokenizer.ggml.tokens).
func tokenID(m *pipeline.Model, tok string) (int64, bool) {
	v, ok := m.Meta.Get("tokenizer.ggml.tokens")
	toks, isStr := v.V.([]string)
	if !ok || !isStr {
		return 0, false
	}
	for i, t := range toks {
		if t == tok {
			return int64(i), true
		}
	}
	return 0, false
}

func firstFile(m *pipeline.Model) string {
	if len(m.Files) > 0 {
		return m.Files[0]
	}
	return "mmproj"
}
