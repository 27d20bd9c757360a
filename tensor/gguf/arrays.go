package gguf

import "iter"

// sliceType names the GGUF element type a Go slice holds, as Value documents
// it; ok is false for anything else.
func sliceType(v any) (t ValueType, ok bool) {
	switch v.(type) {
	case []uint8:
		return TypeUint8, true
	case []int8:
		return TypeInt8, true
	case []bool:
		return TypeBool, true
	case []uint16:
		return TypeUint16, true
	case []int16:
		return TypeInt16, true
	case []uint32:
		return TypeUint32, true
	case []int32:
		return TypeInt32, true
	case []float32:
		return TypeFloat32, true
	case []uint64:
		return TypeUint64, true
	case []int64:
		return TypeInt64, true
	case []float64:
		return TypeFloat64, true
	case []string:
		return TypeString, true
	case []Value:
		return TypeArray, true
	}
	return 0, false
}

// Elems yields the elements of an array value, each as a Value of the
// element type (nothing for a non-array), so that code walking metadata need
// not switch over every slice type.
func (v Value) Elems() iter.Seq[Value] {
	return func(yield func(Value) bool) {
		switch a := v.V.(type) {
		case []uint8:
			each(a, v.Elem, yield)
		case []int8:
			each(a, v.Elem, yield)
		case []bool:
			each(a, v.Elem, yield)
		case []uint16:
			each(a, v.Elem, yield)
		case []int16:
			each(a, v.Elem, yield)
		case []uint32:
			each(a, v.Elem, yield)
		case []int32:
			each(a, v.Elem, yield)
		case []float32:
			each(a, v.Elem, yield)
		case []uint64:
			each(a, v.Elem, yield)
		case []int64:
			each(a, v.Elem, yield)
		case []float64:
			each(a, v.Elem, yield)
		case []string:
			each(a, v.Elem, yield)
		case []Value:
			for _, x := range a {
				if !yield(x) {
					return
				}
			}
		}
	}
}

func each[T any](a []T, t ValueType, yield func(Value) bool) {
	for _, x := range a {
		if !yield(Value{Type: t, V: x}) {
			return
		}
	}
}
