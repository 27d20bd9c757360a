package gguf

import (
	"encoding/binary"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
)

// raw hand-encodes GGUF fields, independently of the writer, so that tests
// can say exactly which bytes a hostile file holds.
type raw []byte

func (r raw) u32(v uint32) raw { return binary.LittleEndian.AppendUint32(r, v) }
func (r raw) u64(v uint64) raw { return binary.LittleEndian.AppendUint64(r, v) }
func (r raw) str(s string) raw { return append(r.u64(uint64(len(s))), s...) }
func (r raw) zeros(n int) raw  { return append(r, make([]byte, n)...) }

// head is magic, version 3 and the two counts.
func head(nTensors, nKV uint64) raw { return raw("GGUF").u32(3).u64(nTensors).u64(nKV) }

// kvU32 is one UINT32 key-value.
func (r raw) kvU32(key string, v uint32) raw { return r.str(key).u32(uint32(TypeUint32)).u32(v) }

// ti is one tensor info: name, dims (ne order), ggml type, offset.
func (r raw) ti(name string, typ uint32, off uint64, ne ...uint64) raw {
	r = r.str(name).u32(uint32(len(ne)))
	for _, n := range ne {
		r = r.u64(n)
	}
	return r.u32(typ).u64(off)
}

// alignTo pads with zeros to a multiple of 32, where the data section starts.
func (r raw) alignTo() raw { return r.zeros(int(pad(int64(len(r)), 32)) - len(r)) }

const big = 1 << 60

func TestHostile(t *testing.T) {
	twoF32 := func(off2 uint64) raw { // two F32 tensors of 8 elements (32 bytes) each
		return head(2, 0).ti("a", 0, 0, 8).ti("b", 0, off2, 8).alignTo().zeros(64)
	}
	tests := []struct {
		name string
		data raw
		kind error
		want string
	}{
		{"bad magic", raw("GGUX").u32(3).u64(0).u64(0), ErrFormat, `offset 0: magic "GGUX"`},
		{"version 1", raw("GGUF").u32(1).u64(0).u64(0), ErrUnsupported, "v1"},
		{"version 4", raw("GGUF").u32(4).u64(0).u64(0), ErrUnsupported, "version 4"},
		{"big-endian", raw("GGUF").u32(3 << 24).u64(0).u64(0), ErrUnsupported, "big-endian"},
		{"tensor count 2^60", head(big, 0).zeros(100), ErrLimit, "offset 8: tensor count 1152921504606846976 exceeds what 108 remaining bytes can hold"},
		{"kv count 2^60", head(0, big).zeros(100), ErrLimit, "offset 16: metadata count 1152921504606846976 exceeds what 100 remaining bytes can hold"},
		{"counts together too many", head(4, 4).zeros(100), ErrLimit, "4 metadata entries and 4 tensor infos exceed"},
		{"key length 2^60", head(0, 1).u64(big).zeros(40), ErrLimit, `offset 24: metadata key 0 length 1152921504606846976 exceeds`},
		{"string value length 2^60", head(0, 1).str("k").u32(uint32(TypeString)).u64(big).zeros(40), ErrLimit, `offset 37: key "k" length 1152921504606846976 exceeds the limit of 1073741824`},
		{"array count 2^60", head(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeUint32)).u64(big).zeros(40), ErrLimit, `key "k" element count 1152921504606846976 exceeds`},
		{"string array count 2^60", head(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeString)).u64(big).zeros(40), ErrLimit, `element count 1152921504606846976`},
		{"array of arrays 2^60", head(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeArray)).u64(big).zeros(40), ErrLimit, `element count 1152921504606846976`},
		{"tensor name length 2^60", head(1, 0).u64(big).zeros(40), ErrLimit, "offset 24: tensor 0 name length"},
		{"empty key", head(0, 1).str("").u32(uint32(TypeUint8)).zeros(1), ErrFormat, "metadata key 0 is empty"},
		{"duplicate key", head(0, 2).kvU32("k", 1).kvU32("k", 2), ErrFormat, `offset 41: duplicate metadata key "k"`},
		{"unknown value type", head(0, 1).str("k").u32(13).zeros(8), ErrFormat, `key "k" has unknown value type 13`},
		{"unknown array element type", head(0, 1).str("k").u32(uint32(TypeArray)).u32(99).u64(0), ErrFormat, "unknown array element type 99"},
		{"alignment not UINT32", head(0, 1).str(KeyAlignment).u32(uint32(TypeUint64)).u64(32), ErrFormat, "want UINT32"},
		{"alignment not a power of 2", head(0, 1).kvU32(KeyAlignment, 48), ErrFormat, "want a power of 2"},
		{"alignment 0", head(0, 1).kvU32(KeyAlignment, 0), ErrFormat, "want a power of 2"},
		{"n_dims 5", head(1, 0).ti("t", 0, 0, 1, 1, 1, 1, 1).alignTo().zeros(32), ErrFormat, `tensor "t" has 5 dimensions`},
		{"negative dimension", head(1, 0).ti("t", 0, 0, 1<<63).alignTo(), ErrFormat, "negative"},
		{"element count overflow", head(1, 0).ti("t", 0, 0, 1<<32, 1<<32).alignTo(), ErrLimit, "more than 2^63 elements"},
		{"byte size overflow", head(1, 0).ti("t", 0, 0, 1<<62).alignTo(), ErrLimit, "more than 2^63 bytes"},
		{"unknown ggml type", head(1, 0).ti("t", 1000, 0, 8).alignTo().zeros(32), ErrFormat, `tensor "t" has unknown ggml type 1000`},
		{"removed ggml type Q4_2", head(1, 0).ti("t", 4, 0, 32).alignTo().zeros(32), ErrFormat, "unknown ggml type 4"},
		{"row not whole blocks", head(1, 0).ti("t", 2, 0, 33).alignTo().zeros(64), ErrFormat, "not a multiple of the block size 32"},
		{"duplicate tensor name", head(2, 0).ti("t", 0, 0, 8).ti("t", 0, 32, 8).alignTo().zeros(64), ErrFormat, `duplicate tensor name "t"`},
		{"tensor name 64 bytes", head(1, 0).ti(strings.Repeat("n", 64), 0, 0, 8).alignTo().zeros(32), ErrLimit, "is 64 bytes, llama.cpp allows at most 63"},
		{"offset out of range", twoF32(1 << 40), ErrFormat, `tensor "b" data offset 1099511627776 points past the end`},
		{"overlapping offsets", twoF32(0), ErrFormat, `tensor "b" data offset 0 overlaps tensor "a"`},
		{"misaligned offset", twoF32(16), ErrFormat, `tensor "b" data offset 16 is not a multiple of the alignment 32`},
		{"gap between tensors", twoF32(64), ErrFormat, `leaves a gap: want 32`},
		{"data past end of file", head(1, 0).ti("t", 0, 0, 64).alignTo().zeros(100), ErrTruncated, `tensor "t" data [64, 320) runs past the end of the file at 164`},
		{"data section past end", head(1, 0).ti("t", 0, 0, 0), ErrTruncated, "before the data section"},
		{"header truncated", head(0, 0)[:20], ErrTruncated, "offset 16: metadata count needs 8 bytes, only 4 remain"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := parse(tc.data)
			if err == nil {
				t.Fatalf("parsed: %d tensors, %d keys", len(f.Tensors), f.Meta.Len())
			}
			if !errors.Is(err, ErrFormat) || !errors.Is(err, tc.kind) {
				t.Errorf("error %v is not ErrFormat and %v", err, tc.kind)
			}
			if !strings.HasPrefix(err.Error(), "x.gguf: offset ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want x.gguf: offset ... %q", err, tc.want)
			}
		})
	}
}

// TestHostileNoLargeAllocation checks that counts and lengths of 2^60 are
// refused before anything is allocated for them.
func TestHostileNoLargeAllocation(t *testing.T) {
	inputs := []raw{
		head(big, 0).zeros(100),
		head(0, big).zeros(100),
		head(0, 1).u64(big).zeros(100),
		head(0, 1).str("k").u32(uint32(TypeString)).u64(big).zeros(100),
		head(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeUint64)).u64(big).zeros(100),
		head(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeString)).u64(big).zeros(100),
		head(1, 0).u64(big).zeros(100),
		// Counts that the file could only just hold must not be trusted
		// for allocation either: 12 strings claimed, one present.
		head(0, 1).str("k").u32(uint32(TypeArray)).u32(uint32(TypeString)).u64(12).str("x").zeros(80),
	}
	for i, in := range inputs {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := parse(in)
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Errorf("input %d parsed", i)
		}
		if n := after.TotalAlloc - before.TotalAlloc; n > 256<<10 {
			t.Errorf("input %d: %d bytes allocated", i, n)
		}
	}
}

// TestTruncated cuts a valid file at every byte before the end of its last
// tensor's data: each cut must fail cleanly; cuts in the final padding load.
func TestTruncated(t *testing.T) {
	m := testMeta()
	m.Set("tokenizer.ggml.tokens", Strings([]string{"<s>", "é", "x"}))
	m.Set("nested", Value{Type: TypeArray, Elem: TypeArray, V: []Value{Int32s([]int32{1, 2}), Int32s(nil)}})
	data := build(t, m, f32Tensor("a", 0, 2, 3), f32Tensor("b", 9, 5))
	full := mustParse(t, data)
	last := len(full.Tensors) - 1
	end := full.DataOffset + full.Offsets[last] + full.Tensors[last].NBytes()
	for cut := range len(data) {
		_, err := parse(data[:cut])
		switch {
		case int64(cut) < end && err == nil:
			t.Errorf("cut at %d of %d parsed", cut, len(data))
		case int64(cut) < end && !truncation(err):
			t.Errorf("cut at %d: %v, want ErrTruncated or ErrLimit", cut, err)
		case int64(cut) >= end && err != nil:
			t.Errorf("cut at %d, in the final padding: %v", cut, err)
		}
	}
}

// TestTruncatedCorpus cuts a corpus file at many points through its header
// and data.
func TestTruncatedCorpus(t *testing.T) {
	path := corpusFiles(t)[0]
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f := mustParse(t, data)
	for cut := int64(0); cut < f.DataOffset+f.Tensors[0].NBytes(); cut += 1 + cut/50 {
		if _, err := parse(data[:cut]); !truncation(err) {
			t.Errorf("cut at %d: %v, want ErrTruncated or ErrLimit", cut, err)
		}
	}
}

// truncation: a cut file fails as truncated, or as a count the rest of the
// file cannot hold.
func truncation(err error) bool {
	return errors.Is(err, ErrTruncated) || errors.Is(err, ErrLimit)
}
