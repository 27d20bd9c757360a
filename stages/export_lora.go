package stages

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/mlmf-run/mlmf-run/pipeline"
	"github.com/mlmf-run/mlmf-run/stages/lora"
	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

const (
	exportLoraAdapter = "adapter"
	exportLoraPath    = "path"
	exportLoraType    = "type"
	exportLoraName    = "name"
)

// exportLoraSpec writes an adapter unmerged in llama.cpp's LoRA GGUF format
// (what convert_lora_to_gguf.py writes, for llama-cli --lora). Its input
// is the base model after detect: the base gives the architecture, its
// config for the name transforms, and its tensors, against which every
// adapter module is checked before anything is written.
var exportLoraSpec = &pipeline.Spec{
	Kind:    "export-lora",
	Summary: "Write a PEFT LoRA adapter unmerged as llama.cpp's LoRA GGUF, checked against its (detected) base model",
	Params: obj(props{
		exportLoraAdapter: str("PEFT adapter folder (adapter_config.json + adapter_model.safetensors or .bin)"),
		exportLoraPath:    str("output .gguf"),
		exportLoraType:    enum("tensor type, as the converter's --outtype (default F32)", "F32", "F16", "BF16"),
		exportLoraName:    str("general.name (default: from the adapter's model card or folder name)"),
	}, exportLoraAdapter, exportLoraPath),
	MinInputs: 1, MaxInputs: 1,
	Examples: []string{"id: lora\nkind: export-lora\ninputs: [arch]\nwith: {adapter: ./my-lora, path: my-lora-F32.gguf}"},
	New: func(p pipeline.Params) (pipeline.Stage, error) {
		s := &exportLoraStage{Type: "F32"}
		return s, p.Decode(s)
	},
}

type exportLoraStage struct {
	Adapter string `json:"adapter"`
	Path    string `json:"path"`
	Type    string `json:"type"`
	Name    string `json:"name"`
	outs    []*pipeline.OutputFile
	adapter *lora.Adapter
}

func (s *exportLoraStage) Outputs() []*pipeline.OutputFile { return s.outs }

// Close releases the adapter's file after the run.
func (s *exportLoraStage) Close() error {
	if s.adapter == nil {
		return nil
	}
	return s.adapter.Close()
}

func (s *exportLoraStage) Plan(ctx context.Context, env *pipeline.Env, in []*pipeline.Model) (*pipeline.Model, error) {
	m := in[0].Clone()
	a := archOf(m)
	if a == nil || m.Naming != "hf" {
		return nil, fmt.Errorf("export-lora needs the base model with Hugging Face names and a detect stage before it")
	}
	ad, err := lora.Open(s.Adapter)
	if err != nil {
		return nil, err
	}
	s.adapter = ad
	base := map[string]*tensor.Desc{}
	for _, t := range m.Tensors {
		base[t.Name] = t
	}
	out, _ := tensor.ParseDType(s.Type)
	ts, err := ad.GGUFTensors(a, m.Config, base, out)
	if err != nil {
		return nil, err
	}
	meta, err := ad.GGUFMeta(a.Name(), s.Name)
	if err != nil {
		return nil, err
	}
	prefix, offs, size, err := gguf.Layout(meta, ts, gguf.DefaultAlignment)
	if err != nil {
		return nil, err
	}
	s.outs = []*pipeline.OutputFile{placed(s.Path, prefix, size, ts, offs)}
	m.Files = append(m.Files, ad.Files...)
	if card := filepath.Join(ad.Dir, lora.CardName); isRegular(card) {
		m.Files = append(m.Files, card)
	}
	m.Tensors, m.Meta, m.Naming, m.Format = ts, meta, "gguf", "gguf"
	return m, nil
}
