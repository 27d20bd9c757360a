package stages

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strings"

	"github.com/mlmf-run/mlmf-run/gpu"
	"github.com/mlmf-run/mlmf-run/pipeline"
	"github.com/mlmf-run/mlmf-run/stages/lora"
	"github.com/mlmf-run/mlmf-run/tensor"
)

// FactAdapters is the Model.Facts key where merge-lora records the
// []*lora.Adapter it merged, for manifests and later stages.
const FactAdapters = "lora_adapters"

// maxMergeWeight bounds an adapter's weight as lora_alpha is bounded.
const maxMergeWeight = 1 << 20

const (
	mergeAdapters = "adapters"
	mergeDType    = "dtype"
)

var mergeLoraSpec = &pipeline.Spec{
	Kind: "merge-lora",
	Summary: "Merge PEFT LoRA adapters into a Hugging Face model while streaming: W + Σ weight·scale·B·A " +
		"(rsLoRA, rank/alpha patterns, fan_in_fan_out, embeddings, DoRA, modules_to_save)",
	Params: obj(props{
		mergeAdapters: map[string]any{"type": "array", "minItems": 1, "description": "adapters applied in order",
			"items": obj(props{
				"path":   str("PEFT adapter folder (adapter_config.json + adapter_model.safetensors or .bin)"),
				"weight": map[string]any{"type": "number", "description": "multiplies the adapter's delta (default 1)"},
			}, "path")},
		mergeDType:  enum("dtype of every floating-point output tensor; base (or auto) keeps each tensor's own", "base", "auto", "F32", "F16", "BF16"),
		stageDevice: deviceParam,
	}, mergeAdapters),
	MinInputs: 1, MaxInputs: 1,
	Examples: []string{"id: merged\nkind: merge-lora\ninputs: [base]\nwith:\n  adapters: [{path: ./my-lora}, {path: ./style-lora, weight: 0.5}]\n  dtype: BF16"},
	New: func(p pipeline.Params) (pipeline.Stage, error) {
		s := &mergeLoraStage{DType: "base"}
		if err := p.Decode(s); err != nil {
			return nil, err
		}
		if err := checkDevice(s.Device); err != nil {
			return nil, err
		}
		for i := range s.Adapters {
			if s.Adapters[i].Weight == nil {
				one := 1.0
				s.Adapters[i].Weight = &one
			}
			// As lora_alpha: a weight near float32's range makes every
			// merged value infinite.
			if w := *s.Adapters[i].Weight; math.IsNaN(w) || math.Abs(w) > maxMergeWeight {
				return nil, fmt.Errorf("adapters[%d].weight %g: expected a finite number of magnitude at most %d", i, w, maxMergeWeight)
			}
		}
		return s, nil
	},
}

type adapterRef struct {
	Path   string   `json:"path"`
	Weight *float64 `json:"weight"`
}

type mergeLoraStage struct {
	Adapters []adapterRef `json:"adapters"`
	DType    string       `json:"dtype"`
	Device   string       `json:"device"`
	dev      tensor.Device
	closers  []io.Closer
}

// Close releases the adapters' files after the run.
func (s *mergeLoraStage) Close() error {
	var errs []error
	for _, c := range s.closers {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

func (s *mergeLoraStage) Plan(ctx context.Context, env *pipeline.Env, in []*pipeline.Model) (*pipeline.Model, error) {
	m := in[0].Clone()
	if m.Naming != "hf" {
		return nil, fmt.Errorf("merge-lora works on Hugging Face tensor names (PEFT's); the input is named for %s: merge before remap", m.Naming)
	}
	choice, err := planDevice(env, s.Device)
	if err != nil {
		return nil, err
	}
	s.dev = gpu.Open(choice)
	base := map[string]*tensor.Desc{}
	for _, t := range m.Tensors {
		base[t.Name] = t
	}
	deltas := map[string][]*lora.Delta{}
	saved := map[string]*tensor.Desc{}
	var adapters []*lora.Adapter
	var errs []error
	for _, ref := range s.Adapters {
		a, err := lora.Open(ref.Path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.closers = append(s.closers, a)
		adapters = append(adapters, a)
		m.Files = append(m.Files, a.Files...)
		errs = append(errs, bindAdapter(env, m, a, *ref.Weight, base, deltas, saved)...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	for i, t := range m.Tensors {
		c, err := s.output(t, deltas[t.Name], saved[t.Name])
		if err != nil {
			errs = append(errs, err)
		}
		m.Tensors[i] = c
	}
	m.Facts[FactAdapters] = adapters
	return m, errors.Join(errs...)
}

// bindAdapter matches one adapter's modules and saved tensors to the base.
func bindAdapter(env *pipeline.Env, m *pipeline.Model, a *lora.Adapter, weight float64,
	base map[string]*tensor.Desc, deltas map[string][]*lora.Delta, saved map[string]*tensor.Desc) []error {
	var errs []error
	if err := checkTargets(m, a); err != nil {
		errs = append(errs, err)
	}
	if a.Config.DoRA && weight != 1 {
		errs = append(errs, fmt.Errorf("adapter %s: DoRA rescales the whole merged weight, so a weight other than 1 (%g) has no meaning", a.Dir, weight))
	}
	if bm := a.Config.BaseModel; bm != "" && m.Dir != "" && filepath.Base(bm) != filepath.Base(filepath.Clean(m.Dir)) {
		env.Warnf("adapter %s was trained on %q; merging into %s", a.Dir, bm, m.Dir)
	}
	for _, mod := range a.Modules {
		bt := base[mod.Weight()]
		if bt == nil {
			errs = append(errs, fmt.Errorf("adapter %s: module %s matches no base tensor (no %s in the base%s); is the adapter for another model?",
				a.Dir, mod.Name, mod.Weight(), archHint(m)))
			continue
		}
		d, err := lora.Bind(mod, bt, a.Config.FanInFanOut, weight)
		if err != nil {
			errs = append(errs, fmt.Errorf("adapter %s: %w", a.Dir, err))
			continue
		}
		deltas[bt.Name] = append(deltas[bt.Name], d)
	}
	for _, t := range a.Saved {
		bt := base[t.Name]
		switch {
		case bt == nil:
			errs = append(errs, fmt.Errorf("adapter %s: modules_to_save tensor %s matches no base tensor%s", a.Dir, t.Name, archHint(m)))
		case !equalShape(bt.Shape, t.Shape):
			errs = append(errs, fmt.Errorf("adapter %s: modules_to_save tensor %s has shape %v, the base's has %v", a.Dir, t.Name, t.Shape, bt.Shape))
		case saved[t.Name] != nil:
			errs = append(errs, fmt.Errorf("adapter %s: %s is replaced by two adapters' modules_to_save", a.Dir, t.Name))
		default:
			saved[t.Name] = t
		}
	}
	for name := range saved {
		if len(deltas[name]) > 0 {
			errs = append(errs, fmt.Errorf("%s is both replaced (modules_to_save) and adapted by LoRA; the result would depend on order", name))
		}
	}
	return errs
}

// checkTargets refuses an adapter none of whose target_modules names a
// module of the base, as PEFT does when it injects one.
func checkTargets(m *pipeline.Model, a *lora.Adapter) error {
	c := a.Config
	if len(c.TargetModules) == 0 && c.TargetRegex == "" {
		return nil
	}
	for _, t := range m.Tensors {
		if mod, ok := strings.CutSuffix(t.Name, ".weight"); ok && c.Targets(mod) {
			return nil
		}
	}
	tm := c.TargetRegex
	if tm == "" {
		tm = strings.Join(c.TargetModules, ", ")
	}
	return fmt.Errorf("adapter %s: target_modules (%s) name no module of the base%s; is the adapter for another architecture?", a.Dir, tm, archHint(m))
}

func archHint(m *pipeline.Model) string {
	if m.Config == nil {
		return ""
	}
	if as, ok := m.Config["architectures"].([]any); ok && len(as) > 0 {
		return fmt.Sprintf(", a %v", as[0])
	}
	return ""
}

// output is t merged, replaced or re-encoded as the recipe asks.
func (s *mergeLoraStage) output(t *tensor.Desc, ds []*lora.Delta, repl *tensor.Desc) (*tensor.Desc, error) {
	want := t.DType
	if s.DType != "base" && s.DType != "auto" && t.DType.Float() {
		want, _ = tensor.ParseDType(s.DType)
	}
	if len(ds) > 0 {
		return lora.MergeOn(s.dev, t, want, ds)
	}
	src := t
	if repl != nil {
		src = repl
	}
	if src.DType == want {
		return src, nil
	}
	conv, err := tensor.Convert(src.Src, src.DType, want, src.RowLen())
	if err != nil {
		return nil, fmt.Errorf("tensor %s: %v -> %v: %w", t.Name, src.DType, want, err)
	}
	c := src.Clone()
	c.Name, c.DType, c.Src = t.Name, want, conv
	return c, nil
}

func equalShape(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
