package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
)

// scalarSize is the encoded size of a fixed-size value type, 0 for strings,
// arrays and unknown types.
func scalarSize(t ValueType) int {
	switch t {
	case TypeUint8, TypeInt8, TypeBool:
		return 1
	case TypeUint16, TypeInt16:
		return 2
	case TypeUint32, TypeInt32, TypeFloat32:
		return 4
	case TypeUint64, TypeInt64, TypeFloat64:
		return 8
	}
	return 0
}

// minSize is the fewest bytes one value of type t takes: what a count of
// such values is checked against before a slice is made for them.
func minSize(t ValueType) int64 {
	switch t {
	case TypeString:
		return 8
	case TypeArray:
		return 12
	}
	return int64(scalarSize(t))
}

var le = binary.LittleEndian

// decodeScalar turns the encoding of one fixed-size value into its Go value.
func decodeScalar(t ValueType, b []byte) any {
	switch t {
	case TypeUint8:
		return b[0]
	case TypeInt8:
		return int8(b[0])
	case TypeBool:
		return b[0] != 0
	case TypeUint16:
		return le.Uint16(b)
	case TypeInt16:
		return int16(le.Uint16(b))
	case TypeUint32:
		return le.Uint32(b)
	case TypeInt32:
		return int32(le.Uint32(b))
	case TypeFloat32:
		return math.Float32frombits(le.Uint32(b))
	case TypeUint64:
		return le.Uint64(b)
	case TypeInt64:
		return int64(le.Uint64(b))
	case TypeFloat64:
		return math.Float64frombits(le.Uint64(b))
	}
	return nil
}

// readValue reads a value of type t (the type field already consumed).
func (d *decoder) readValue(t ValueType, depth int, what string) (Value, error) {
	if t == TypeArray {
		return d.readArray(depth, what)
	}
	if t == TypeString {
		s, err := d.str(what)
		return Value{Type: TypeString, V: s}, err
	}
	n := scalarSize(t)
	if n == 0 {
		return Value{}, d.fail(d.off-4, ErrFormat, "%s has unknown value type %d (want 0..12)", what, uint32(t))
	}
	b, err := d.next(n, what)
	if err != nil {
		return Value{}, err
	}
	return Value{Type: t, V: decodeScalar(t, b)}, nil
}

// readArray reads an array's element type, count and elements.
func (d *decoder) readArray(depth int, what string) (Value, error) {
	at := d.off
	et, err := d.u32(what + " element type")
	if err != nil {
		return Value{}, err
	}
	elem := ValueType(et)
	if elem != TypeString && elem != TypeArray && scalarSize(elem) == 0 {
		return Value{}, d.fail(at, ErrFormat, "%s has unknown array element type %d (want 0..12)", what, et)
	}
	if elem == TypeArray && depth >= maxArrayDepth {
		return Value{}, d.fail(at, ErrLimit, "%s nests arrays deeper than %d", what, maxArrayDepth)
	}
	n, err := d.count(what+" element count", minSize(elem), maxArrayLen)
	if err != nil {
		return Value{}, err
	}
	v := Value{Type: TypeArray, Elem: elem}
	switch elem {
	case TypeString:
		v.V, err = grow(n, func() (string, error) { return d.str(what + " element") })
	case TypeArray:
		v.V, err = grow(n, func() (Value, error) {
			if _, err := d.u32(what + " element type"); err != nil { // always ARRAY
				return Value{}, err
			}
			return d.readArray(depth+1, what+" element")
		})
	default:
		v.V, err = readScalars(d, elem, n, what)
	}
	return v, err
}

// grow reads n variable-size elements, growing the slice as they arrive so
// that memory follows the bytes actually read, not the declared count.
func grow[T any](n int64, read func() (T, error)) ([]T, error) {
	out := make([]T, 0, min(n, 1024))
	for range n {
		x, err := read()
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return out, nil
}

func readScalars(d *decoder, t ValueType, n int64, what string) (any, error) {
	w := scalarSize(t)
	switch t {
	case TypeUint8:
		return fixed(d, n, w, what, func(b []byte) uint8 { return b[0] })
	case TypeInt8:
		return fixed(d, n, w, what, func(b []byte) int8 { return int8(b[0]) })
	case TypeBool:
		return fixed(d, n, w, what, func(b []byte) bool { return b[0] != 0 })
	case TypeUint16:
		return fixed(d, n, w, what, le.Uint16)
	case TypeInt16:
		return fixed(d, n, w, what, func(b []byte) int16 { return int16(le.Uint16(b)) })
	case TypeUint32:
		return fixed(d, n, w, what, le.Uint32)
	case TypeInt32:
		return fixed(d, n, w, what, func(b []byte) int32 { return int32(le.Uint32(b)) })
	case TypeFloat32:
		return fixed(d, n, w, what, func(b []byte) float32 { return math.Float32frombits(le.Uint32(b)) })
	case TypeUint64:
		return fixed(d, n, w, what, le.Uint64)
	case TypeInt64:
		return fixed(d, n, w, what, func(b []byte) int64 { return int64(le.Uint64(b)) })
	default: // TypeFloat64
		return fixed(d, n, w, what, func(b []byte) float64 { return math.Float64frombits(le.Uint64(b)) })
	}
}

// appendValue encodes v (its type tag included when tagged) the way gguf-py
// packs it, and fails when the Go value does not match the declared type.
func appendValue(b []byte, v Value, tagged bool) ([]byte, error) {
	if tagged {
		b = le.AppendUint32(b, uint32(v.Type))
	}
	if v.Type == TypeArray {
		return appendArray(b, v)
	}
	ok := true
	switch x := v.V.(type) {
	case string:
		ok = v.Type == TypeString
		b = le.AppendUint64(b, uint64(len(x)))
		b = append(b, x...)
	case uint8:
		ok, b = v.Type == TypeUint8, append(b, x)
	case int8:
		ok, b = v.Type == TypeInt8, append(b, byte(x))
	case bool:
		ok, b = v.Type == TypeBool, append(b, boolByte(x))
	case uint16:
		ok, b = v.Type == TypeUint16, le.AppendUint16(b, x)
	case int16:
		ok, b = v.Type == TypeInt16, le.AppendUint16(b, uint16(x))
	case uint32:
		ok, b = v.Type == TypeUint32, le.AppendUint32(b, x)
	case int32:
		ok, b = v.Type == TypeInt32, le.AppendUint32(b, uint32(x))
	case float32:
		ok, b = v.Type == TypeFloat32, le.AppendUint32(b, math.Float32bits(x))
	case uint64:
		ok, b = v.Type == TypeUint64, le.AppendUint64(b, x)
	case int64:
		ok, b = v.Type == TypeInt64, le.AppendUint64(b, uint64(x))
	case float64:
		ok, b = v.Type == TypeFloat64, le.AppendUint64(b, math.Float64bits(x))
	default:
		ok = false
	}
	if !ok {
		return nil, fmt.Errorf("value of type %v holds Go %T", v.Type, v.V)
	}
	return b, nil
}

func boolByte(x bool) byte {
	if x {
		return 1
	}
	return 0
}

// appendArray encodes the element type, count and elements of an array.
func appendArray(b []byte, v Value) ([]byte, error) {
	b = le.AppendUint32(b, uint32(v.Elem))
	if v.Elem == TypeArray {
		subs, ok := v.V.([]Value)
		if !ok {
			return nil, fmt.Errorf("array of arrays holds Go %T, want []gguf.Value", v.V)
		}
		b = le.AppendUint64(b, uint64(len(subs)))
		for i, s := range subs {
			if s.Type != TypeArray {
				return nil, fmt.Errorf("element %d of an array of arrays is %v", i, s.Type)
			}
			var err error
			if b, err = appendValue(b, s, true); err != nil {
				return nil, fmt.Errorf("element %d: %w", i, err)
			}
		}
		return b, nil
	}
	if et, ok := sliceType(v.V); !ok || et != v.Elem {
		return nil, fmt.Errorf("array of %v holds Go %T", v.Elem, v.V)
	}
	b = le.AppendUint64(b, uint64(v.Len()))
	for e := range v.Elems() {
		var err error
		if b, err = appendValue(b, e, false); err != nil {
			return nil, err
		}
	}
	return b, nil
}
