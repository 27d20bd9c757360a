package gguf

import (
	"bytes"
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// TestValueTypes writes one key of every value type, arrays of every element
// type and an array of arrays, and reads them back unchanged.
func TestValueTypes(t *testing.T) {
	m := &Meta{}
	vals := []Value{
		{Type: TypeUint8, V: uint8(200)}, {Type: TypeInt8, V: int8(-100)},
		{Type: TypeUint16, V: uint16(60000)}, {Type: TypeInt16, V: int16(-30000)},
		{Type: TypeUint32, V: uint32(4e9)}, {Type: TypeInt32, V: int32(-2e9)},
		{Type: TypeFloat32, V: float32(-0.1)}, {Type: TypeBool, V: true},
		{Type: TypeString, V: "héllo\x00"}, {Type: TypeUint64, V: uint64(math.MaxUint64)},
		{Type: TypeInt64, V: int64(math.MinInt64)}, {Type: TypeFloat64, V: math.Copysign(0, -1)},
		{Type: TypeArray, Elem: TypeUint8, V: []uint8{1, 2}}, {Type: TypeArray, Elem: TypeInt8, V: []int8{-1}},
		{Type: TypeArray, Elem: TypeUint16, V: []uint16{1}}, {Type: TypeArray, Elem: TypeInt16, V: []int16{-1}},
		{Type: TypeArray, Elem: TypeUint32, V: []uint32{1}}, {Type: TypeArray, Elem: TypeInt32, V: []int32{}},
		{Type: TypeArray, Elem: TypeFloat32, V: []float32{1.5}}, {Type: TypeArray, Elem: TypeBool, V: []bool{true, false}},
		{Type: TypeArray, Elem: TypeString, V: []string{"", "a"}}, {Type: TypeArray, Elem: TypeUint64, V: []uint64{1}},
		{Type: TypeArray, Elem: TypeInt64, V: []int64{-1}}, {Type: TypeArray, Elem: TypeFloat64, V: []float64{2.5}},
		{Type: TypeArray, Elem: TypeArray, V: []Value{Strings([]string{"x"}), {Type: TypeArray, Elem: TypeArray, V: []Value{Int32s([]int32{7})}}}},
	}
	for i, v := range vals {
		m.Set(string(rune('a'+i)), v)
	}
	f := mustParse(t, build(t, m))
	for i, kv := range f.Meta.All() {
		if !reflect.DeepEqual(kv.Value, vals[i]) {
			t.Errorf("key %s: read %#v, wrote %#v", kv.Key, kv.Value, vals[i])
		}
	}
}

// TestVersion2 reads a v2 header, which has v3's layout.
func TestVersion2(t *testing.T) {
	data := raw("GGUF").u32(2).u64(1).u64(1).kvU32("k", 7).ti("t", 0, 0, 8).alignTo().zeros(32)
	f := mustParse(t, data)
	if f.Version != 2 || len(f.Tensors) != 1 || f.DataOffset != 96 {
		t.Errorf("version %d, %d tensors, data at %d; want 2, 1, 96", f.Version, len(f.Tensors), f.DataOffset)
	}
}

// TestLayoutOffsets checks offsets and padding against hand-computed values:
// a 24-byte header, no keys, two infos, data aligned to 64.
func TestLayoutOffsets(t *testing.T) {
	m := &Meta{}
	m.Set(KeyAlignment, Uint32(64))
	a, b := f32Tensor("a", 0, 3), f32Tensor("b", 0, 2, 2)
	prefix, offs, size, err := Layout(m, []*tensor.Desc{a, b}, 0)
	if err != nil {
		t.Fatal(err)
	}
	// header 24 + key (8+17 name, 4 type, 4 value) 33 + infos (8+1+4+8+4+8) 33 and (8+1+4+16+4+8) 41 = 131 -> 192
	want := []int64{192, 256}
	if len(prefix) != 192 || !reflect.DeepEqual(offs, want) || size != 320 {
		t.Errorf("prefix %d bytes, offsets %v, size %d; want 192, %v, 320", len(prefix), offs, size, want)
	}
	if !bytes.Equal(prefix[131:], make([]byte, 61)) {
		t.Errorf("padding is not zeros")
	}
}

func TestLayoutErrors(t *testing.T) {
	ok := func() *Meta { return &Meta{} }
	tests := []struct {
		name    string
		meta    *Meta
		tensors []*tensor.Desc
		align   int64
		want    string
	}{
		{"value type mismatch", func() *Meta { m := ok(); m.Set("k", Value{Type: TypeUint32, V: int32(1)}); return m }(), nil, 0, `key "k": value of type UINT32 holds Go int32`},
		{"array type mismatch", func() *Meta { m := ok(); m.Set("k", Value{Type: TypeArray, Elem: TypeInt32, V: []uint32{}}); return m }(), nil, 0, "array of INT32 holds Go []uint32"},
		{"alignment disagrees", func() *Meta { m := ok(); m.Set(KeyAlignment, Uint32(64)); return m }(), nil, 32, "disagrees"},
		{"alignment not UINT32", func() *Meta { m := ok(); m.Set(KeyAlignment, Uint64(64)); return m }(), nil, 0, "must be a UINT32"},
		{"alignment not a power of 2", ok(), nil, 24, "not a power of 2"},
		{"name too long", ok(), []*tensor.Desc{f32Tensor(strings.Repeat("x", 64), 0, 1)}, 0, "at most 63"},
		{"duplicate name", ok(), []*tensor.Desc{f32Tensor("x", 0, 1), f32Tensor("x", 0, 1)}, 0, `duplicate tensor name "x"`},
		{"5 dims", ok(), []*tensor.Desc{f32Tensor("x", 0, 1, 1, 1, 1, 1)}, 0, "5 dimensions"},
		{"no ggml type", ok(), []*tensor.Desc{{Name: "x", DType: tensor.Bool, Shape: []int64{1}}}, 0, "no ggml type"},
		{"partial block", ok(), []*tensor.Desc{{Name: "x", DType: tensor.Q4_0, Shape: []int64{33}}}, 0, "multiple of 32"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, _, err := Layout(tc.meta, tc.tensors, tc.align)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one mentioning %q", err, tc.want)
			}
		})
	}
}
