package torch

import (
	"math"
	"reflect"
	"testing"
)

// TestUnpickleValues checks the machine's opcodes one by one against values
// worked out from the pickle specification (PEP 307, 3154, 574).
func TestUnpickleValues(t *testing.T) {
	od := func(p *pk) *pk { return p.global("collections", "OrderedDict") }
	tests := []struct {
		name string
		pkl  []byte
		want any
	}{
		{"BININT negative", newPK(2).op('J', 0xfe, 0xff, 0xff, 0xff, '.').Bytes(), int64(-2)},
		{"BININT1 and BININT2", newPK(2).op('K', 0xff, 'M', 0x01, 0x02, 0x86, '.').Bytes(), tuple{int64(255), int64(0x0201)}},
		{"LONG1 negative", newPK(2).op(0x8a, 2, 0x00, 0xff, '.').Bytes(), int64(-256)},
		{"LONG1 zero length", newPK(2).op(0x8a, 0, '.').Bytes(), int64(0)},
		{"LONG1 eight bytes", newPK(2).op(0x8a, 8, 0, 0, 0, 0, 0, 0, 0, 0x80, '.').Bytes(), int64(math.MinInt64)},
		{"LONG4", newPK(2).op(0x8b, 1, 0, 0, 0, 0x7f, '.').Bytes(), int64(127)},
		{"text INT, LONG, bools", newPK(0).op([]byte("(I-7\nL12345678901L\nI01\nI00\nt.")...).Bytes(), tuple{int64(-7), int64(12345678901), true, false}},
		{"FLOAT and BINFLOAT", newPK(2).op([]byte("F0.5\n")...).op('G', 0xc0, 0, 0, 0, 0, 0, 0, 0, 0x86, '.').Bytes(), tuple{0.5, -2.0}},
		{"NONE, NEWTRUE, NEWFALSE", newPK(2).op('N', 0x88, 0x89, 0x87, '.').Bytes(), tuple{nil, true, false}},
		{"strings and bytes", newPK(3).op(0x8c, 2, 'h', 'i', 'U', 1, 'a', 'C', 2, 0, 1, 0x87, '.').Bytes(), tuple{"hi", "a", []byte{0, 1}}},
		{"bytes via _codecs.encode", newPK(2).global("_codecs", "encode").str("\u00ff\u0001").str("latin1").op(0x86, 'R', '.').Bytes(), []byte{0xff, 0x01}},
		{"memo at 2^32-1", newPK(2).str("x").op('r', 0xff, 0xff, 0xff, 0xff, '0', 'j', 0xff, 0xff, 0xff, 0xff, '.').Bytes(), "x"},
		{"text PUT and GET", newPK(0).str("y").op([]byte("p7\n0g7\n.")...).Bytes(), "y"},
		{"MEMOIZE counts entries", newPK(4).str("a").op(0x94).str("b").op(0x94, '0', '0', 'h', 1, '.').Bytes(), "b"},
		{"DUP and POP_MARK", newPK(2).str("z").op('2', '(', 'N', 'N', '1', 0x86, '.').Bytes(), tuple{"z", "z"}},
		{"list APPEND and APPENDS", newPK(2).op(']', 'K', 1, 'a', '(', 'K', 2, 'K', 3, 'e', '.').Bytes(), &list{items: []any{int64(1), int64(2), int64(3)}}},
		{"LIST", newPK(0).op('(', 'N', 'l', '.').Bytes(), &list{items: []any{nil}}},
		{"empty TUPLE", newPK(0).op('(', 't', '.').Bytes(), tuple{}},
		{"dict keeps the last of equal keys in first place", newPK(2).op('}', '(').str("a").op('K', 1).str("b").op('K', 2).str("a").op('K', 3, 'u', '.').Bytes(),
			&dict{keys: []any{"a", "b"}, vals: []any{int64(3), int64(2)}, index: map[any]int{"a": 0, "b": 1}}},
		{"DICT and SETITEM", newPK(0).op('(').str("k").op('N', 'd').str("j").op(0x88, 's', '.').Bytes(),
			&dict{keys: []any{"k", "j"}, vals: []any{nil, true}, index: map[any]int{"k": 0, "j": 1}}},
		{"bytes and str keys differ", newPK(3).op('}', 'C', 1, 'a', 'K', 1, 's').str("a").op('K', 2, 's', '.').Bytes(),
			&dict{keys: []any{[]byte("a"), "a"}, vals: []any{int64(1), int64(2)}, index: map[any]int{bytesKey("a"): 0, "a": 1}}},
		{"sets", newPK(4).op(0x8f, '(', 'K', 1, 0x90, '(', 'K', 2, 0x91, 0x86, '.').Bytes(), tuple{&list{items: []any{int64(1)}}, tuple{int64(2)}}},
		{"OrderedDict by NEWOBJ", od(newPK(2)).op(')', 0x81, '.').Bytes(), &dict{}},
		{"OrderedDict by NEWOBJ_EX", od(newPK(4)).op(')', '}', 0x92, '.').Bytes(), &dict{}},
		{"OrderedDict by OBJ", od(newPK(2).op('(')).op('o', '.').Bytes(), &dict{}},
		{"OrderedDict by INST", newPK(0).op('(', 'i').op([]byte("collections\nOrderedDict\n.")...).Bytes(), &dict{}},
		{"FRAME is transparent", newPK(4).op(0x95, 2, 0, 0, 0, 0, 0, 0, 0, 'N', '.').Bytes(), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := unpickle(tc.pkl, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}
