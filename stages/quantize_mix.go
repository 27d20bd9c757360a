package stages

import (
	"fmt"
	"sort"

	"github.com/mlmf-run/mlmf-run/pipeline"
	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/quant"
)

// mixChoice adapts llama-quantize's per-tensor rules (quant.Mix) to a model.
type mixChoice struct {
	mix *quant.Mix
	opt quant.Options
}

func newMixChoice(s *quantizeStage) (*mixChoice, error) {
	mx, err := quant.ParseMix(s.Type)
	if err != nil {
		return nil, fmt.Errorf("type: %w", err)
	}
	c := &mixChoice{mix: mx, opt: quant.Options{Pure: s.Pure}}
	for _, f := range []struct {
		v   string
		dst *tensor.DType
		key string
	}{{s.Output, &c.opt.OutputType, quantOutput}, {s.Embedding, &c.opt.EmbeddingType, quantEmbedding}} {
		if f.v == "" {
			continue
		}
		t, err := tensor.ParseDType(f.v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.key, err)
		}
		*f.dst = t
	}
	return c, nil
}

func (c *mixChoice) plan(m *pipeline.Model) ([]tensor.DType, error) {
	info := quant.ModelInfo{Arch: m.Arch}
	info.NLayer = int(metaUint(m, m.Arch+".block_count"))
	info.NExpert = int(metaUint(m, m.Arch+".expert_count"))
	info.NHead = int(metaUint(m, m.Arch+".attention.head_count"))
	info.NHeadKV = int(metaUint(m, m.Arch+".attention.head_count_kv"))
	if info.NLayer == 0 {
		info.NLayer = countBlocks(m.Tensors)
	}
	types, err := c.mix.Plan(info, m.Tensors, c.opt)
	if err != nil {
		return nil, err
	}
	if a := archOf(m); a != nil && m.Format != "gguf" {
		// One pass stands for convert-then-quantize: what the mix leaves
		// alone gets the type the converter would have written (norms F32).
		for i, t := range m.Tensors {
			if types[i] == t.DType {
				types[i] = a.OutType(t.Name, t.Shape, t.DType)
			}
		}
	}
	m.Facts[FactOutType] = c.mix.Default
	m.Facts[FactFileType] = c.mix.FileType
	return types, nil
}

// metaUint reads a hyperparameter from a GGUF input's metadata, or from the
// architecture header a converted model will get.
func metaUint(m *pipeline.Model, key string) uint64 {
	if v, ok := m.Meta.Uint(key); ok {
		return v
	}
	if a := archOf(m); a != nil {
		if hp, err := a.HParams(m.Config); err == nil {
			v, _ := hp.Uint(key)
			return v
		}
	}
	return 0
}

func countBlocks(ts []*tensor.Desc) int {
	n := -1
	for _, t := range ts {
		var b int
		if _, err := fmt.Sscanf(t.Name, "blk.%d.", &b); err == nil && b > n {
			n = b
		}
	}
	return n + 1
}

// sortOverrides orders override patterns longest first, so the most
// specific pattern wins whatever order YAML gave the mapping.
func sortOverrides(o []override) {
	sort.SliceStable(o, func(i, j int) bool {
		a, b := o[i].re.String(), o[j].re.String()
		if len(a) != len(b) {
			return len(a) > len(b)
		}
		return a < b
	})
}
