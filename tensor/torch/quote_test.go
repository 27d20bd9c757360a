package torch

import (
	"bytes"
	"strings"
	"testing"
)

// nestedOffset is a state dict whose one tensor has a storage_offset built
// by the pickle, not an int: the rebuilder must refuse it and say what it is.
func nestedOffset(offset func(p *pk)) []byte {
	p := newPK(2).op('}').str("w")
	p.global("torch._utils", "_rebuild_tensor_v2").op('(')
	p.op('(').str("storage").global("torch", "FloatStorage").str("0").str("cpu").int(1).op('t', 'Q')
	offset(p)
	p.ints(1).ints(1)
	p.op(0x89).global("collections", "OrderedDict").op(')', 'R')
	return p.op('t', 'R', 's', '.').Bytes()
}

// TestPickleValuesInErrorsBounded checks that a value quoted in an error is
// cut short however deep or long it is: a 1.2M-deep tuple crashed the
// formatting of the error, a 60,000-item tuple made a 660 KB line.
func TestPickleValuesInErrorsBounded(t *testing.T) {
	for _, tc := range []struct {
		name   string
		offset func(p *pk)
		want   string
	}{
		{"1.2M nested tuples", func(p *pk) {
			p.op('N')
			p.Write(bytes.Repeat([]byte{0x85}, 1_200_000)) // TUPLE1 around the top, again and again
		}, "storage_offset is ((((...,),),),), not a non-negative int"},
		{"60,000 items", func(p *pk) {
			p.op('(')
			p.Write(bytes.Repeat([]byte{'N'}, 60_000))
			p.op('t')
		}, "storage_offset is (None, None, None, None, None, None, None, None, None, None, None, None, None, None, None, None, ...), not a non-negative int"},
		{"long string", func(p *pk) { p.str(strings.Repeat("ab", 50_000)) },
			`storage_offset is "` + strings.Repeat("ab", 30) + `...", not a non-negative int`},
		{"self-containing list", func(p *pk) { p.op(']', 'q', 7, 'h', 7, 'a') },
			"storage_offset is [[[[...]]]], not a non-negative int"},
		{"negative int", func(p *pk) { p.int(-3) }, "storage_offset is -3, not a non-negative int"},
		{"mixed", func(p *pk) {
			p.op('(').op(0x88).op('G', 0x3f, 0xf8, 0, 0, 0, 0, 0, 0).op('C', 2, 'h', 'i').op('}').str("k").int(1).op('s').op('t')
		}, `storage_offset is (True, 1.5, b"hi", {"k": 1}), not a non-negative int`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			z := torchZip(t, nestedOffset(tc.offset), map[string][]byte{"0": f32s(1)}, "0")
			_, err := NewReader(bytes.NewReader(z), int64(len(z)), "m.bin")
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\ndoes not say %q", err, tc.want)
			}
			if len(err.Error()) > 400 {
				t.Errorf("error of %d bytes", len(err.Error()))
			}
		})
	}
}
