package safetensors

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// TestRoundTripCorpus reads every corpus file written by the python
// safetensors library and writes it back: with the library's placement rules
// the output is the same file, byte for byte.
func TestRoundTripCorpus(t *testing.T) {
	for _, rel := range corpusFiles {
		t.Run(rel, func(t *testing.T) {
			f, raw := openCorpusFile(t, rel)
			prefix, offsets, size, err := Layout(f.Tensors, f.Metadata)
			if err != nil {
				t.Fatal(err)
			}
			if size != int64(len(raw)) || !bytes.Equal(prefix, raw[:f.DataOffset]) {
				t.Errorf("layout: size %d, header %q; want %d, %q", size, prefix[8:], len(raw), raw[8:f.DataOffset])
			}
			for i, d := range f.Tensors {
				if want := d.Src.(*tensor.Section).Off; offsets[i] != want {
					t.Errorf("%s at %d, want %d", d.Name, offsets[i], want)
				}
			}
			var out bytes.Buffer
			if err := Write(&out, f.Tensors, f.Metadata); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), raw) {
				t.Errorf("written file differs from the original (%d vs %d bytes)", out.Len(), len(raw))
			}
		})
	}
}

func desc(name string, dt tensor.DType, shape ...int64) *tensor.Desc {
	d := &tensor.Desc{Name: name, DType: dt, Shape: shape}
	n, ok := byteSize(shape, dt)
	if !ok {
		panic(fmt.Sprintf("test tensor %s: shape %v has no byte size", name, shape))
	}
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(len(name) + i)
	}
	d.Src = &tensor.Bytes{Data: data, RowBytes: d.RowBytes(), What: name}
	return d
}

// TestLayoutOrder checks the safetensors crate's placement: dtypes by
// descending alignment rank, then names, on a hand-computed header.
func TestLayoutOrder(t *testing.T) {
	ts := []*tensor.Desc{
		desc("a", tensor.U8, 3),
		desc("b", tensor.F32, 2),
		desc("c", tensor.BF16, 1, 2),
		desc("d", tensor.F16),
		desc("B", tensor.F32, 1),
		desc("e", tensor.I64, 1),
		desc("f", tensor.Bool, 2),
		desc("g", tensor.F8E4M3, 0, 4),
		desc("h", tensor.F8E5M2, 1),
		desc("i", tensor.I32, 1),
		desc("j", tensor.U16, 1),
		desc("k", tensor.I16, 1),
		desc("l", tensor.U64, 1),
		desc("m", tensor.F64, 1),
		desc("n", tensor.U32, 1),
		desc("o", tensor.I8, 1),
	}
	want := `{"__metadata__":{"a\"b":"\n\u0001é","format":"pt"},` +
		`"l":{"dtype":"U64","shape":[1],"data_offsets":[0,8]},` +
		`"e":{"dtype":"I64","shape":[1],"data_offsets":[8,16]},` +
		`"m":{"dtype":"F64","shape":[1],"data_offsets":[16,24]},` +
		`"B":{"dtype":"F32","shape":[1],"data_offsets":[24,28]},` +
		`"b":{"dtype":"F32","shape":[2],"data_offsets":[28,36]},` +
		`"n":{"dtype":"U32","shape":[1],"data_offsets":[36,40]},` +
		`"i":{"dtype":"I32","shape":[1],"data_offsets":[40,44]},` +
		`"c":{"dtype":"BF16","shape":[1,2],"data_offsets":[44,48]},` +
		`"d":{"dtype":"F16","shape":[],"data_offsets":[48,50]},` +
		`"j":{"dtype":"U16","shape":[1],"data_offsets":[50,52]},` +
		`"k":{"dtype":"I16","shape":[1],"data_offsets":[52,54]},` +
		`"g":{"dtype":"F8_E4M3","shape":[0,4],"data_offsets":[54,54]},` +
		`"h":{"dtype":"F8_E5M2","shape":[1],"data_offsets":[54,55]},` +
		`"o":{"dtype":"I8","shape":[1],"data_offsets":[55,56]},` +
		`"a":{"dtype":"U8","shape":[3],"data_offsets":[56,59]},` +
		`"f":{"dtype":"BOOL","shape":[2],"data_offsets":[59,61]}}`
	for len(want)%8 != 0 {
		want += " "
	}
	meta := map[string]string{"format": "pt", "a\"b": "\n\x01é"}
	prefix, offsets, size, err := Layout(ts, meta)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(prefix[8:]); got != want {
		t.Errorf("header\n%s\nwant\n%s", got, want)
	}
	if n := binary.LittleEndian.Uint64(prefix); n != uint64(len(want)) {
		t.Errorf("header length %d, want %d", n, len(want))
	}
	base := int64(8 + len(want))
	if size != base+61 {
		t.Errorf("size %d, want %d", size, base+61)
	}
	if offsets[0] != base+56 || offsets[5] != base+8 || offsets[3] != base+48 {
		t.Errorf("offsets %v", offsets)
	}
	// What Write streams reads back as the same tensors and bytes.
	var out bytes.Buffer
	if err := Write(&out, ts, meta); err != nil {
		t.Fatal(err)
	}
	f, err := NewReader(bytes.NewReader(out.Bytes()), int64(out.Len()), "roundtrip")
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tensors) != len(ts) || f.Metadata["a\"b"] != "\n\x01é" {
		t.Fatalf("read back %d tensors, metadata %v", len(f.Tensors), f.Metadata)
	}
	for _, d := range f.Tensors {
		got := mustReadAll(t, d)
		for _, w := range ts {
			if w.Name == d.Name {
				if want := mustReadAll(t, w); !bytes.Equal(got, want) || d.DType != w.DType {
					t.Errorf("%s: read back %v %x, want %v %x", d.Name, d.DType, got, w.DType, want)
				}
			}
		}
	}
}

func TestLayoutNoMetadata(t *testing.T) {
	prefix, _, _, err := Layout([]*tensor.Desc{desc("x", tensor.F32, 1)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}` + "  "
	if string(prefix[8:]) != want {
		t.Errorf("header %q, want %q", prefix[8:], want)
	}
	prefix, _, _, err = Layout(nil, map[string]string{})
	if err != nil || string(prefix[8:]) != `{"__metadata__":{}}     ` {
		t.Errorf("empty: %q, %v", prefix[8:], err)
	}
}

func TestLayoutErrors(t *testing.T) {
	cases := map[string][]*tensor.Desc{
		"quantized":  {desc("q", tensor.Q8_0, 32)},
		"duplicate":  {desc("x", tensor.F32, 1), desc("x", tensor.F16, 1)},
		"reserved":   {desc("__metadata__", tensor.F32, 1)},
		"negative":   {{Name: "n", DType: tensor.F32, Shape: []int64{-1}}},
		"overflow":   {{Name: "o", DType: tensor.F64, Shape: []int64{1 << 31, 1 << 31, 4}}},
		"bad utf8":   {desc("\xff", tensor.F32, 1)},
		"invalid dt": {{Name: "i", Shape: []int64{1}}},
	}
	for name, ts := range cases {
		if _, _, _, err := Layout(ts, nil); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestWriteChunks streams a tensor larger than ChunkBytes, and one whose
// single row is larger, through a source that records the requests.
func TestWriteChunks(t *testing.T) {
	big := desc("big", tensor.U8, 3*ChunkBytes/1024+5, 1024)
	wide := desc("wide", tensor.U16, 2, ChunkBytes)
	rec := &recorder{Source: big.Src}
	big.Src = rec
	var out bytes.Buffer
	if err := Write(&out, []*tensor.Desc{big, wide}, nil); err != nil {
		t.Fatal(err)
	}
	for _, n := range rec.sizes {
		if n > ChunkBytes {
			t.Errorf("read %d bytes at once, more than %d", n, ChunkBytes)
		}
	}
	if len(rec.sizes) != 4 {
		t.Errorf("%d reads, want 4", len(rec.sizes))
	}
	f, err := NewReader(bytes.NewReader(out.Bytes()), int64(out.Len()), "chunks")
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range []*tensor.Desc{wide, big} {
		got, want := mustReadAll(t, f.Tensors[i]), mustReadAll(t, w)
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs after writing", w.Name)
		}
	}
}

// mustReadAll reads a tensor whole; a failed read fails the test rather than
// comparing equal to another failed read.
func mustReadAll(t testing.TB, d *tensor.Desc) []byte {
	t.Helper()
	b, err := tensor.ReadAll(d)
	if err != nil {
		t.Fatalf("reading %s: %v", d.Name, err)
	}
	return b
}

type recorder struct {
	tensor.Source
	sizes []int
}

func (r *recorder) ReadRows(row, n int64, dst []byte) error {
	r.sizes = append(r.sizes, len(dst))
	return r.Source.ReadRows(row, n, dst)
}
