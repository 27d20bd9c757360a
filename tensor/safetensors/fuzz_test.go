package safetensors

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
	"github.com/mlmf-run/mlmf-run/tensor"
)

// FuzzReader feeds NewReader corpus headers (whose data is cut away, or kept
// when small) and small synthetic files. Whatever it accepts must be
// self-consistent, readable, and survive a write and re-read unchanged.
func FuzzReader(f *testing.F) {
	// Corpus headers when the corpus is there; the synthetic seeds below and
	// testdata/fuzz run without it, so the target never skips.
	if dir, ok := corpus.Find(); ok {
		for _, rel := range corpusFiles {
			raw, err := os.ReadFile(filepath.Join(dir, rel))
			if err != nil {
				f.Fatal(err)
			}
			n := binary.LittleEndian.Uint64(raw)
			f.Add(raw[:8+n])
			f.Add(raw[:8+n+16])
		}
	}
	f.Add(st(`{}`, 0))
	f.Add(st(`{"__metadata__":{"format":"pt"},`+okTensor+`}`, 8))
	f.Add(st(`{"a":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]},"b":{"dtype":"BOOL","shape":[],"data_offsets":[8,9]}}`, 9))
	f.Add(st(`{"z":{"dtype":"F8_E4M3","shape":[0,3],"data_offsets":[0,0]},"y":{"dtype":"U64","shape":[1],"data_offsets":[0,8]}}`, 8))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := NewReader(bytes.NewReader(data), int64(len(data)), "fuzz")
		if err != nil {
			return
		}
		var total int64
		for _, d := range file.Tensors {
			sec := d.Src.(*tensor.Section)
			if sec.Off < file.DataOffset || sec.Off+d.NBytes() > int64(len(data)) {
				t.Fatalf("%s at %d+%d outside the file", d.Name, sec.Off, d.NBytes())
			}
			if _, err := tensor.ReadAll(d); err != nil {
				t.Fatal(err)
			}
			total += d.NBytes()
		}
		if total != int64(len(data))-file.DataOffset {
			t.Fatalf("tensors hold %d bytes of a %d-byte data section", total, int64(len(data))-file.DataOffset)
		}
		var out bytes.Buffer
		if err := Write(&out, file.Tensors, file.Metadata); err != nil {
			t.Fatalf("accepted file does not write back: %v", err)
		}
		again, err := NewReader(bytes.NewReader(out.Bytes()), int64(out.Len()), "rewritten")
		if err != nil {
			t.Fatalf("rewritten file does not read: %v", err)
		}
		if !reflect.DeepEqual(again.Metadata, file.Metadata) || len(again.Tensors) != len(file.Tensors) {
			t.Fatalf("rewritten: metadata %v, %d tensors; want %v, %d", again.Metadata, len(again.Tensors), file.Metadata, len(file.Tensors))
		}
		byName := map[string]*tensor.Desc{}
		for _, d := range file.Tensors {
			byName[d.Name] = d
		}
		for _, d := range again.Tensors {
			w := byName[d.Name]
			if w == nil || w.DType != d.DType || !reflect.DeepEqual(w.Shape, d.Shape) {
				t.Fatalf("rewritten %v, want %v", d, w)
			}
			if a, b := mustReadAll(t, d), mustReadAll(t, w); !bytes.Equal(a, b) {
				t.Fatalf("%s: data changed", d.Name)
			}
		}
	})
}
