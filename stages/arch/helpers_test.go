package arch

import (
	"encoding/binary"
	"fmt"
	"math"
	"testing"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// mk builds an F32 tensor whose element i holds base + i, distinct across
// tensors so that misplaced rows show.
func mk(name string, base float32, shape ...int64) *tensor.Desc {
	n := int64(1)
	for _, s := range shape {
		n *= s
	}
	b := make([]byte, 4*n)
	for i := int64(0); i < n; i++ {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(base+float32(i)))
	}
	d := &tensor.Desc{Name: name, DType: tensor.F32, Shape: shape}
	d.Src = &tensor.Bytes{Data: b, RowBytes: d.RowBytes(), What: name}
	return d
}

// asDType re-encodes an F32 fixture as d (F16/BF16) for dtype-sensitive tests.
func asDType(t *testing.T, d *tensor.Desc, to tensor.DType) *tensor.Desc {
	t.Helper()
	src, err := tensor.Convert(d.Src, d.DType, to, d.RowLen())
	if err != nil {
		t.Fatal(err)
	}
	c := d.Clone()
	c.DType, c.Src = to, src
	return c
}

func floats(t *testing.T, d *tensor.Desc) []float32 {
	t.Helper()
	b, err := tensor.ReadAll(d)
	if err != nil {
		t.Fatalf("%s: %v", d.Name, err)
	}
	out := make([]float32, d.Elems())
	if err := tensor.ToFloat32(d.DType, b, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func byName(ts []*tensor.Desc) map[string]*tensor.Desc {
	m := map[string]*tensor.Desc{}
	for _, d := range ts {
		m[d.Name] = d
	}
	return m
}

func names(ts []*tensor.Desc) []string {
	var out []string
	for _, d := range ts {
		out = append(out, d.Name)
	}
	return out
}

func mustLookup(t *testing.T, name string) *Arch {
	t.Helper()
	a, ok := Lookup(name)
	if !ok {
		t.Fatalf("no table %s", name)
	}
	return a
}

func eqStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s\n got %v\nwant %v", what, got, want)
	}
}

func eqFloats(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s[%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

// keyList renders keys as "key=TYPE:value" for order-and-value comparison.
func keyList(t *testing.T, a *Arch, cfg map[string]any) []string {
	t.Helper()
	m, err := a.HParams(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, kv := range m.All() {
		out = append(out, fmt.Sprintf("%s=%v:%v", kv.Key, kv.Value.Type, kv.Value.V))
	}
	return out
}
