package stages

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mlmf-run/mlmf-run/pipeline"
	"github.com/mlmf-run/mlmf-run/stages/arch"
	"github.com/mlmf-run/mlmf-run/stages/lora"
	"github.com/mlmf-run/mlmf-run/tensor"
)

// FactArch is the Model.Facts key under which detect leaves the *arch.Arch.
const FactArch = "arch"

const (
	detectArch  = "arch"
	detectTable = "table"
)

var detectSpec = &pipeline.Spec{
	Kind:    "detect",
	Summary: "Identify the architecture from config.json, check it against the tensors, and read the hyperparameters",
	Params: obj(props{
		detectArch:  str("force this architecture (a GGUF arch name) instead of detecting it"),
		detectTable: str("YAML architecture table for a model this build does not know (same format as stages/arch/tables)"),
	}),
	MinInputs: 1, MaxInputs: 1,
	Examples: []string{"id: arch\nkind: detect\ninputs: [src]"},
	New: func(p pipeline.Params) (pipeline.Stage, error) {
		s := &detectStage{}
		if err := p.Decode(s); err != nil {
			return nil, err
		}
		if s.Table != "" {
			b, err := tensor.ReadInput(s.Table)
			if err != nil {
				return nil, fmt.Errorf("table: %w", err)
			}
			if s.custom, err = arch.Parse(b); err != nil {
				return nil, fmt.Errorf("table %s: %w", s.Table, err)
			}
		}
		return s, nil
	},
}

type detectStage struct {
	Arch   string `json:"arch"`
	Table  string `json:"table"`
	custom *arch.Arch
}

func (s *detectStage) Plan(ctx context.Context, env *pipeline.Env, in []*pipeline.Model) (*pipeline.Model, error) {
	m := in[0].Clone()
	if err := notHFModel(m); err != nil {
		return nil, err
	}
	if s.Table != "" {
		m.Files = append(m.Files, s.Table)
	}
	if m.Config == nil && m.Naming == "hf" {
		return nil, fmt.Errorf("no config.json beside the checkpoint: cannot tell the architecture (load an HF folder)")
	}
	// Quantized checkpoints (FP8) are dequantized in the stream before names
	// are mapped, as the converter's dequant_model does.
	tensors, err := arch.Dequant(m.Config, m.Tensors)
	if err != nil {
		return nil, err
	}
	m.Tensors = tensors
	var a *arch.Arch
	switch {
	case s.custom != nil:
		a = s.custom
		err = a.Check(m.Config, m.Tensors)
	case s.Arch != "":
		var ok bool
		if a, ok = arch.Lookup(s.Arch); !ok {
			return nil, fmt.Errorf("arch %q is not known, expected one of: %v", s.Arch, arch.Known())
		}
		err = a.Check(m.Config, m.Tensors)
	default:
		a, err = arch.Detect(m.Config, m.Tensors)
	}
	if err != nil {
		return nil, err
	}
	for _, c := range a.Caveats(m.Config) {
		env.Warnf("%s", c)
	}
	m.Arch = a.Name()
	m.Facts[FactArch] = a
	return m, nil
}

// notHFModel names the two inputs people hand a converter by mistake, and
// the recipe that takes each: a GGUF is converted already (its names are
// llama.cpp's and it has no config.json), and a PEFT adapter is a delta
// to merge into, or convert beside, its base model.
func notHFModel(m *pipeline.Model) error {
	if len(m.Files) == 0 {
		return nil
	}
	if m.Naming == "gguf" {
		return ggufSourceError(m.Files[0])
	}
	dir := m.Dir
	if dir == "" {
		dir = filepath.Dir(m.Files[0])
	}
	if m.Config == nil && isAdapterDir(dir) {
		return adapterSourceError(dir)
	}
	return nil
}

// CheckHFSource is notHFModel for shortcuts that run a recipe with no
// detect stage (convert to .safetensors), from the path alone.
func CheckHFSource(path string) error {
	st, err := os.Stat(path)
	if err != nil {
		return nil // load reports it, with the recipe's position
	}
	dir := path
	if !st.IsDir() {
		if strings.EqualFold(filepath.Ext(path), ".gguf") {
			return ggufSourceError(path)
		}
		dir = filepath.Dir(path)
	}
	if _, err := os.Stat(filepath.Join(dir, "config.json")); err != nil && isAdapterDir(dir) {
		return adapterSourceError(dir)
	}
	return nil
}

func isAdapterDir(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, lora.ConfigName))
	return err == nil
}

func ggufSourceError(file string) error {
	return fmt.Errorf("%s is a GGUF, already converted (llama.cpp's tensor names, no config.json to detect from): "+
		"`mlmf-run gguf-to-hf --set model=%s --set out=DIR` turns it back into a Hugging Face folder; "+
		"to requantize it, load it straight into quantize and export", file, file)
}

func adapterSourceError(dir string) error {
	return fmt.Errorf("%s is a PEFT LoRA adapter (%s), not a model: merge it into its base with "+
		"`mlmf-run merge-lora --set base=BASE --set adapter=%s --set out=OUT`, or write llama.cpp's LoRA GGUF with "+
		"`mlmf-run lora-to-gguf --set base=BASE --set adapter=%s --set out=OUT.gguf`", dir, lora.ConfigName, dir, dir)
}

func archOf(m *pipeline.Model) *arch.Arch {
	a, _ := m.Facts[FactArch].(*arch.Arch)
	return a
}
