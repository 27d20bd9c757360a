package torch

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"testing"
)

// pk writes pickle opcodes by hand, so tests say exactly which bytes the
// machine sees (no Python, and no encoder of ours to agree with itself).
type pk struct{ bytes.Buffer }

func newPK(proto byte) *pk {
	p := &pk{}
	p.op(0x80, proto)
	return p
}

func (p *pk) op(b ...byte) *pk { p.Write(b); return p }

// str is BINUNICODE.
func (p *pk) str(s string) *pk {
	p.op('X')
	binary.Write(p, binary.LittleEndian, uint32(len(s)))
	p.WriteString(s)
	return p
}

// int is BININT.
func (p *pk) int(v int32) *pk {
	p.op('J')
	binary.Write(p, binary.LittleEndian, v)
	return p
}

// global is GLOBAL "module\nname\n".
func (p *pk) global(module, name string) *pk {
	p.op('c')
	p.WriteString(module + "\n" + name + "\n")
	return p
}

// stackGlobal is protocol 4's STACK_GLOBAL with SHORT_BINUNICODE operands.
func (p *pk) stackGlobal(module, name string) *pk {
	for _, s := range []string{module, name} {
		p.op(0x8c, byte(len(s)))
		p.WriteString(s)
	}
	return p.op(0x93)
}

// ints writes a tuple of ints with MARK ... TUPLE.
func (p *pk) ints(v ...int32) *pk {
	p.op('(')
	for _, x := range v {
		p.int(x)
	}
	return p.op('t')
}

// tspec is one tensor as torch.save pickles it with _rebuild_tensor_v2.
type tspec struct {
	name, class, key string
	numel            int32
	offset           int32
	size, stride     []int32
}

// tensorV2 writes _rebuild_tensor_v2((storage pid), offset, size, stride,
// False, OrderedDict()) followed by REDUCE, as torch 2.x does.
func (p *pk) tensorV2(t tspec) *pk {
	p.global("torch._utils", "_rebuild_tensor_v2")
	p.op('(')
	p.op('(').str("storage").global("torch", t.class).str(t.key).str("cpu").int(t.numel).op('t', 'Q')
	p.int(t.offset).ints(t.size...).ints(t.stride...)
	p.op(0x89).global("collections", "OrderedDict").op(')', 'R')
	return p.op('t', 'R')
}

// stateDict pickles {name: tensor, ...} in order.
func stateDict(ts ...tspec) []byte {
	p := newPK(2)
	p.op('}', '(')
	for _, t := range ts {
		p.str(t.name).tensorV2(t)
	}
	p.op('u', '.')
	return p.Bytes()
}

// torchZip lays out a checkpoint the way torch.save does: archive/data.pkl,
// archive/byteorder, archive/data/<key> stored uncompressed, archive/version.
func torchZip(t testing.TB, pkl []byte, storages map[string][]byte, keys ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	put := func(name string, data []byte) {
		addEntry(t, zw, &zip.FileHeader{Name: "archive/" + name, Method: zip.Store}, data)
	}
	put("data.pkl", pkl)
	put("byteorder", []byte("little"))
	for _, k := range keys {
		put("data/"+k, storages[k])
	}
	put("version", []byte("3\n"))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// f32s encodes float32 values little-endian.
func f32s(v ...float32) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, v)
	return b.Bytes()
}

func zipWriter(w *bytes.Buffer) *zip.Writer { return zip.NewWriter(w) }

// addEntry writes one zip entry, failing t if the writer refuses it.
func addEntry(t testing.TB, zw *zip.Writer, h *zip.FileHeader, data []byte) {
	t.Helper()
	w, err := zw.CreateHeader(h)
	if err == nil {
		_, err = w.Write(data)
	}
	if err != nil {
		t.Fatalf("zip entry %s: %v", h.Name, err)
	}
}

// withByteOrder is torchZip with another byteorder entry.
func withByteOrder(t *testing.T, pkl []byte, order string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, e := range []struct{ name, data string }{
		{"archive/data.pkl", string(pkl)}, {"archive/byteorder", order}, {"archive/data/0", string(make([]byte, 64))},
	} {
		addEntry(t, zw, &zip.FileHeader{Name: e.name, Method: zip.Store}, []byte(e.data))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// deflatedStorage is torchZip with its 64-byte storage entry compressed.
func deflatedStorage(t *testing.T, pkl []byte) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	addEntry(t, zw, &zip.FileHeader{Name: "archive/data.pkl", Method: zip.Store}, pkl)
	addEntry(t, zw, &zip.FileHeader{Name: "archive/data/0", Method: zip.Deflate}, make([]byte, 64))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
