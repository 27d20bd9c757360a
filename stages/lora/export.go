package lora

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/mlmf-run/mlmf-run/stages/arch"
	"github.com/mlmf-run/mlmf-run/tensor"
)

// GGUFTensors lays the adapter out as llama.cpp's LoRA GGUF: for each module
// "<gguf name>.lora_a" (A, or Aᵀ for token_embd) and ".lora_b" (B), in the
// adapter file's order, encoded as out. The architecture's transforms reach
// B as they reach the base weight's rows (LLaMA's Q/K permutation); any
// transform that is not a pure row permutation is refused, as are DoRA,
// fan_in_fan_out and modules_to_save, which the format cannot carry.
//
// llama.cpp scales every module by adapter.lora.alpha / rank. Where PEFT's
// scale differs (rsLoRA, alpha_pattern) B is multiplied by the ratio, so
// the file computes what PEFT computes.
func (a *Adapter) GGUFTensors(ar *arch.Arch, cfg map[string]any, base map[string]*tensor.Desc, out tensor.DType) ([]*tensor.Desc, error) {
	var errs []error
	c := a.Config
	switch {
	case c.DoRA:
		errs = append(errs, fmt.Errorf("adapter %s: DoRA adapters have no llama.cpp GGUF form; merge them instead", a.Dir))
	case c.FanInFanOut:
		errs = append(errs, fmt.Errorf("adapter %s: fan_in_fan_out adapters are not supported in a LoRA GGUF; merge them instead", a.Dir))
	case c.Alpha == 0:
		errs = append(errs, fmt.Errorf("adapter %s: lora_alpha 0 reads as \"no scaling\" to llama.cpp", a.Dir))
	}
	if len(a.Saved) > 0 {
		errs = append(errs, fmt.Errorf("adapter %s: modules_to_save tensors (%s) have no place in a LoRA GGUF; merge the adapter instead", a.Dir, names(a.Saved)))
	}
	var probes []*tensor.Desc
	for _, m := range a.Modules {
		bt := base[m.Weight()]
		if bt == nil {
			errs = append(errs, fmt.Errorf("adapter %s: module %s matches no base tensor (no %s in the base); is the adapter for another model?", a.Dir, m.Name, m.Weight()))
			continue
		}
		if _, err := Bind(m, bt, false, 1); err != nil {
			errs = append(errs, fmt.Errorf("adapter %s: %w", a.Dir, err))
			continue
		}
		probes = append(probes, probe(m.Weight(), bt.Shape[0]))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	perms, gguf, err := permutations(ar, cfg, probes)
	if err != nil {
		return nil, fmt.Errorf("adapter %s: %w", a.Dir, err)
	}
	var ts []*tensor.Desc
	for i, m := range a.Modules {
		if m.Embedding && perms[i] != nil {
			return nil, fmt.Errorf("adapter %s: module %s: %s reorders embedding rows; not supported for adapters", a.Dir, m.Name, ar.Name())
		}
		factor := float32(1)
		if llama := c.Alpha / float64(m.Rank); m.Scale != llama {
			factor = float32(m.Scale / llama)
		}
		la := m.A
		if m.Embedding {
			la = transposedDesc(m.A)
		}
		lb := m.B.Clone()
		lb.Src = &rows{src: m.B.Src, perm: perms[i], rowBytes: m.B.RowBytes()}
		for _, p := range []struct {
			d      *tensor.Desc
			suffix string
			factor float32
		}{{la, ".lora_a", 1}, {lb, ".lora_b", factor}} {
			d, err := encode(p.d, out, p.factor)
			if err != nil {
				return nil, err
			}
			d.Name = gguf[i] + p.suffix
			ts = append(ts, d)
		}
	}
	return ts, nil
}

// probe is a one-column F32 tensor whose row i holds i: remapped, it shows
// where the architecture's transforms send each row.
func probe(name string, rows int64) *tensor.Desc {
	b := make([]byte, 4*rows)
	for i := int64(0); i < rows; i++ {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(i)))
	}
	return &tensor.Desc{Name: name, DType: tensor.F32, Shape: []int64{rows, 1}, Src: &tensor.Bytes{Data: b, RowBytes: 4, What: "probe " + name}}
}

// permutations remaps the probes and reads back, per module, its GGUF name
// and the source row of each output row (nil for the identity).
func permutations(ar *arch.Arch, cfg map[string]any, probes []*tensor.Desc) ([][]int64, []string, error) {
	generated := map[string]bool{}
	if gen, err := ar.Remap(cfg, nil); err == nil {
		for _, g := range gen {
			generated[g.Name] = true
		}
	}
	outs, err := ar.Remap(cfg, probes)
	if err != nil {
		return nil, nil, err
	}
	var mapped []*tensor.Desc
	for _, o := range outs {
		if !generated[o.Name] {
			mapped = append(mapped, o)
		}
	}
	if len(mapped) != len(probes) {
		return nil, nil, fmt.Errorf("%s stacks or splits adapted tensors (%d in, %d out); not supported for adapters", ar.Name(), len(probes), len(mapped))
	}
	perms := make([][]int64, len(mapped))
	names := make([]string, len(mapped))
	for i, o := range mapped {
		rows := probes[i].Shape[0]
		if o.DType != tensor.F32 || len(o.Shape) != 2 || o.Shape[0] != rows || o.Shape[1] != 1 {
			return nil, nil, fmt.Errorf("%s: %s transforms %s beyond a row permutation (to %v %v); not supported for adapters", ar.Name(), o.Name, probes[i].Name, o.DType, o.Shape)
		}
		b, err := tensor.ReadAll(o)
		if err != nil {
			return nil, nil, err
		}
		perm, seen, identity := make([]int64, rows), make([]bool, rows), true
		for r := int64(0); r < rows; r++ {
			v := math.Float32frombits(binary.LittleEndian.Uint32(b[4*r:]))
			src := int64(v)
			if float32(src) != v || src < 0 || src >= rows || seen[src] {
				return nil, nil, fmt.Errorf("%s: %s changes the values of %s's rows; not supported for adapters", ar.Name(), o.Name, probes[i].Name)
			}
			seen[src], perm[r] = true, src
			identity = identity && src == r
		}
		if !identity {
			perms[i] = perm
		}
		names[i] = o.Name
	}
	return perms, names, nil
}

// rows is a Source that copies rows of src in perm's order.
type rows struct {
	src      tensor.Source
	perm     []int64
	rowBytes int64
}

func (r *rows) ReadRows(row, n int64, dst []byte) error {
	if r.perm == nil {
		return r.src.ReadRows(row, n, dst)
	}
	for i := int64(0); i < n; i++ {
		if err := r.src.ReadRows(r.perm[row+i], 1, dst[i*r.rowBytes:(i+1)*r.rowBytes]); err != nil {
			return err
		}
	}
	return nil
}

func (r *rows) Describe() string {
	if r.perm == nil {
		return r.src.Describe()
	}
	return "row_permutation(" + r.src.Describe() + ")"
}

// transposedDesc is Aᵀ: llama.cpp looks token embedding adapters up by
// token row, so token_embd.lora_a is (vocab, r). A is small; it is read
// whole on first use.
func transposedDesc(a *tensor.Desc) *tensor.Desc {
	t := a.Clone()
	t.DType = tensor.F32
	t.Shape = []int64{a.Shape[1], a.Shape[0]}
	var once sync.Once
	var data []byte
	var err error
	t.Src = &lazyBytes{what: "transpose(" + a.Src.Describe() + ")", rowBytes: 4 * a.Shape[0], load: func() ([]byte, error) {
		once.Do(func() {
			var f []float32
			if f, err = readF32(a); err == nil {
				tr := transpose(f, a.Shape[0], a.Shape[1])
				data = make([]byte, 4*len(tr))
				for i, v := range tr {
					binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(v))
				}
			}
		})
		return data, err
	}}
	return t
}

type lazyBytes struct {
	what     string
	rowBytes int64
	load     func() ([]byte, error)
}

func (l *lazyBytes) ReadRows(row, n int64, dst []byte) error {
	b, err := l.load()
	if err != nil {
		return err
	}
	return (&tensor.Bytes{Data: b, RowBytes: l.rowBytes, What: l.what}).ReadRows(row, n, dst)
}

func (l *lazyBytes) Describe() string { return l.what }

// encode re-encodes d as out, multiplying by factor when it is not 1.
func encode(d *tensor.Desc, out tensor.DType, factor float32) (*tensor.Desc, error) {
	if factor == 1 {
		src, err := tensor.Convert(d.Src, d.DType, out, d.RowLen())
		if err != nil {
			return nil, fmt.Errorf("%s: %v -> %v: %w", d.Name, d.DType, out, err)
		}
		c := d.Clone()
		c.DType, c.Src = out, src
		return c, nil
	}
	c := d.Clone()
	c.DType = out
	outRB, err := out.RowBytes(d.RowLen())
	if err != nil {
		return nil, err
	}
	c.Src = &scaled{src: d.Src, in: d.DType, out: out, cols: d.RowLen(), inRB: d.RowBytes(), outRB: outRB, factor: factor}
	return c, nil
}

// scaled multiplies every element by factor in float32.
type scaled struct {
	src         tensor.Source
	in, out     tensor.DType
	cols        int64
	inRB, outRB int64
	factor      float32
}

func (s *scaled) ReadRows(row, n int64, dst []byte) error { return tensor.ReadDerived(s, row, n, dst) }

func (s *scaled) Input() (tensor.Source, int64) { return s.src, s.inRB }

func (s *scaled) Derive(row, n int64, raw, dst []byte) error {
	fp := tensor.GetF32(int(s.cols))
	defer tensor.F32Pool.Put(fp)
	f := *fp
	for i := int64(0); i < n; i++ {
		if err := tensor.ToFloat32(s.in, raw[i*s.inRB:(i+1)*s.inRB], f); err != nil {
			return err
		}
		for j, v := range f {
			f[j] = v * s.factor
		}
		if err := tensor.FromFloat32(s.out, f, dst[i*s.outRB:(i+1)*s.outRB]); err != nil {
			return err
		}
	}
	return nil
}

func (s *scaled) Describe() string { return fmt.Sprintf("scale[%g](%s)", s.factor, s.src.Describe()) }
