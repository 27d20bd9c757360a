package arch

import (
	"math"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// e2m1 are the FP4 values of transformers' MXFP4 lookup table (sign in
// bit 3), the decoding the Hub's gpt-oss checkpoints are written for.
var e2m1 = [16]float32{0, 0.5, 1, 1.5, 2, 3, 4, 6, 0, -0.5, -1, -1.5, -2, -3, -4, -6}

func u8(name string, data []byte, shape ...int64) *tensor.Desc {
	d := &tensor.Desc{Name: name, DType: tensor.U8, Shape: shape}
	d.Src = &tensor.Bytes{Data: data, RowBytes: d.RowBytes(), What: name}
	return d
}

// TestKeepMXFP4 repacks 2 experts x 3 rows x 64 columns and decodes the
// result with GGML's MXFP4 dequantizer: every element must be the value
// transformers gives the checkpoint's code (lut[code] x 2^(scale-127), codes
// two a byte, element 2j low), and the tensor goes first.
func TestKeepMXFP4(t *testing.T) {
	const e, rows, nb = 2, 3, 2
	blocks := make([]byte, e*rows*nb*16)
	for i := range blocks {
		blocks[i] = byte(i*37 + 11)
	}
	scales := make([]byte, e*rows*nb)
	for i := range scales {
		scales[i] = byte(120 + i%7)
	}
	cfg := map[string]any{"quantization_config": map[string]any{"quant_method": "mxfp4"}}
	other := mk("x.bias", 0, 4)
	out, err := Dequant(cfg, []*tensor.Desc{other, u8("x_blocks", blocks, e, rows, nb, 16), u8("x_scales", scales, e, rows, nb)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[0].Name != "x.weight" || out[1] != other {
		t.Fatalf("outputs %v, want x.weight then x.bias", out)
	}
	w := out[0]
	if w.DType != tensor.MXFP4 || len(w.Shape) != 3 || w.Shape[0] != e || w.Shape[1] != rows || w.Shape[2] != nb*32 {
		t.Fatalf("x.weight %v %v", w.DType, w.Shape)
	}
	got := floats(t, w)
	for i := range got {
		blk, k := i/32, i%32
		code := blocks[blk*16+k/2] >> (4 * (k % 2)) & 0xf
		want := e2m1[code] * float32(math.Ldexp(1, int(scales[blk])-127))
		if got[i] != want {
			t.Fatalf("element %d = %v, want %v (code %d, scale %d)", i, got[i], want, code, scales[blk])
		}
	}
}

func TestKeepMXFP4Errors(t *testing.T) {
	cfg := map[string]any{"quantization_config": map[string]any{"quant_method": "mxfp4"}}
	for _, c := range []struct {
		name string
		ts   []*tensor.Desc
		want string
	}{
		{"no scales", []*tensor.Desc{u8("x_blocks", make([]byte, 32), 2, 1, 16)}, "x_blocks: no x_scales"},
		{"no blocks", []*tensor.Desc{u8("x_scales", make([]byte, 2), 2, 1)}, "x_scales: no x_blocks"},
		{"shapes", []*tensor.Desc{u8("x_blocks", make([]byte, 32), 2, 1, 16), u8("x_scales", make([]byte, 3), 3, 1)}, "want blocks [..., n, 16]"},
		{"dtype", []*tensor.Desc{mk("x_blocks", 0, 2, 1, 16), u8("x_scales", make([]byte, 2), 2, 1)}, "want U8"},
	} {
		_, err := Dequant(cfg, c.ts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		}
	}
}

// TestOutTypeOfMXFP4: MXFP4 tensors keep their type at every output type
// (the converter writes them raw); the file type then says MXFP4_MOE but
// for Q8_0.
func TestOutTypeOfMXFP4(t *testing.T) {
	a, _ := Lookup("gpt-oss")
	d := &tensor.Desc{Name: "blk.0.ffn_up_exps.weight", DType: tensor.MXFP4, Shape: []int64{4, 64, 64}}
	for _, req := range []tensor.DType{tensor.F16, tensor.BF16, tensor.Q8_0, tensor.F32} {
		if got := a.OutTypeOf(d, req); got != tensor.MXFP4 {
			t.Errorf("%v: %v, want MXFP4", req, got)
		}
	}
	bf := &tensor.Desc{Name: "blk.0.ffn_up_exps.weight", DType: tensor.BF16, Shape: []int64{4, 64, 64}}
	if got := a.OutTypeOf(bf, tensor.Q8_0); got != tensor.Q8_0 {
		t.Errorf("BF16 experts at Q8_0: %v", got)
	}
	for ft, want := range map[uint32]uint32{0: 38, 1: 38, 32: 38, 7: 7} {
		if got := mxfp4FileType(ft, []*tensor.Desc{d}); got != want {
			t.Errorf("file type %d: %d, want %d", ft, got, want)
		}
	}
	if got := mxfp4FileType(1, []*tensor.Desc{bf}); got != 1 {
		t.Errorf("no MXFP4 tensor: file type %d, want 1", got)
	}
}

// TestSplitInterleaved: gpt-oss's gate_up_proj [experts, 2 x ff, in] gives
// gate its even rows and up its odd ones per expert (the converter's
// [:, ::2] and [:, 1::2]); the bias [experts, 2 x ff] the same by element.
func TestSplitInterleaved(t *testing.T) {
	a, _ := Lookup("gpt-oss")
	cfg := map[string]any{"num_hidden_layers": 1.0, "num_attention_heads": 4.0, "hidden_size": 8.0,
		"num_local_experts": 2.0, "intermediate_size": 3.0}
	w := mk("model.layers.0.mlp.experts.gate_up_proj.weight", 0, 2, 6, 5)
	b := mk("model.layers.0.mlp.experts.gate_up_proj_bias", 100, 2, 6)
	out, err := a.Remap(cfg, []*tensor.Desc{w, b})
	if err != nil {
		t.Fatal(err)
	}
	m := byName(out)
	for part, off := range map[string]int{"gate": 0, "up": 1} {
		g := m["blk.0.ffn_"+part+"_exps.weight"]
		if g == nil || len(g.Shape) != 3 || g.Shape[0] != 2 || g.Shape[1] != 3 || g.Shape[2] != 5 {
			t.Fatalf("%s weight: %v", part, g)
		}
		got := floats(t, g)
		for x := 0; x < 2; x++ {
			for r := 0; r < 3; r++ {
				for c := 0; c < 5; c++ {
					if want := float32(x*30 + (2*r+off)*5 + c); got[(x*3+r)*5+c] != want {
						t.Errorf("%s[%d][%d][%d] = %v, want %v", part, x, r, c, got[(x*3+r)*5+c], want)
					}
				}
			}
		}
		gb := m["blk.0.ffn_"+part+"_exps.bias"]
		if gb == nil || len(gb.Shape) != 2 || gb.Shape[0] != 2 || gb.Shape[1] != 3 {
			t.Fatalf("%s bias: %v", part, gb)
		}
		got = floats(t, gb)
		for x := 0; x < 2; x++ {
			for r := 0; r < 3; r++ {
				if want := float32(100 + x*6 + 2*r + off); got[x*3+r] != want {
					t.Errorf("%s bias[%d][%d] = %v, want %v", part, x, r, got[x*3+r], want)
				}
			}
		}
	}
	bad := mk("model.layers.0.mlp.experts.gate_up_proj.weight", 0, 2, 5, 5)
	if _, err := a.Remap(cfg, []*tensor.Desc{bad}); err == nil || !strings.Contains(err.Error(), "dealt to 2 parts") {
		t.Errorf("odd rows: %v", err)
	}
}

// FuzzDequantShapes hands the MXFP4 and BitNet readers tensors of any
// shape: each is refused with an error or read whole to its size, never a
// panic.
func FuzzDequantShapes(f *testing.F) {
	f.Add(uint8(0), uint8(2), uint8(3), uint8(2), uint8(16))
	f.Add(uint8(0), uint8(1), uint8(0), uint8(1), uint8(16))
	f.Add(uint8(1), uint8(1), uint8(2), uint8(1), uint8(0))
	f.Add(uint8(1), uint8(0), uint8(3), uint8(2), uint8(0))
	f.Fuzz(func(t *testing.T, method, a, b, c, d uint8) {
		dims := []int64{int64(a % 5), int64(b % 5), int64(c % 5), int64(d % 20)}
		size := func(shape []int64) int64 {
			n := int64(1)
			for _, s := range shape {
				n *= s
			}
			return n
		}
		var cfg map[string]any
		var ts []*tensor.Desc
		if method%2 == 0 {
			cfg = map[string]any{"quantization_config": map[string]any{"quant_method": "mxfp4"}}
			ss := dims[:3]
			if d%3 == 1 {
				ss = []int64{dims[0], dims[1]}
			}
			ts = []*tensor.Desc{u8("x_blocks", make([]byte, size(dims)), dims...), u8("x_scales", make([]byte, size(ss)), ss...)}
		} else {
			cfg = map[string]any{"quantization_config": map[string]any{"quant_method": "bitnet"}}
			ws := dims[:2]
			if d%3 == 1 {
				ws = dims[:3]
			}
			ts = []*tensor.Desc{u8("x.weight", make([]byte, size(ws)), ws...), mk("x.weight_scale", 1, dims[2])}
		}
		out, err := Dequant(cfg, ts)
		if err != nil {
			return
		}
		for _, o := range out {
			b, err := tensor.ReadAll(o)
			if err != nil {
				t.Fatalf("%s %v %v: %v", o.Name, o.DType, o.Shape, err)
			}
			if int64(len(b)) != o.NBytes() {
				t.Fatalf("%s: %d bytes, want %d", o.Name, len(b), o.NBytes())
			}
		}
	})
}
