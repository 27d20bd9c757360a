package stages

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
)

// mmprojTypes are the types convert_hf_to_gguf.py --mmproj writes; llama.cpp
// has no quantizer for projector files.
var mmprojTypes = []string{"F32", "F16", "BF16", "Q8_0"}

var fuseSpec = &pipeline.Spec{
	Kind: "fuse",
	Summary: "Split a vision-language checkpoint: write its vision tower and projector as llama.cpp's mmproj GGUF " +
		"(as convert_hf_to_gguf.py --mmproj) and pass the language model on, so one read makes both files",
	Params: obj(props{
		fuseMMProj:     str("output mmproj .gguf (the file llama.cpp's mtmd loads beside the text model)"),
		fuseType:       str("the run's output type; F32, F16, BF16, Q8_0 and auto are the projector's type too, as the converter's --outtype"),
		fuseMMProjType: str("projector type (F32, F16, BF16 or Q8_0) when it is not type's, e.g. for a Q4_K_M text model; empty: type"),
		fuseName:       str("general.name (default: derived from the model folder, as llama.cpp's converter does)"),
	}, fuseMMProj),
	MinInputs: 1, MaxInputs: 1,
	Examples: []string{"id: vision\nkind: fuse\ninputs: [src]\nwith: {mmproj: mmproj-model-f16.gguf, type: F16}"},
	New: func(p pipeline.Params) (pipeline.Stage, error) {
		s := &fuseStage{Type: "F16"}
		if err := p.Decode(s); err != nil {
			return nil, err
		}
		return s, nil
	},
}

type fuseStage struct {
	MMProj     string `json:"mmproj"`
	Type       string `json:"type"`
	MMProjType string `json:"mmproj_type"`
	Name       string `json:"name"`
	outs       []*pipeline.OutputFile
}

var _ pipeline.Sink = (*fuseStage)(nil)

func (s *fuseStage) Outputs() []*pipeline.OutputFile { return s.outs }

// Plan writes the vision side to the mmproj file and returns the language
// model: the same folder, config and tokenizer, without the vision tensors,
// for detect, remap, quantize and export to make the text GGUF.
func (s *fuseStage) Plan(ctx context.Context, env *pipeline.Env, in []*pipeline.Model) (*pipeline.Model, error) {
	m := in[0].Clone()
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
	typ, err := s.projectorType(vision[0].DType)
	if err != nil {
		return nil, err
	}
	vcfg, err := v.Config(m.Config, pre)
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
	meta, err := v.Header(vcfg, ts, arch.HeaderOptions{Dir: m.Dir, Name: s.Name, OutType: typ})
	if err != nil {
		return nil, err
	}
	prefix, offs, size, err := gguf.Layout(meta, ts, gguf.DefaultAlignment)
	if err != nil {
		return nil, err
	}
	s.outs = []*pipeline.OutputFile{placed(s.MMProj, prefix, size, ts, offs)}
	m.Tensors = text
	return m, nil
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
