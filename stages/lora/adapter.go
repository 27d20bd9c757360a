package lora

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/safetensors"
	"github.com/mlmf-run/mlmf-run/tensor/torch"
)

// File names of a PEFT adapter folder.
const (
	ConfigName      = "adapter_config.json"
	SafetensorsName = "adapter_model.safetensors"
	TorchName       = "adapter_model.bin"
	keyPrefix       = "base_model.model."
)

// Adapter is one opened PEFT adapter: its config, its LoRA modules in file
// order, and the whole tensors it replaces (modules_to_save).
type Adapter struct {
	Dir     string
	Config  *Config
	Files   []string
	Modules []*Module
	// Saved are full replacement tensors (modules_to_save), named as in
	// the base model.
	Saved  []*tensor.Desc
	closer io.Closer
}

// Module is one adapted layer. A is (r, in) and B is (out, r) as PEFT
// stores them; for an embedding A is (r, vocab) and B is (dim, r).
type Module struct {
	Name      string // module path in the base model, e.g. model.layers.0.self_attn.q_proj
	A, B      *tensor.Desc
	Magnitude *tensor.Desc // DoRA's magnitude vector, nil for plain LoRA
	Embedding bool
	Rank      int
	Alpha     float64
	Scale     float64
}

// Weight is the name of the base tensor the module adapts.
func (m *Module) Weight() string { return m.Name + ".weight" }

// Close releases the adapter's file.
func (a *Adapter) Close() error {
	if a.closer == nil {
		return nil
	}
	return a.closer.Close()
}

// Open reads an adapter folder's config and tensor metadata (no weights).
func Open(dir string) (*Adapter, error) {
	cfgPath := filepath.Join(dir, ConfigName)
	b, err := tensor.ReadInput(cfgPath)
	if err != nil {
		return nil, fmt.Errorf("adapter %s: %w", dir, err)
	}
	cfg, err := ParseConfig(b, cfgPath)
	if err != nil {
		return nil, err
	}
	a := &Adapter{Dir: dir, Config: cfg}
	ts, err := a.openWeights(dir)
	if err != nil {
		return nil, err
	}
	a.Files = append(a.Files, cfgPath)
	if err := a.group(ts); err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

func (a *Adapter) openWeights(dir string) ([]*tensor.Desc, error) {
	st := filepath.Join(dir, SafetensorsName)
	if _, err := os.Stat(st); err == nil {
		set, err := safetensors.Open(st)
		if err != nil {
			return nil, err
		}
		a.closer, a.Files = set, []string{st}
		return set.Tensors, nil
	}
	bin := filepath.Join(dir, TorchName)
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("adapter %s: neither %s nor %s found", dir, SafetensorsName, TorchName)
	}
	f, c, err := torch.Open(bin)
	if err != nil {
		return nil, err
	}
	a.closer, a.Files = c, []string{bin}
	return f.Tensors, nil
}

// part is what one adapter key contributes to its module.
type part int

const (
	partA part = iota
	partB
	partEmbA
	partEmbB
	partMag
)

var suffixes = []struct {
	s string
	p part
}{
	{".lora_A.weight", partA}, {".lora_B.weight", partB},
	{".lora_embedding_A", partEmbA}, {".lora_embedding_B", partEmbB},
	{".lora_magnitude_vector", partMag},
}

// group sorts the adapter's tensors into modules by PEFT's key layout and
// checks each module's pieces against each other and the config.
func (a *Adapter) group(ts []*tensor.Desc) error {
	byName := map[string]*Module{}
	var errs []error
	for _, t := range ts {
		key := strings.TrimPrefix(t.Name, keyPrefix)
		if strings.HasSuffix(key, ".lora_B.bias") || strings.HasSuffix(key, ".lora_A.bias") {
			errs = append(errs, fmt.Errorf("%s: %q: LoRA biases (lora_bias) are not supported", a.Files[0], t.Name))
			continue
		}
		var p part = -1
		var mod string
		for _, s := range suffixes {
			if m, ok := strings.CutSuffix(key, s.s); ok {
				p, mod = s.p, m
				break
			}
		}
		if p < 0 {
			a.Saved = append(a.Saved, renamed(t, key))
			continue
		}
		m := byName[mod]
		if m == nil {
			m = &Module{Name: mod}
			byName[mod] = m
			a.Modules = append(a.Modules, m)
		}
		switch p {
		case partA, partEmbA:
			m.A, m.Embedding = t, p == partEmbA
		case partB, partEmbB:
			m.B = t
		case partMag:
			m.Magnitude = t
		}
	}
	if len(a.Saved) > 0 && len(a.Config.ModulesToSave) == 0 {
		errs = append(errs, fmt.Errorf("%s: tensors %s are neither LoRA matrices nor listed in modules_to_save", a.Files[0], names(a.Saved)))
	}
	for _, m := range a.Modules {
		errs = append(errs, a.check(m))
	}
	if len(a.Modules) == 0 && len(a.Saved) == 0 {
		errs = append(errs, fmt.Errorf("%s: no LoRA tensors (expected keys like %sMODULE.lora_A.weight)", a.Files[0], keyPrefix))
	}
	return errors.Join(errs...)
}

func renamed(t *tensor.Desc, name string) *tensor.Desc {
	c := t.Clone()
	c.Name = name
	return c
}

func names(ts []*tensor.Desc) string {
	var s []string
	for _, t := range ts {
		s = append(s, t.Name)
	}
	sort.Strings(s)
	return strings.Join(s, ", ")
}

// check validates one module on its own: both matrices present, 2-D,
// decodable, agreeing on a rank that is the one the config gives it.
func (a *Adapter) check(m *Module) error {
	file := a.Files[0]
	if m.A == nil || m.B == nil {
		return fmt.Errorf("%s: module %s has only one of its lora_A/lora_B matrices", file, m.Name)
	}
	if m.Magnitude != nil && !a.Config.DoRA || m.Magnitude == nil && a.Config.DoRA {
		return fmt.Errorf("%s: module %s: use_dora is %v but the magnitude vector is %s", file, m.Name, a.Config.DoRA, presence(m.Magnitude))
	}
	for _, t := range []*tensor.Desc{m.A, m.B} {
		if len(t.Shape) != 2 {
			return fmt.Errorf("%s: %s has shape %v; only 2-D (linear or embedding) adapters are supported", file, t.Name, t.Shape)
		}
		// Integers would decode as if they were weights: refuse them.
		if !t.DType.Float() || !tensor.HasCodec(t.DType) {
			return fmt.Errorf("%s: %s is %v, expected a floating-point matrix (F32, F16, BF16)", file, t.Name, t.DType)
		}
	}
	m.Rank, m.Alpha, m.Scale = a.Config.Scale(m.Name)
	ra, rb := m.A.Shape[0], m.B.Shape[1]
	if ra != rb {
		return fmt.Errorf("%s: module %s: lora_A has rank %d (shape %v) but lora_B has rank %d (shape %v)", file, m.Name, ra, m.A.Shape, rb, m.B.Shape)
	}
	if ra != int64(m.Rank) {
		return fmt.Errorf("%s: module %s: the matrices have rank %d but %s says %d (r, rank_pattern)", file, m.Name, ra, ConfigName, m.Rank)
	}
	return nil
}

func presence(t *tensor.Desc) string {
	if t == nil {
		return "missing"
	}
	return "present"
}
