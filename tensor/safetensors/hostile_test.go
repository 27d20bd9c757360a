package safetensors

import (
	"bytes"
	"encoding/binary"
	"errors"
	"runtime"
	"strings"
	"testing"
)

// st builds a file from a raw JSON header and n bytes of data.
func st(header string, n int) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, make([]byte, n)...)
}

// withLen builds a file whose length field says n, followed by rest.
func withLen(n uint64, rest string) []byte {
	return append(binary.LittleEndian.AppendUint64(nil, n), rest...)
}

const okTensor = `"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}`

func TestHostile(t *testing.T) {
	cases := []struct {
		name string
		file []byte
		want string // substring of the error
		off  int64  // expected FormatError.Offset, -2 to skip the check
	}{
		{"empty", nil, "too short", 0},
		{"truncated length", []byte{8, 0, 0}, "too short", 0},
		{"header length 2^60", withLen(1<<60, "{}"), "exceeds the limit", 0},
		{"header length 2^64-1", withLen(^uint64(0), "{}"), "exceeds the limit", 0},
		{"header length past the end", withLen(100, "{}"), "runs past the end", 0},
		{"truncated header", st(`{`+okTensor+`}`, 8)[:30], "runs past the end", 0},
		{"truncated data", st(`{`+okTensor+`}`, 8)[:66], "run past the 4-byte data section", -2},
		{"not JSON", st(`hello world`, 0), "invalid JSON", -2},
		{"not an object", st(`[1,2]`, 0), "expected header (a JSON object)", -2},
		{"not UTF-8", st("{\"\xff\":1}", 0), "not valid UTF-8", 8},
		{"trailing garbage", st(`{}{}`, 0), "only whitespace", -2},
		{"trailing junk", st(`{} x`, 0), "invalid JSON", -2},
		{"unterminated", st(`{"x":{"dtype":"F32"`, 0), "invalid JSON", -2},
		{"tensor not an object", st(`{"x":[1]}`, 0), "expected tensor info", -2},
		{"metadata not strings", st(`{"__metadata__":{"a":1}}`, 0), "__metadata__ value as a string", -2},
		{"metadata duplicate key", st(`{"__metadata__":{"a":"1","a":"2"}}`, 0), `key "a": duplicate key in __metadata__`, -2},
		{"duplicate metadata", st(`{"__metadata__":{},"__metadata__":{}}`, 0), "duplicate key in header", -2},
		{"duplicate tensor", st(`{`+okTensor+`,`+okTensor+`}`, 8), `key "x": duplicate key in header`, -2},
		{"duplicate field", st(`{"x":{"dtype":"F32","dtype":"F16","shape":[2],"data_offsets":[0,8]}}`, 8), "duplicate key in tensor info", -2},
		{"missing dtype", st(`{"x":{"shape":[2],"data_offsets":[0,8]}}`, 8), "lacks dtype", -2},
		{"missing shape", st(`{"x":{"dtype":"F32","data_offsets":[0,8]}}`, 8), "lacks shape", -2},
		{"missing offsets", st(`{"x":{"dtype":"F32","shape":[2]}}`, 8), "lacks data_offsets", -2},
		{"unknown dtype", st(`{"x":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}}`, 1), `unknown dtype "F4"`, -2},
		{"dtype not a string", st(`{"x":{"dtype":4,"shape":[2],"data_offsets":[0,8]}}`, 8), "expected dtype as a string", -2},
		{"negative dim", st(`{"x":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, 8), "non-negative", -2},
		{"fractional dim", st(`{"x":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}`, 8), "non-negative", -2},
		{"huge dim", st(`{"x":{"dtype":"F32","shape":[18446744073709551614],"data_offsets":[0,8]}}`, 8), "non-negative 64-bit", -2},
		{"shape overflow", st(`{"x":{"dtype":"I32","shape":[2,9223372036854775807],"data_offsets":[0,16]}}`, 16), "overflows", -2},
		{"one offset", st(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[8]}}`, 8), "expected 2 integers", -2},
		{"negative offset", st(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}`, 8), "non-negative", -2},
		{"shape × dtype mismatch", st(`{"x":{"dtype":"I32","shape":[2,2],"data_offsets":[0,4]}}`, 4), "is 16 bytes but data_offsets [0,4] hold 4", -2},
		{"end before begin", st(`{"x":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, 8), "end before they begin", -2},
		{"out of range", st(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}`, 8), "run past the 8-byte data section", -2},
		{"offset beyond 2^62", st(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[4611686018427387904,4611686018427387912]}}`, 8), "run past", -2},
		{"overlapping", st(`{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"y":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), `overlap tensor "x"`, -2},
		{"hole", st(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"y":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, 12), "hole of 4 bytes at data offset 4", -2},
		{"hole at start", st(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, 8), "hole of 4 bytes at data offset 0", -2},
		{"trailing data", st(`{`+okTensor+`}`, 12), "cover 8 bytes of the 12-byte data section", -2},
		{"data without tensors", st(`{}`, 1), "cover 0 bytes of the 1-byte", -2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, err := NewReader(bytes.NewReader(c.file), int64(len(c.file)), "bad.safetensors")
			if err == nil {
				t.Fatalf("no error; read %d tensors", len(f.Tensors))
			}
			if !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "bad.safetensors: ") {
				t.Errorf("error %q, want one naming the file and saying %q", err, c.want)
			}
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("error %T is not a *FormatError", err)
			}
			if c.off != -2 && fe.Offset != c.off {
				t.Errorf("offset %d, want %d", fe.Offset, c.off)
			}
		})
	}
}

// TestHostileNoLargeAllocation: lengths that claim gigabytes must be refused
// before anything of their size is allocated.
func TestHostileNoLargeAllocation(t *testing.T) {
	for _, file := range [][]byte{withLen(1<<60, "{}"), withLen(MaxHeaderSize, "{}"), withLen(50<<20, strings.Repeat(" ", 100))} {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		if _, err := NewReader(bytes.NewReader(file), int64(len(file)), "big"); err == nil {
			t.Fatal("no error")
		}
		runtime.ReadMemStats(&after)
		if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
			t.Errorf("allocated %d bytes for a %d-byte file", d, len(file))
		}
	}
}

// TestAccepted covers headers the safetensors crate accepts and so must we.
func TestAccepted(t *testing.T) {
	cases := []struct {
		name   string
		file   []byte
		ntens  int
		hasMap bool
	}{
		{"empty object", st(`{}`, 0), 0, false},
		{"leading and trailing whitespace", st("\t\n{}\r ", 0), 0, false},
		{"zero-sized tensor", st(`{"test":{"dtype":"I32","shape":[2,0],"data_offsets":[0, 0]}}`, 0), 1, false},
		{"two zero-sized at one offset", st(`{"a":{"dtype":"I32","shape":[0],"data_offsets":[0,0]},"b":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}}`, 0), 2, false},
		{"unknown tensor field", st(`{"x":{"dtype":"F32","shape":[2],"extra":{"a":[1,2]},"data_offsets":[0,8]}}`, 8), 1, false},
		{"scalar", st(`{"__metadata__":{},"x":{"dtype":"F64","shape":[],"data_offsets":[0,8]}}`, 8), 1, true},
		{"every dtype", st(`{"a":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},"b":{"dtype":"I64","shape":[1],"data_offsets":[8,16]},`+
			`"c":{"dtype":"U64","shape":[1],"data_offsets":[16,24]},"d":{"dtype":"F32","shape":[1],"data_offsets":[24,28]},`+
			`"e":{"dtype":"I32","shape":[1],"data_offsets":[28,32]},"f":{"dtype":"U32","shape":[1],"data_offsets":[32,36]},`+
			`"g":{"dtype":"F16","shape":[1],"data_offsets":[36,38]},"h":{"dtype":"BF16","shape":[1],"data_offsets":[38,40]},`+
			`"i":{"dtype":"I16","shape":[1],"data_offsets":[40,42]},"j":{"dtype":"U16","shape":[1],"data_offsets":[42,44]},`+
			`"k":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[44,45]},"l":{"dtype":"F8_E5M2","shape":[1],"data_offsets":[45,46]},`+
			`"m":{"dtype":"I8","shape":[1],"data_offsets":[46,47]},"n":{"dtype":"U8","shape":[1],"data_offsets":[47,48]},`+
			`"o":{"dtype":"BOOL","shape":[1],"data_offsets":[48,49]}}`, 49), 15, false},
	}
	for _, c := range cases {
		f, err := NewReader(bytes.NewReader(c.file), int64(len(c.file)), c.name)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if len(f.Tensors) != c.ntens || (f.Metadata != nil) != c.hasMap {
			t.Errorf("%s: %d tensors, metadata %v", c.name, len(f.Tensors), f.Metadata)
		}
	}
}
