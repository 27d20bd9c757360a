package torch

import (
	"archive/zip"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// want is one expected tensor of a hand-built checkpoint.
type want struct {
	name  string
	dtype tensor.DType
	shape []int64
	data  []byte
}

func TestReaderLayouts(t *testing.T) {
	six := f32s(0, 1, 2, 3, 4, 5)
	tied := stateDict(
		tspec{"embed.weight", "FloatStorage", "0", 6, 0, []int32{2, 3}, []int32{3, 1}},
		tspec{"lm_head.weight", "FloatStorage", "0", 6, 0, []int32{2, 3}, []int32{3, 1}},
		tspec{"tail", "FloatStorage", "0", 6, 4, []int32{2}, []int32{1}},
	)
	// A transposed view saved as is: logical [3,2] over the [2,3] storage.
	transposed := stateDict(tspec{"t", "FloatStorage", "0", 6, 0, []int32{3, 2}, []int32{1, 3}})
	// Size-1 dimensions may carry any stride and are still contiguous.
	size1 := stateDict(tspec{"b", "FloatStorage", "0", 6, 3, []int32{1, 3}, []int32{99, 1}})
	// torch 2.x: float8 goes through UntypedStorage + dtype and _rebuild_tensor_v3.
	v3 := newPK(2).op('}').str("f8").global("torch._utils", "_rebuild_tensor_v3").op('(')
	v3.op('(').str("storage").global("torch", "UntypedStorage").str("0").str("cpu").int(4).op('t', 'Q')
	v3.int(1).ints(3).ints(1).op(0x89).global("collections", "OrderedDict").op(')', 'R')
	v3.global("torch", "float8_e4m3fn").op('t', 'R', 's', '.')
	// nn.Parameter wraps the tensor in _rebuild_parameter; model.state_dict()
	// is an OrderedDict whose _metadata arrives through BUILD; training
	// checkpoints nest the state dict next to plain values.
	param := newPK(2).global("collections", "OrderedDict").op(')', 'R')
	param.op('(').str("w").global("torch._utils", "_rebuild_parameter").op('(')
	param.tensorV2(tspec{"", "HalfStorage", "k", 2, 0, []int32{2}, []int32{1}})
	param.op(0x88).global("collections", "OrderedDict").op(')', 'R', 't', 'R', 'u')
	param.op('}').str("_metadata").op('}', 's', 'b', '.')
	nested := newPK(2).op('}', '(').str("epoch").int(3).str("state_dict").op('}', '(')
	nested.str("x").tensorV2(tspec{"", "BFloat16Storage", "0", 2, 0, []int32{2}, []int32{1}})
	nested.op('u', 'u', '.')
	// Protocol 4: FRAME, STACK_GLOBAL, MEMOIZE, SHORT_BINUNICODE.
	p4 := newPK(4).op(0x95, 0, 0, 0, 0, 0, 0, 0, 0).op('}', 0x94, '(')
	p4.op(0x8c, 1, 'a').stackGlobal("torch._utils", "_rebuild_tensor_v2").op(0x94, '(')
	p4.op('(').str("storage").stackGlobal("torch", "LongStorage").str("s").str("cpu").int(1).op('t', 'Q')
	p4.int(0).op(')', ')', 0x89).stackGlobal("collections", "OrderedDict").op(')', 'R', 't', 'R')
	p4.op(0x8c, 1, 'b').op('h', 1).op('(', '(').str("storage").stackGlobal("torch", "LongStorage").str("s").str("cpu").int(1).op('t', 'Q')
	p4.int(0).op(')', ')', 0x89, '}', 't', 'R', 'u', '.')
	long := []byte{1, 0, 0, 0, 0, 0, 0, 0}
	// A tensor with Python attributes goes through _rebuild_from_type_v2.
	typed := newPK(2).op('}').str("s").global("torch._tensor", "_rebuild_from_type_v2").op('(')
	typed.global("torch._utils", "_rebuild_tensor_v2").global("torch", "Tensor").op('(')
	typed.op('(').str("storage").global("torch", "CharStorage").str("0").str("cpu").int(3).op('t', 'Q')
	typed.int(1).ints(2).ints(1).op(0x89).op('}', 't')
	typed.op('}').str("tag").str("x").op('s', 't', 'R', 's', '.')

	tests := []struct {
		name     string
		pkl      []byte
		storages map[string][]byte
		want     []want
	}{
		{"tied weights share a storage", tied, map[string][]byte{"0": six}, []want{
			{"embed.weight", tensor.F32, []int64{2, 3}, six},
			{"lm_head.weight", tensor.F32, []int64{2, 3}, six},
			{"tail", tensor.F32, []int64{2}, f32s(4, 5)},
		}},
		{"transposed view", transposed, map[string][]byte{"0": six}, []want{
			{"t", tensor.F32, []int64{3, 2}, f32s(0, 3, 1, 4, 2, 5)},
		}},
		{"size-1 dimension", size1, map[string][]byte{"0": six}, []want{
			{"b", tensor.F32, []int64{1, 3}, f32s(3, 4, 5)},
		}},
		{"float8 via rebuild_tensor_v3", v3.Bytes(), map[string][]byte{"0": {9, 8, 7, 6}}, []want{
			{"f8", tensor.F8E4M3, []int64{3}, []byte{8, 7, 6}},
		}},
		{"parameter in OrderedDict with metadata", param.Bytes(), map[string][]byte{"k": {1, 2, 3, 4}}, []want{
			{"w", tensor.F16, []int64{2}, []byte{1, 2, 3, 4}},
		}},
		{"nested state dict", nested.Bytes(), map[string][]byte{"0": {5, 6, 7, 8}}, []want{
			{"state_dict.x", tensor.BF16, []int64{2}, []byte{5, 6, 7, 8}},
		}},
		{"tensor with Python state", typed.Bytes(), map[string][]byte{"0": {1, 2, 3}}, []want{
			{"s", tensor.I8, []int64{2}, []byte{2, 3}},
		}},
		{"protocol 4 scalars", p4.Bytes(), map[string][]byte{"s": long}, []want{
			{"a", tensor.I64, []int64{}, long},
			{"b", tensor.I64, []int64{}, long},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var keys []string
			for k := range tc.storages {
				keys = append(keys, k)
			}
			z := torchZip(t, tc.pkl, tc.storages, keys...)
			f, err := NewReader(bytes.NewReader(z), int64(len(z)), "test.pt")
			if err != nil {
				t.Fatal(err)
			}
			if len(f.Tensors) != len(tc.want) {
				t.Fatalf("got %d tensors %v, want %d", len(f.Tensors), f.Tensors, len(tc.want))
			}
			for i, w := range tc.want {
				d := f.Tensors[i]
				if d.Name != w.name || d.DType != w.dtype || !slices.Equal(d.Shape, w.shape) {
					t.Errorf("tensor %d: got %v, want %s %v %v", i, d, w.name, w.dtype, w.shape)
					continue
				}
				got, err := tensor.ReadAll(d)
				if err != nil {
					t.Errorf("%s: %v", w.name, err)
				} else if !bytes.Equal(got, w.data) {
					t.Errorf("%s: data % x, want % x", w.name, got, w.data)
				}
			}
		})
	}
}

// TestStridedRows reads a permuted 3-D view row block by row block and
// checks each element against its storage index computed from the strides.
func TestStridedRows(t *testing.T) {
	var vals []float32
	for i := range 12 {
		vals = append(vals, float32(i))
	}
	// permute(0, 2, 1) of a contiguous [2,3,2]: size [2,2,3], stride [6,1,2].
	pkl := stateDict(tspec{"p", "FloatStorage", "0", 12, 0, []int32{2, 2, 3}, []int32{6, 1, 2}})
	z := torchZip(t, pkl, map[string][]byte{"0": f32s(vals...)}, "0")
	f, err := NewReader(bytes.NewReader(z), int64(len(z)), "p.pt")
	if err != nil {
		t.Fatal(err)
	}
	src := f.Tensors[0].Src
	for _, rows := range [][2]int64{{0, 4}, {1, 2}, {3, 1}} {
		dst := make([]byte, rows[1]*12)
		if err := src.ReadRows(rows[0], rows[1], dst); err != nil {
			t.Fatal(err)
		}
		var want []float32
		for r := rows[0]; r < rows[0]+rows[1]; r++ {
			a, b := r/2, r%2
			for c := int64(0); c < 3; c++ {
				want = append(want, float32(6*a+b+2*c))
			}
		}
		if !bytes.Equal(dst, f32s(want...)) {
			t.Errorf("rows %v: got % x, want %v", rows, dst, want)
		}
	}
	if err := src.ReadRows(3, 2, make([]byte, 24)); err == nil {
		t.Error("rows [3,5) of 4: accepted")
	}
}

// TestDeflatedPickle: torch.save stores everything, but a re-zipped
// checkpoint may compress data.pkl, which is read through the zip reader.
func TestDeflatedPickle(t *testing.T) {
	var buf bytes.Buffer
	zw := zipWriter(&buf)
	addEntry(t, zw, &zip.FileHeader{Name: "m/data.pkl", Method: zip.Deflate}, stateDict(tspec{"w", "IntStorage", "0", 1, 0, []int32{1}, []int32{1}}))
	addEntry(t, zw, &zip.FileHeader{Name: "m/data/0", Method: zip.Store}, []byte{7, 0, 0, 0})
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()), "m.pt")
	if err != nil {
		t.Fatal(err)
	}
	got, err := tensor.ReadAll(f.Tensors[0])
	if err != nil || !bytes.Equal(got, []byte{7, 0, 0, 0}) || f.Tensors[0].DType != tensor.I32 {
		t.Fatalf("got %v % x, %v", f.Tensors[0], got, err)
	}
}

func TestOpen(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.pt")
	legacy := filepath.Join(dir, "legacy.pt")
	for path, data := range map[string][]byte{
		good:   torchZip(t, stateDict(tspec{"w", "ByteStorage", "0", 2, 0, []int32{2}, []int32{1}}), map[string][]byte{"0": {1, 2}}, "0"),
		legacy: {0x80, 2, 0x8a, 0x0a},
	} {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, c, err := Open(good)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := tensor.ReadAll(f.Tensors[0]); err != nil || !bytes.Equal(got, []byte{1, 2}) || f.Name != good {
		t.Errorf("got %q % x, %v", f.Name, got, err)
	}
	if d := f.Tensors[0].Src.Describe(); d != good+":w" {
		t.Errorf("Describe() = %q", d)
	}
	c.Close()
	if _, _, err := Open(legacy); !errors.Is(err, ErrLegacyFormat) || !strings.HasPrefix(err.Error(), legacy+": ") {
		t.Errorf("legacy: %v", err)
	}
	if _, _, err := Open(filepath.Join(dir, "missing.pt")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
}
