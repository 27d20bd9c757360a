package stages

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/mlmf-run/mlmf-run/gpu"
	"github.com/mlmf-run/mlmf-run/pipeline"
	"github.com/mlmf-run/mlmf-run/stages/arch"
	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
	"github.com/mlmf-run/mlmf-run/tensor/quant"
)

const (
	quantType      = "type"
	quantOverrides = "overrides"
	quantPure      = "pure"
	quantOutput    = "output_type"
	quantEmbedding = "embedding_type"
	quantRequant   = "allow_requantize"
)

var quantizeSpec = &pipeline.Spec{
	Kind: "quantize",
	Summary: "Choose every tensor's type (F32/F16/BF16/Q8_0 as llama.cpp's converter does, or a llama-quantize mix such as Q4_K_M) " +
		"and convert rows on the fly",
	Params: obj(withQuantFlags(props{
		quantType:      str("auto (F16 or BF16, as convert_hf_to_gguf --outtype auto), F32, F16, BF16, Q8_0, or a llama-quantize type or mix: " + strings.Join(quant.Mixes(), ", ")),
		quantOverrides: strMap("per-tensor types by regex over GGUF names, e.g. {'blk\\..*\\.ffn_down\\.weight': Q6_K}; first match wins"),
		quantPure:      boolean("every quantizable tensor in the mix's base type (llama-quantize --pure)"),
		quantOutput:    str("type for output.weight"),
		quantEmbedding: str("type for token_embd.weight"),
		quantRequant:   boolean("allow dequantizing already-quantized input tensors and quantizing them again (lossy)"),
		stageDevice:    deviceParam,
	}), quantType),
	MinInputs: 1, MaxInputs: 1,
	Examples: []string{"id: q\nkind: quantize\ninputs: [names]\nwith: {type: Q4_K_M}"},
	New:      newQuantize,
}

type quantizeStage struct {
	Type      string            `json:"type"`
	Overrides map[string]string `json:"overrides"`
	Pure      bool              `json:"pure"`
	Output    string            `json:"output_type"`
	Embedding string            `json:"embedding_type"`
	Requant   bool              `json:"allow_requantize"`
	Device    string            `json:"device"`
	llamaFlags
	plain     tensor.DType
	auto      bool
	mix       *mixChoice
	overrides []override
}

type override struct {
	re *regexp.Regexp
	t  tensor.DType
}

// converterTypes are the types llama.cpp's converter itself writes; for
// them the converter's rules (norms and 1-D tensors stay F32) decide.
var converterTypes = map[string]tensor.DType{"F32": tensor.F32, "F16": tensor.F16, "BF16": tensor.BF16, "Q8_0": tensor.Q8_0}

func newQuantize(p pipeline.Params) (pipeline.Stage, error) {
	s := &quantizeStage{}
	if err := p.Decode(s); err != nil {
		return nil, err
	}
	if err := checkDevice(s.Device); err != nil {
		return nil, err
	}
	if err := s.llamaFlags.parse(); err != nil {
		return nil, err
	}
	if t, ok := converterTypes[strings.ToUpper(s.Type)]; ok && !s.Pure && s.Output == "" && s.Embedding == "" && !s.llamaFlags.any() {
		s.plain = t
	} else if strings.EqualFold(s.Type, "auto") {
		s.auto = true
	} else {
		m, err := newMixChoice(s)
		if err != nil {
			return nil, err
		}
		s.mix = m
	}
	for pat, ty := range s.Overrides {
		re, err := regexp.Compile("^(?:" + pat + ")$")
		if err != nil {
			return nil, fmt.Errorf("overrides %q: %w", pat, err)
		}
		t, err := tensor.ParseDType(ty)
		if err != nil {
			return nil, fmt.Errorf("overrides %q: %w", pat, err)
		}
		s.overrides = append(s.overrides, override{re, t})
	}
	sortOverrides(s.overrides)
	return s, nil
}

func (s *quantizeStage) Plan(ctx context.Context, env *pipeline.Env, in []*pipeline.Model) (*pipeline.Model, error) {
	m := in[0].Clone()
	if m.Naming != "gguf" {
		return nil, fmt.Errorf("quantize works on GGUF tensor names: put detect and remap before it")
	}
	choice, err := planDevice(env, s.Device)
	if err != nil {
		return nil, err
	}
	dev := gpu.Open(choice)
	// The files read here are inputs too: the manifest lists them, and no
	// output may overwrite them.
	for _, f := range []string{s.Imatrix, s.TensorTypeFile} {
		if f != "" {
			m.Files = append(m.Files, f)
		}
	}
	var im *stageImatrix
	if s.Imatrix != "" {
		if im, err = loadImatrix(env, &s.llamaFlags); err != nil {
			return nil, err
		}
		if im == nil {
			env.Warnf("imatrix %s: no entry is left after %s/%s: quantizing without it, as llama-quantize does", s.Imatrix, quantInclude, quantExclude)
		}
	}
	keys, blocks := map[*tensor.Desc]string{}, -1
	var kv []gguf.KV
	if len(s.prune) > 0 {
		if kv, err = unprunedLabel(m); err != nil {
			return nil, err
		}
		m.Tensors, keys, blocks = pruneLayers(m.Tensors, s.prune)
	}
	if s.KeepSplit {
		// llama-quantize keeps each split's tensors in file order.
		parts, err := keepSplit(m, keys)
		if err != nil {
			return nil, err
		}
		if parts == nil {
			env.Warnf("%s: the input is not a split GGUF set: one output file", quantKeepSplit)
		} else {
			m.Facts[FactKeepSplit] = parts
		}
	} else if s.mix != nil && m.Format == "gguf" {
		m.Tensors = loaderOrder(m.Tensors)
	}
	types, needs, err := s.choose(m, im != nil)
	if err != nil {
		return nil, err
	}
	var errs []error
	var missing []string
	for i, t := range m.Tensors {
		want := types[i]
		for _, o := range s.overrides {
			if o.re.MatchString(t.Name) {
				want = o.t
				break
			}
		}
		var w []float32
		if im != nil && want != t.DType && want.Quantized() {
			key, ok := keys[t]
			if !ok {
				key = t.Name
			}
			if w, err = im.forTensor(t, key, want, needs[i]); err != nil {
				errs = append(errs, err)
				continue
			}
			// llama-imatrix never records the embeddings (a lookup, not a
			// product) nor, by default, output.weight: no news there.
			if _, ok := im.weights[key]; !ok && t.Name != "token_embd.weight" && t.Name != "output.weight" {
				missing = append(missing, t.Name)
			}
		}
		c, err := s.convert(env, t, want, dev, w)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		m.Tensors[i] = c
	}
	if im != nil && len(m.Tensors) > 0 {
		if err := im.checkNames(env, m.Tensors, keys, missing); err != nil {
			errs = append([]error{err}, errs...)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	kv = append(append(slices.Clone(metaOverrides(m)), kv...), s.kv...)
	if im != nil {
		kv = append(kv, im.meta()...)
	}
	if blocks >= 0 {
		kv = append(kv, gguf.KV{Key: m.Arch + ".block_count", Value: gguf.Uint32(uint32(blocks))})
	}
	if len(kv) > 0 {
		m.Facts[FactMetaOverrides] = kv
	}
	return m, nil
}

// choose gives each tensor its target type by the converter's rules or by
// the mix's.
// needs marks the tensors whose type is garbage without an importance
// matrix (for the mixes; none for the converter's types).
func (s *quantizeStage) choose(m *pipeline.Model, hasImatrix bool) (types []tensor.DType, needs []bool, err error) {
	if s.mix != nil {
		return s.mix.plan(m, hasImatrix)
	}
	if s.auto {
		// convert_hf_to_gguf's --outtype auto: F16 when the first tensor is
		// F16, BF16 otherwise (config.json's torch_dtype is not trusted).
		s.plain = tensor.BF16
		if len(m.Tensors) > 0 && m.Tensors[0].DType == tensor.F16 {
			s.plain = tensor.F16
		}
	}
	a, _ := m.Facts[FactArch].(*arch.Arch)
	types = make([]tensor.DType, len(m.Tensors))
	for i, t := range m.Tensors {
		if a != nil {
			types[i] = a.OutTypeOf(t, s.plain)
		} else {
			types[i] = arch.OutType(t.Name, t.Shape, s.plain)
		}
	}
	m.Facts[FactOutType] = s.plain
	delete(m.Facts, FactFileType)
	return types, make([]bool, len(types)), nil
}

// convert wraps t's source so rows come out in type want: quantized types
// through quant.Rows, with importance weights w (nil for none), as
// llama-quantize calls ggml's quantizers, or on dev (a GPU, nil for none)
// when there are no weights and the type has a block codec (the GPU
// kernels have no importance-weighted search). Requantizing an
// already-quantized tensor loses precision twice, so it must be asked for.
func (s *quantizeStage) convert(env *pipeline.Env, t *tensor.Desc, want tensor.DType, dev tensor.Device, w []float32) (*tensor.Desc, error) {
	if t.DType == want {
		return t, nil
	}
	if t.DType.Quantized() {
		if !s.Requant {
			return nil, fmt.Errorf("tensor %q is already %v: set allow_requantize: true to dequantize and quantize it to %v", t.Name, t.DType, want)
		}
		env.Warnf("requantizing %s from %v to %v loses precision", t.Name, t.DType, want)
	}
	var src tensor.Source
	var err error
	if want.Quantized() && (w != nil || dev == nil || !tensor.HasCodec(want)) {
		src, err = quant.Rows(t.Src, t.DType, want, t.RowLen(), rowsPerExpert(t), w)
	} else {
		src, err = tensor.ConvertOn(dev, t.Src, t.DType, want, t.RowLen())
	}
	if err != nil {
		return nil, fmt.Errorf("tensor %q %v: %v -> %v: %w", t.Name, t.Shape, t.DType, want, err)
	}
	c := t.Clone()
	c.DType, c.Src = want, src
	return c, nil
}
