package stages

import (
	"fmt"
	"slices"
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
	c := &mixChoice{mix: mx, opt: quant.Options{Pure: s.Pure, LeaveOutput: s.LeaveOutput, Overrides: s.tensorTypes}}
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

// plan chooses the types and marks the tensors that need an importance
// matrix; without one (hasImatrix false) such a tensor is refused here, as
// llama-quantize refuses the whole file before quantizing.
func (c *mixChoice) plan(m *pipeline.Model, hasImatrix bool) ([]tensor.DType, []bool, error) {
	info := quant.ModelInfo{Arch: m.Arch}
	info.NLayer = int(metaUint(m, m.Arch+".block_count"))
	info.NExpert = int(metaUint(m, m.Arch+".expert_count"))
	info.NHead = int(metaUint(m, m.Arch+".attention.head_count"))
	info.NHeadKV = int(metaUint(m, m.Arch+".attention.head_count_kv"))
	if info.NLayer == 0 {
		info.NLayer = countBlocks(m.Tensors)
	}
	opt := c.opt
	opt.HasImatrix = hasImatrix
	r, err := c.mix.PlanReport(info, m.Tensors, opt)
	if err != nil {
		return nil, nil, err
	}
	types := r.Types
	needs := make([]bool, len(types))
	for _, n := range r.NeedsImatrix {
		i := slices.IndexFunc(m.Tensors, func(t *tensor.Desc) bool { return t.Name == n })
		if !hasImatrix {
			return nil, nil, fmt.Errorf("quantization mix %s: tensor %s needs an importance matrix as %v: set %s (llama-quantize refuses it too)",
				c.mix.Name, n, types[i], quantImatrix)
		}
		needs[i] = true
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
	return types, needs, nil
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
