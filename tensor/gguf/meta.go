package gguf

import (
	"fmt"
	"sort"
)

// ValueType is a GGUF metadata value type, numbered as in the file format.
type ValueType uint32

// The GGUF metadata value types.
const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12
)

var typeNames = map[ValueType]string{
	TypeUint8: "UINT8", TypeInt8: "INT8", TypeUint16: "UINT16", TypeInt16: "INT16",
	TypeUint32: "UINT32", TypeInt32: "INT32", TypeFloat32: "FLOAT32", TypeBool: "BOOL",
	TypeString: "STRING", TypeArray: "ARRAY", TypeUint64: "UINT64", TypeInt64: "INT64",
	TypeFloat64: "FLOAT64",
}

// String is the name gguf-py gives the type.
func (t ValueType) String() string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// Value is one typed metadata value. V holds the Go type matching Type:
// uint8, int8, uint16, int16, uint32, int32, float32, bool, string, uint64,
// int64, float64; for arrays a slice of the element's Go type ([]string,
// []float32, []int32, ...) with Elem naming the element type. Arrays of arrays
// are held as []Value.
type Value struct {
	Type ValueType
	Elem ValueType
	V    any
}

// Constructors for the value types llama.cpp's converter writes most.
func String(s string) Value    { return Value{Type: TypeString, V: s} }
func Uint32(v uint32) Value    { return Value{Type: TypeUint32, V: v} }
func Int32(v int32) Value      { return Value{Type: TypeInt32, V: v} }
func Uint16(v uint16) Value    { return Value{Type: TypeUint16, V: v} }
func Uint64(v uint64) Value    { return Value{Type: TypeUint64, V: v} }
func Float32(v float32) Value  { return Value{Type: TypeFloat32, V: v} }
func Bool(v bool) Value        { return Value{Type: TypeBool, V: v} }
func Strings(v []string) Value { return Value{Type: TypeArray, Elem: TypeString, V: v} }
func Float32s(v []float32) Value {
	return Value{Type: TypeArray, Elem: TypeFloat32, V: v}
}
func Int32s(v []int32) Value { return Value{Type: TypeArray, Elem: TypeInt32, V: v} }

// Len is the element count of an array value, 0 otherwise.
func (v Value) Len() int {
	switch a := v.V.(type) {
	case []string:
		return len(a)
	case []float32:
		return len(a)
	case []int32:
		return len(a)
	case []uint32:
		return len(a)
	case []uint8:
		return len(a)
	case []int8:
		return len(a)
	case []uint16:
		return len(a)
	case []int16:
		return len(a)
	case []uint64:
		return len(a)
	case []int64:
		return len(a)
	case []float64:
		return len(a)
	case []bool:
		return len(a)
	case []Value:
		return len(a)
	}
	return 0
}

// KV is one metadata entry.
type KV struct {
	Key   string
	Value Value
}

// Meta is GGUF metadata in insertion order: the writer emits keys in this
// order, and the converter's order is part of matching its files.
type Meta struct {
	kvs []KV
	idx map[string]int
}

// Set adds key or replaces its value in place.
func (m *Meta) Set(key string, v Value) {
	if m.idx == nil {
		m.idx = map[string]int{}
	}
	if i, ok := m.idx[key]; ok {
		m.kvs[i].Value = v
		return
	}
	m.idx[key] = len(m.kvs)
	m.kvs = append(m.kvs, KV{key, v})
}

// Get returns the value of key.
func (m *Meta) Get(key string) (Value, bool) {
	if m == nil || m.idx == nil {
		return Value{}, false
	}
	i, ok := m.idx[key]
	if !ok {
		return Value{}, false
	}
	return m.kvs[i].Value, true
}

// Delete removes key if present.
func (m *Meta) Delete(key string) {
	i, ok := m.idx[key]
	if !ok {
		return
	}
	m.kvs = append(m.kvs[:i], m.kvs[i+1:]...)
	delete(m.idx, key)
	for j := i; j < len(m.kvs); j++ {
		m.idx[m.kvs[j].Key] = j
	}
}

// All returns the entries in order; the slice must not be modified.
func (m *Meta) All() []KV {
	if m == nil {
		return nil
	}
	return m.kvs
}

// Len is the number of entries.
func (m *Meta) Len() int {
	if m == nil {
		return 0
	}
	return len(m.kvs)
}

// Clone copies the entry list (values are shared; treat them as immutable).
func (m *Meta) Clone() *Meta {
	c := &Meta{}
	for _, kv := range m.All() {
		c.Set(kv.Key, kv.Value)
	}
	return c
}

// Keys returns the keys sorted, for stable listings.
func (m *Meta) Keys() []string {
	out := make([]string, 0, m.Len())
	for _, kv := range m.All() {
		out = append(out, kv.Key)
	}
	sort.Strings(out)
	return out
}

// Uint reads an integer-typed value as uint64.
func (m *Meta) Uint(key string) (uint64, bool) {
	v, ok := m.Get(key)
	if !ok {
		return 0, false
	}
	switch x := v.V.(type) {
	case uint8:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	case uint64:
		return x, true
	case int8:
		return uint64(x), x >= 0
	case int16:
		return uint64(x), x >= 0
	case int32:
		return uint64(x), x >= 0
	case int64:
		return uint64(x), x >= 0
	}
	return 0, false
}

// Str reads a string value.
func (m *Meta) Str(key string) (string, bool) {
	v, ok := m.Get(key)
	if !ok {
		return "", false
	}
	s, ok := v.V.(string)
	return s, ok
}
