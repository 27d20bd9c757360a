package arch

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// TestTorchSum: sum(|x|) of x_k = float32((7919k mod 1001) - 500) x
// float32(1e-4) as Debian's torch 1.13 computes it on an AVX2 machine with
// one thread (x.abs().sum(), the float32 bits printed by torch), which a
// float64 sum rounded once misses for n = 37 and 8192. The sizes cover the
// scalar tail, leftover vectors and the cascade's levels.
func TestTorchSum(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want uint32
	}{{37, 0x3f7923a1}, {100, 0x401f295e}, {4096, 0x42cd16c8}, {8192, 0x434d0d64}, {300007, 0x45ea9d40}} {
		b := make([]byte, 4*c.n)
		for k := int64(0); k < c.n; k++ {
			v := float32((k*7919)%1001-500) * float32(0.0001)
			binary.LittleEndian.PutUint32(b[4*k:], math.Float32bits(v))
		}
		d := &tensor.Desc{Name: "x", DType: tensor.F32, Shape: []int64{c.n}}
		d.Src = &tensor.Bytes{Data: b, RowBytes: 4 * c.n, What: "x"}
		got, err := torchSum(d)
		if err != nil {
			t.Fatal(err)
		}
		if math.Float32bits(got) != c.want {
			t.Errorf("n = %d: %#08x (%v), want torch's %#08x", c.n, math.Float32bits(got), got, c.want)
		}
	}
}

// TestBitnetTernary: each weight becomes -s, 0 or s with s the mean
// magnitude (here 2.5: |x| = 1..4), rounding half to even (x/s = 0.4 -> 0,
// 0.8 -> 1), in float32 for a BF16 input.
func TestBitnetTernary(t *testing.T) {
	d := asDType(t, mk("w", 1, 2, 2), tensor.BF16) // 1 2 3 4
	out, err := bitnetTernary(nil, d, "")
	if err != nil {
		t.Fatal(err)
	}
	if out.DType != tensor.F32 {
		t.Fatalf("dtype %v, want F32", out.DType)
	}
	got := floats(t, out)
	for i, want := range []float32{0, 2.5, 2.5, 2.5} {
		if got[i] != want {
			t.Errorf("element %d = %v, want %v", i, got[i], want)
		}
	}
}

// TestDequantBitnet: a [1, 2] packed weight is [4, 2]: byte 0b10_01_00_10
// holds codes 2, 0, 1, 2 for rows 0..3 (bits 2k for row k), each (c - 1) /
// scale with scale 0.5; the scale is dropped, the weight keeps its place.
func TestDequantBitnet(t *testing.T) {
	cfg := map[string]any{"quantization_config": map[string]any{"quant_method": "bitnet"}}
	w := u8("l.weight", []byte{0b10_01_00_10, 0b01_01_10_00}, 1, 2)
	s := mk("l.weight_scale", 0.5, 1)
	other := mk("n.weight", 0, 2)
	out, err := Dequant(cfg, []*tensor.Desc{w, s, other})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[0].Name != "l.weight" || out[1] != other || out[0].DType != tensor.F32 || out[0].Shape[0] != 4 || out[0].Shape[1] != 2 {
		t.Fatalf("outputs %v", out)
	}
	got := floats(t, out[0])
	want := []float32{2, -2, -2, 2, 0, 0, 2, 0} // codes 2 0, 0 2, 1 1, 2 1 by row
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("element %d = %v, want %v", i, got[i], want[i])
		}
	}
	for _, c := range []struct {
		name string
		ts   []*tensor.Desc
		want string
	}{
		{"orphan scale", []*tensor.Desc{s}, "l.weight_scale: no l.weight beside it"},
		{"dtype", []*tensor.Desc{mk("l.weight", 0, 1, 2), s}, "want U8 [rows/4, columns]"},
		{"scale", []*tensor.Desc{w, mk("l.weight_scale", 1, 2)}, "want one scale for l.weight"},
	} {
		if _, err := Dequant(cfg, c.ts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
}
