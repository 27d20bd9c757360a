package arch

import (
	"encoding/binary"
	"reflect"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// fp8Weight is a 4x6 float8_e4m3 tensor holding bytes 0x30..0x47.
func fp8Weight() *tensor.Desc {
	b := make([]byte, 24)
	for i := range b {
		b[i] = byte(0x30 + i)
	}
	d := &tensor.Desc{Name: "l.weight", DType: tensor.F8E4M3, Shape: []int64{4, 6}}
	d.Src = &tensor.Bytes{Data: b, RowBytes: 6, What: "l.weight"}
	return d
}

func ctCfg(format string, weights map[string]any) map[string]any {
	return map[string]any{"quant_method": "compressed-tensors", "format": format,
		"config_groups": map[string]any{"group_0": map[string]any{"weights": weights}}}
}

// TestDequantPerChannel: compressed-tensors' channel strategy scales each
// row by its own weight_scale ([rows, 1]); input scales stay (the converter
// leaves them too).
func TestDequantPerChannel(t *testing.T) {
	w := fp8Weight()
	out, err := Dequant(fp8Cfg(ctCfg("float-quantized", map[string]any{"strategy": "channel", "type": "float", "num_bits": 8.0})),
		[]*tensor.Desc{w, mk("l.weight_scale", 1, 4, 1), mk("l.input_scale", 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[0].Name != "l.weight" || out[1].Name != "l.input_scale" {
		t.Fatalf("outputs %v", out)
	}
	got, in := floats(t, out[0]), floats(t, w)
	for r := 0; r < 4; r++ {
		for c := 0; c < 6; c++ {
			if want := in[r*6+c] * float32(1+r); got[r*6+c] != want {
				t.Errorf("(%d,%d) = %v, want %v", r, c, got[r*6+c], want)
			}
		}
	}
}

func fp8Cfg(qc map[string]any) map[string]any { return map[string]any{"quantization_config": qc} }

// TestDequantFP8 checks the block lookup of each element's scale with scales
// that are powers of two (exact whatever the order of operations): element
// (r, c) of a 4x6 weight with 2x4 blocks takes scale[r/2][c/4]. The bytes are
// checked against the converter in conformance (testdata/arch/qwen3-fp8).
func TestDequantFP8(t *testing.T) {
	w := fp8Weight()
	s := mk("l.weight_scale_inv", 0, 2, 2) // 0, 1, 2, 3
	out, err := Dequant(fp8Cfg(map[string]any{"quant_method": "fp8", "weight_block_size": []any{2.0, 4.0}}),
		[]*tensor.Desc{w, s, mk("l.activation_scale", 0, 1), mk("n.weight", 7, 3)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 2 || out[0].Name != "l.weight" || out[0].DType != tensor.F32 || out[1].Name != "n.weight" {
		t.Fatalf("outputs %v", out)
	}
	got, in := floats(t, out[0]), floats(t, w)
	for r := 0; r < 4; r++ {
		for c := 0; c < 6; c++ {
			if want := in[r*6+c] * float32((r/2)*2+c/4); got[r*6+c] != want {
				t.Errorf("(%d,%d) = %v, want %v", r, c, got[r*6+c], want)
			}
		}
	}
}

func TestDequantErrors(t *testing.T) {
	w := fp8Weight()
	for _, c := range []struct {
		name string
		qc   map[string]any
		ts   []*tensor.Desc
		want string
	}{
		{"awq", map[string]any{"quant_method": "awq"}, nil, `quant_method "awq": quantized checkpoints of this method cannot be read yet (supported: fp8, compressed-tensors, gptq, mxfp4, bitnet)`},
		{"bad block", map[string]any{"quant_method": "fp8", "weight_block_size": []any{2.0}}, nil, "weight_block_size [2]: want two block sizes"},
		{"scale shape", map[string]any{"quant_method": "fp8", "weight_block_size": []any{2.0, 4.0}},
			[]*tensor.Desc{w, mk("l.weight_scale_inv", 0, 2, 1)}, "l.weight_scale_inv: shape [2 1], want [2 2] (one scale per 2x4 block of l.weight [4 6])"},
		{"orphan scale", map[string]any{"quant_method": "fp8"}, []*tensor.Desc{mk("x.weight_scale_inv", 0, 1)}, "x.weight_scale_inv: no weight x.weight beside it"},
		{"scale shape without block", map[string]any{"quant_method": "fp8"}, []*tensor.Desc{w, mk("l.weight_scale_inv", 0, 3)}, "shape [3] without a block size: want one scale for l.weight or one per row ([4] or [4 1])"},
		{"ct format", ctCfg("nvfp4-pack-quantized", map[string]any{"strategy": "group"}), nil, `compressed-tensors format "nvfp4-pack-quantized" cannot be read yet`},
		{"ct group size", ctCfg("float-quantized", map[string]any{"strategy": "group", "group_size": 128.0}), nil, "weights.group_size 128 cannot be read yet"},
		{"ct strategy", ctCfg("int-quantized", map[string]any{"strategy": "tensor"}), nil, "weights.strategy tensor cannot be read yet"},
		{"ct block", ctCfg("float-quantized", map[string]any{"strategy": "block"}), nil, "block_structure: missing for the block strategy"},
		{"ct groups", map[string]any{"quant_method": "compressed-tensors", "format": "float-quantized", "config_groups": map[string]any{}}, nil, "0 groups, want one"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Dequant(fp8Cfg(c.qc), c.ts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
		})
	}
	// no quantization_config: the tensors as they are
	ts := []*tensor.Desc{w}
	if out, err := Dequant(map[string]any{}, ts); err != nil || len(out) != 1 || out[0] != w {
		t.Fatalf("%v %v", out, err)
	}
}

func i32(name string, shape []int64, vals ...int32) *tensor.Desc {
	d := &tensor.Desc{Name: name, DType: tensor.I32, Shape: shape}
	b := make([]byte, 4*d.Elems())
	for i := range vals {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(vals[i]))
	}
	d.Src = &tensor.Bytes{Data: b, RowBytes: d.RowBytes(), What: name}
	return d
}

func TestDequantGPTQErrors(t *testing.T) {
	gptq := func(extra map[string]any) map[string]any {
		qc := map[string]any{"quant_method": "gptq", "bits": 4.0}
		for k, v := range extra {
			qc[k] = v
		}
		return fp8Cfg(qc)
	}
	// 8 inputs packed in one int32 row, 8 outputs, one group
	good := func() []*tensor.Desc {
		return []*tensor.Desc{i32("l.qweight", []int64{1, 8}), i32("l.qzeros", []int64{1, 1}), mk("l.scales", 1, 1, 8), i32("l.g_idx", []int64{8})}
	}
	if out, err := Dequant(gptq(nil), good()); err != nil || len(out) != 1 || out[0].Name != "l.weight" || !reflect.DeepEqual(out[0].Shape, []int64{8, 8}) {
		t.Fatalf("%v %v", out, err)
	}
	badGidx := good()
	badGidx[3] = i32("l.g_idx", []int64{8}, 0, 0, 1)
	out, err := Dequant(gptq(nil), badGidx)
	if err == nil {
		_, err = tensor.ReadAll(out[0])
	}
	if err == nil || !strings.Contains(err.Error(), "l.g_idx[2] = 1: want a group below 1") {
		t.Errorf("g_idx out of range: %v", err)
	}
	for _, c := range []struct {
		name string
		cfg  map[string]any
		ts   []*tensor.Desc
		want string
	}{
		{"3 bits", gptq(map[string]any{"bits": 3.0}), good(), "3-bit is not supported"},
		{"format", gptq(map[string]any{"checkpoint_format": "marlin"}), good(), `checkpoint_format "marlin": want gptq or gptq_v2`},
		{"missing", gptq(nil), good()[:3], "l.qweight: no l.g_idx beside it"},
		{"scales", gptq(nil), append(good()[:2], mk("l.scales", 1, 1, 4), good()[3]), "l.scales: shape [1 4], want [groups 8]"},
		{"dtype", gptq(nil), append(good()[:3], mk("l.g_idx", 0, 8)), "want I32"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Dequant(c.cfg, c.ts); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
		})
	}
}

func TestDequantPackedErrors(t *testing.T) {
	packed := func(weights map[string]any) map[string]any {
		return fp8Cfg(ctCfg("pack-quantized", weights))
	}
	w4 := map[string]any{"strategy": "group", "type": "int", "num_bits": 4.0, "group_size": 32.0}
	shape := i32("l.weight_shape", []int64{2}, 2, 64)
	for _, c := range []struct {
		name string
		cfg  map[string]any
		ts   []*tensor.Desc
		want string
	}{
		{"strategy", packed(map[string]any{"strategy": "channel", "num_bits": 4.0, "group_size": 32.0}), nil, "strategy channel and type <nil> cannot be read (group, int)"},
		{"bits", packed(map[string]any{"strategy": "group", "num_bits": 3.0, "group_size": 32.0}), nil, "want bits dividing 32"},
		{"no shape", packed(w4), []*tensor.Desc{i32("l.weight_packed", []int64{2, 8}), mk("l.weight_scale", 1, 2, 2)}, "l.weight_packed: no l.weight_shape beside it"},
		{"packed shape", packed(w4), []*tensor.Desc{i32("l.weight_packed", []int64{2, 4}), mk("l.weight_scale", 1, 2, 2), shape}, "l.weight_packed: I32 [2 4], want I32 [2 8] (64 columns, 8 to an int32)"},
		{"scale shape", packed(w4), []*tensor.Desc{i32("l.weight_packed", []int64{2, 8}), mk("l.weight_scale", 1, 2, 1), shape}, "l.weight_scale: F32 [2 1], want [2 2]"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := Dequant(c.cfg, c.ts); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
		})
	}
	out, err := Dequant(packed(w4), []*tensor.Desc{i32("l.weight_packed", []int64{2, 8}), mk("l.weight_scale", 1, 2, 2), shape, mk("n.weight", 0, 2)})
	if err != nil || len(out) != 2 || out[0].Name != "n.weight" || out[1].Name != "l.weight" || !reflect.DeepEqual(out[1].Shape, []int64{2, 64}) {
		t.Fatalf("%v %v", out, err)
	}
}
