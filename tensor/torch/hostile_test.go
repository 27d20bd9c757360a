package torch

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
)

// dangerous are callables a malicious checkpoint would reach for.
var dangerous = [][2]string{
	{"os", "system"}, {"builtins", "eval"}, {"posix", "system"},
	{"subprocess", "Popen"}, {"builtins", "getattr"},
}

// hostilePickles are pickles that must be refused, with what the error must
// say. Each calls or builds something the whitelist does not allow, or tries
// to exhaust memory.
func hostilePickles() []struct {
	name string
	pkl  []byte
	want []string
} {
	type hc = struct {
		name string
		pkl  []byte
		want []string
	}
	var out []hc
	for _, g := range dangerous {
		full := g[0] + "." + g[1]
		msg := `global "` + full + `" is not allowed`
		cmd := newPK(2).str("echo pwned").op(0x85)
		// GLOBAL + REDUCE: the classic payload.
		p := newPK(2).global(g[0], g[1])
		p.Write(cmd.Bytes()[2:])
		out = append(out, hc{full + " GLOBAL REDUCE", p.op('R', '.').Bytes(), []string{msg, "offset 2: GLOBAL"}})
		// STACK_GLOBAL + REDUCE (protocol 4).
		p = newPK(4).stackGlobal(g[0], g[1]).str("x").op(0x85, 'R', '.')
		out = append(out, hc{full + " STACK_GLOBAL", p.Bytes(), []string{msg, "STACK_GLOBAL"}})
		// INST names the class inline and calls it with the marked args.
		p = newPK(2).op('(').str("x").op('i')
		p.WriteString(g[0] + "\n" + g[1] + "\n")
		out = append(out, hc{full + " INST", p.op('.').Bytes(), []string{msg, "offset 9: INST"}})
		// OBJ: MARK class args OBJ.
		p = newPK(2).op('(').global(g[0], g[1]).str("x").op('o', '.')
		out = append(out, hc{full + " OBJ", p.Bytes(), []string{msg, "offset 3: GLOBAL"}})
		// NEWOBJ: class args NEWOBJ.
		p = newPK(2).global(g[0], g[1]).str("x").op(0x85, 0x81, '.')
		out = append(out, hc{full + " NEWOBJ", p.Bytes(), []string{msg}})
		// Hidden in a memo and fetched later.
		p = newPK(2).op('}').str("k").global(g[0], g[1]).op('q', 0, 'h', 0).str("x").op(0x85, 'R', 's', '.')
		out = append(out, hc{full + " nested in a state dict", p.Bytes(), []string{msg}})
	}
	v2 := func(p *pk) *pk { return p.global("torch._utils", "_rebuild_tensor_v2") }
	many := func(b []byte, n int) []byte { return bytes.Repeat(b, n) }
	u32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	u64 := func(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	out = append(out, []hc{
		{"calling a storage class", newPK(2).global("torch", "FloatStorage").op(')', 'R', '.').Bytes(), []string{"torch.FloatStorage: is not callable"}},
		{"instantiating a rebuilder with NEWOBJ", v2(newPK(2)).op(')', 0x81, '.').Bytes(), []string{"cannot instantiate torch._utils._rebuild_tensor_v2"}},
		{"calling a string", newPK(2).str("os.system").op(')', 'R', '.').Bytes(), []string{"cannot call a str"}},
		{"rebuilder on a non-storage", v2(newPK(2)).op('(').str("x").int(0).op(')', ')', 0x89, '}', 't', 'R', '.').Bytes(), []string{"storage is a str"}},
		{"BUILD on a tensor rebuilder", v2(newPK(2)).op('}', 'b', '.').Bytes(), []string{"cannot set state of a torch._utils._rebuild_tensor_v2"}},
		{"persistent id not a storage", newPK(2).str("file:///etc/passwd").op('Q', '.').Bytes(), []string{"persistent id is a str"}},
		{"extension registry", newPK(2).op(0x82, 1, '.').Bytes(), []string{"EXT1 is not supported"}},
		{"out-of-band buffer", newPK(5).op(0x97, '.').Bytes(), []string{"NEXT_BUFFER is not supported"}},
		{"unknown opcode", newPK(2).op(0xff).Bytes(), []string{"offset 2: unknown opcode 0xff"}},
		{"no STOP", newPK(2).op('N').Bytes(), []string{"stream ends before STOP"}},
		{"stack underflow", newPK(2).op('R').Bytes(), []string{"REDUCE: stack underflow"}},
		{"pop across a MARK", newPK(2).op('N', '(', 0x85, '.').Bytes(), []string{"TUPLE1: stack underflow"}},
		{"MARK bomb", cat([]byte{0x80, 2}, many([]byte{'('}, 1<<13)), []string{"nested MARKs"}},
		{"stack bomb", cat([]byte{0x80, 2}, many([]byte{'N'}, maxStack+1)), []string{"stack deeper than"}},
		{"deeply nested lists", cat([]byte{0x80, 2, '}', 'X', 1, 0, 0, 0, 'k'}, many([]byte{']'}, 1<<15), many([]byte{'a'}, 1<<15-1), []byte{'s', '.'}), []string{"nested deeper than 16"}},
		{"self-containing list", []byte{0x80, 2, '}', 'X', 1, 0, 0, 0, 'k', ']', 'q', 0, 'h', 0, 'a', 's', '.'}, []string{`"k.0": the container of "k" appears again`}},
		{"memo count bomb", cat([]byte{0x80, 2, 'N'}, memoBomb(), []byte{'.'}), []string{"memo entries"}},
		{"huge text memo index", newPK(2).op('N', 'p').op([]byte("99999999999\n")...).op('.').Bytes(), []string{`bad memo index "99999999999"`}},
		{"LONG_BINGET of 2^32-1 never stored", newPK(2).op('j', 0xff, 0xff, 0xff, 0xff, '.').Bytes(), []string{"memo index 4294967295 was never stored"}},
		{"BINUNICODE 2^31 on a short stream", cat([]byte{0x80, 2, 'X'}, u32(1<<31), []byte("abc.")), []string{"offset 2: BINUNICODE: length 2147483648 exceeds the 4 bytes left"}},
		{"BINUNICODE8 2^63", cat([]byte{0x80, 4, 0x8d}, u64(1<<63), []byte(".")), []string{"BINUNICODE8: length 9223372036854775808 exceeds the 1 bytes left"}},
		{"BINBYTES8 2^64-1", cat([]byte{0x80, 4, 0x8e}, u64(^uint64(0))), []string{"BINBYTES8: length 18446744073709551615"}},
		{"LONG4 of 2^31 bytes", cat([]byte{0x80, 2, 0x8b}, u32(1<<31)), []string{"LONG4: length 2147483648 exceeds"}},
		{"LONG1 beyond 64 bits", []byte{0x80, 2, 0x8a, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, '.'}, []string{"does not fit in 64 bits"}},
		{"invalid UTF-8 name", []byte{0x80, 2, 0x8c, 2, 0xff, 0xfe, '.'}, []string{"not valid UTF-8"}},
		{"GLOBAL without newline", cat([]byte{0x80, 2, 'c'}, many([]byte{'a'}, 4096)), []string{"GLOBAL: no newline within"}},
		{"protocol 6", []byte{0x80, 6, '.'}, []string{"protocol 6 is newer than 5"}},
		{"tuple bomb", cat([]byte{0x80, 2, 'N', 'q', 0}, many(cat([]byte{'('}, many([]byte{'h', 0}, 1000), []byte{'t', '0'}), maxObjects/1000+1)), []string{"more than 4194304 objects"}},
	}...)
	return out
}

// dagBomb builds L0 = [] (or [tensor]), L(i+1) = [Li, Li] for 12 levels
// under key "k"; a walk that followed every reference would visit 2^12 lists
// (and n^12 with n references per list).
func dagBomb(withTensor bool) []byte {
	p := newPK(2).op('}').str("k").op(']')
	if withTensor {
		p.tensorV2(tspec{"", "FloatStorage", "0", 1, 0, []int32{1}, []int32{1}}).op('a')
	}
	p.op('r', 0, 0, 0, 0, '0')
	for i := uint32(0); i < 12; i++ {
		p.op('(', 'j').op(binary.LittleEndian.AppendUint32(nil, i)...)
		p.op('j').op(binary.LittleEndian.AppendUint32(nil, i)...)
		p.op('l', 'r').op(binary.LittleEndian.AppendUint32(nil, i+1)...)
		p.op('0')
	}
	p.op('j').op(binary.LittleEndian.AppendUint32(nil, 12)...)
	return p.op('s', '.').Bytes()
}

// memoBomb stores one value under more distinct memo indexes than allowed.
func memoBomb() []byte {
	var b bytes.Buffer
	for i := uint32(1); i <= maxMemo+1; i++ {
		b.WriteByte('r')
		b.Write(binary.LittleEndian.AppendUint32(nil, i))
	}
	return b.Bytes()
}

func TestHostilePickles(t *testing.T) {
	for _, tc := range hostilePickles() {
		t.Run(tc.name, func(t *testing.T) {
			z := torchZip(t, tc.pkl, nil)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := NewReader(bytes.NewReader(z), int64(len(z)), "pytorch_model.bin")
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			where := "pytorch_model.bin: archive/data.pkl: offset "
			if strings.Contains(tc.want[0], "nested deeper") || strings.Contains(tc.want[0], "appears again") {
				where = "pytorch_model.bin: " // found while walking, named by path
			}
			for _, w := range append(tc.want, where) {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
			// Allocation stays linear in the input, whatever lengths the
			// pickle declares; the memo bomb holds a million entries by design.
			limit := uint64(8<<20 + 16*len(tc.pkl))
			if tc.name == "memo count bomb" {
				limit = 256 << 20
			}
			if got := after.TotalAlloc - before.TotalAlloc; got > limit {
				t.Errorf("allocated %d bytes for a %d-byte pickle", got, len(tc.pkl))
			}
		})
	}
}

// TestSharedContainers: a container met twice is walked once when it holds
// no weights, and refused when it does, since its tensors would get two
// names; either way the walk stays linear.
func TestSharedContainers(t *testing.T) {
	storage := map[string][]byte{"0": f32s(1)}
	for _, tc := range []struct {
		name string
		pkl  []byte
		want string
	}{
		{"DAG without tensors", dagBomb(false), ""},
		{"DAG with a tensor", dagBomb(true), `"k.0.0.0.0.0.0.0.0.0.0.0.1": the container of "k.0.0.0.0.0.0.0.0.0.0.0.0" appears again`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			z := torchZip(t, tc.pkl, storage, "0")
			f, err := NewReader(bytes.NewReader(z), int64(len(z)), "m.pt")
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want == "" && len(f.Tensors) != 0:
				t.Fatalf("got %d tensors, want none", len(f.Tensors))
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestForbiddenErrorType(t *testing.T) {
	z := torchZip(t, newPK(2).global("os", "system").op('.').Bytes(), nil)
	_, err := NewReader(bytes.NewReader(z), int64(len(z)), "x.pt")
	var fe *ForbiddenError
	if !errors.As(err, &fe) || fe.Global != "os.system" {
		t.Fatalf("got %v, want a ForbiddenError for os.system", err)
	}
}

// patchCentralSizes rewrites the sizes that the central directory records
// for one entry, as a corrupted or malicious file might.
func patchCentralSizes(t *testing.T, z []byte, name string, size uint32) []byte {
	t.Helper()
	z = append([]byte(nil), z...)
	sig := []byte("PK\x01\x02")
	for i := bytes.Index(z, sig); i >= 0; {
		nameLen := int(binary.LittleEndian.Uint16(z[i+28:]))
		if string(z[i+46:i+46+nameLen]) == name {
			binary.LittleEndian.PutUint32(z[i+20:], size)
			binary.LittleEndian.PutUint32(z[i+24:], size)
			return z
		}
		j := bytes.Index(z[i+4:], sig)
		if j < 0 {
			break
		}
		i += 4 + j
	}
	t.Fatalf("no central directory entry %s", name)
	return nil
}

func TestHostileZips(t *testing.T) {
	w16 := stateDict(tspec{"w", "FloatStorage", "0", 16, 0, []int32{4, 4}, []int32{4, 1}})
	s16 := map[string][]byte{"0": make([]byte, 64)}
	big := stateDict(tspec{"w", "FloatStorage", "0", 8, 0, []int32{4, 4}, []int32{4, 1}})
	offset := stateDict(tspec{"w", "FloatStorage", "0", 16, 1, []int32{4, 4}, []int32{4, 1}})
	lying := stateDict(tspec{"w", "FloatStorage", "0", 100, 0, []int32{2}, []int32{1}})
	twoTypes := stateDict(
		tspec{"a", "FloatStorage", "0", 16, 0, []int32{16}, []int32{1}},
		tspec{"b", "HalfStorage", "0", 16, 0, []int32{16}, []int32{1}},
	)
	small := torchZip(t, stateDict(tspec{"w", "FloatStorage", "0", 1, 0, []int32{1}, []int32{1}}), map[string][]byte{"0": f32s(1)}, "0")
	tests := []struct {
		name string
		file []byte
		want string
	}{
		{"legacy pickle format", []byte{0x80, 2, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, '.'}, "legacy PyTorch format (pre-1.6 torch.save) not supported"},
		{"not a zip", []byte("hello, world"), "not a PyTorch zip checkpoint"},
		{"empty file", nil, "not a PyTorch zip checkpoint"},
		{"zip without data.pkl", zipOf(t, "archive/other", []byte("x")), "no <dir>/data.pkl entry"},
		{"storage entry missing", torchZip(t, w16, nil), `tensor "w" (F32 [4 4], storage "0"): zip entry archive/data/0 missing`},
		{"numel times size exceeds the storage", torchZip(t, big, map[string][]byte{"0": make([]byte, 32)}, "0"), "elements [0, 16) of 4 bytes each exceed the storage of 32 bytes"},
		{"storage offset pushes past the storage", torchZip(t, offset, s16, "0"), "elements [1, 17) of 4 bytes each exceed the storage of 64 bytes"},
		{"storage larger than its entry", torchZip(t, lying, map[string][]byte{"0": make([]byte, 32)}, "0"), "storage declares 400 bytes but its zip entry holds 32"},
		{"one storage, two types", torchZip(t, twoTypes, s16, "0"), `storage "0" is referenced as both torch.FloatStorage[16] and torch.HalfStorage[16]`},
		{"entry runs past the end", patchCentralSizes(t, small, "archive/data/0", 1<<20), "run past the end"},
		{"root is not a dict", torchZip(t, []byte{0x80, 2, 'N', '.'}, nil), "data.pkl holds a None, not a state dict"},
		{"big-endian floats", withByteOrder(t, w16, "big"), "big-endian checkpoint"},
		{"compressed storage", deflatedStorage(t, w16), "is compressed (method 8)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewReader(bytes.NewReader(tc.file), int64(len(tc.file)), "model.pt")
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "model.pt: ") {
				t.Errorf("error %q, want it to start with the file name and say %q", err, tc.want)
			}
		})
	}
	_, err := NewReader(bytes.NewReader(tests[0].file), int64(len(tests[0].file)), "old.pt")
	if !errors.Is(err, ErrLegacyFormat) {
		t.Errorf("legacy file: %v is not ErrLegacyFormat", err)
	}
}

func zipOf(t *testing.T, name string, data []byte) []byte {
	var buf bytes.Buffer
	zw := zipWriter(&buf)
	addEntry(t, zw, &zip.FileHeader{Name: name, Method: zip.Deflate}, data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestTruncated cuts a checkpoint at every length: each must be refused or
// read, never panic; reading the tensors of what opens must fail cleanly.
func TestTruncated(t *testing.T) {
	z := torchZip(t, stateDict(tspec{"w", "FloatStorage", "0", 4, 0, []int32{2, 2}, []int32{2, 1}}), map[string][]byte{"0": f32s(1, 2, 3, 4)}, "0")
	for n := range len(z) {
		if _, err := NewReader(bytes.NewReader(z[:n]), int64(n), "cut.pt"); err == nil {
			t.Errorf("truncated to %d of %d bytes: accepted", n, len(z))
		}
	}
	path := filepath.Join(corpus.Dir(t), "tiny-llama-spm-bin", "pytorch_model.bin")
	full, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 4, 100, 2186, len(full) / 2, len(full) - 22, len(full) - 1} {
		if _, err := NewReader(bytes.NewReader(full[:n]), int64(n), "cut.bin"); err == nil {
			t.Errorf("corpus truncated to %d bytes: accepted", n)
		}
	}
}
