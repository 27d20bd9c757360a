package stages

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mlmf-run/mlmf-run/pipeline"
	"github.com/mlmf-run/mlmf-run/stages/arch"
	"github.com/mlmf-run/mlmf-run/tensor"
)

const (
	unmapDType = "dtype"
	unmapArch  = "arch"
)

var unmapSpec = &pipeline.Spec{
	Kind: "unmap",
	Summary: "Turn a GGUF model back into Hugging Face names and layout (Q/K un-permuted, Gemma norms - 1, experts unstacked), " +
		"dequantized to one dtype, with a config.json built from the GGUF hyperparameters",
	Params: obj(props{
		unmapDType: enum("dtype of every output tensor; auto: the GGUF's own float type (F32, F16 or BF16), BF16 for a quantized file",
			"auto", "F32", "F16", "BF16"),
		unmapArch: str("use this architecture table instead of general.architecture"),
	}),
	MinInputs: 1, MaxInputs: 1,
	Examples: []string{"id: hf\nkind: unmap\ninputs: [src]\nwith: {dtype: BF16}"},
	New: func(p pipeline.Params) (pipeline.Stage, error) {
		s := &unmapStage{DType: "auto"}
		return s, p.Decode(s)
	},
}

type unmapStage struct {
	DType string `json:"dtype"`
	Arch  string `json:"arch"`
}

// torchNames are config.json's spellings of the output dtypes.
var torchNames = map[tensor.DType]string{tensor.F32: "float32", tensor.F16: "float16", tensor.BF16: "bfloat16"}

func (s *unmapStage) Plan(ctx context.Context, env *pipeline.Env, in []*pipeline.Model) (*pipeline.Model, error) {
	m := in[0].Clone()
	if m.Naming != "gguf" {
		return nil, errors.New("tensors do not have GGUF names: unmap takes a GGUF model (load a .gguf)")
	}
	name := s.Arch
	if name == "" {
		name = m.Arch
	}
	a, ok := arch.Lookup(name)
	if !ok {
		return nil, fmt.Errorf("architecture %q has no table, expected one of: %v (set arch:)", name, arch.Known())
	}
	to, err := s.target(m)
	if err != nil {
		return nil, err
	}
	// Inverse transforms need plain elements: dequantize first, to F32
	// so that nothing is rounded twice.
	plain := make([]*tensor.Desc, len(m.Tensors))
	for i, t := range m.Tensors {
		if plain[i], err = convertTo(t, tensor.F32, func(d tensor.DType) bool { return torchNames[d] != "" }); err != nil {
			return nil, err
		}
	}
	cfg, hf, err := a.Unmap(m.Meta, plain)
	if err != nil {
		return nil, err
	}
	for i, t := range hf {
		if hf[i], err = convertTo(t, to, func(d tensor.DType) bool { return d == to }); err != nil {
			return nil, err
		}
	}
	cfg["dtype"] = torchNames[to]
	m.Config, m.Tensors, m.Naming, m.Arch = cfg, hf, "hf", a.Name()
	m.Facts[FactArch] = a
	return m, nil
}

// convertTo converts t to dtype to unless keep says its dtype may stay.
func convertTo(t *tensor.Desc, to tensor.DType, keep func(tensor.DType) bool) (*tensor.Desc, error) {
	if keep(t.DType) {
		return t, nil
	}
	if !tensor.HasCodec(t.DType) {
		return nil, fmt.Errorf("tensor %q: no decoder for %v", t.Name, t.DType)
	}
	src, err := tensor.Convert(t.Src, t.DType, to, t.RowLen())
	if err != nil {
		return nil, fmt.Errorf("tensor %q: %w", t.Name, err)
	}
	c := t.Clone()
	c.DType, c.Src = to, src
	return c, nil
}

// target resolves dtype: auto follows general.file_type.
func (s *unmapStage) target(m *pipeline.Model) (tensor.DType, error) {
	if s.DType != "auto" {
		return tensor.ParseDType(strings.ToUpper(s.DType))
	}
	ft, _ := m.Meta.Uint("general.file_type")
	switch ft {
	case 0:
		return tensor.F32, nil
	case 1:
		return tensor.F16, nil
	}
	return tensor.BF16, nil
}
