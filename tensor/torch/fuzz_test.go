package torch

import (
	"archive/zip"
	"bytes"
	"io"
	"path/filepath"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
	"github.com/mlmf-run/mlmf-run/tensor"
)

// corpusPickle returns the data.pkl of the corpus checkpoint, or nil when
// the corpus is absent: the fuzz targets then run on their synthetic seeds
// and testdata/fuzz rather than skip.
func corpusPickle(t testing.TB) []byte {
	dir, ok := corpus.Find()
	if !ok {
		return nil
	}
	zr, err := zip.OpenReader(filepath.Join(dir, "tiny-llama-spm-bin", "pytorch_model.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		if filepath.Base(f.Name) == "data.pkl" {
			rc, err := f.Open()
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			b, err := io.ReadAll(rc)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatal("corpus checkpoint has no data.pkl")
	return nil
}

// FuzzUnpickle feeds raw pickles to the restricted machine and walks what
// it builds: no input may panic, hang or allocate beyond the limits.
func FuzzUnpickle(f *testing.F) {
	if pkl := corpusPickle(f); pkl != nil {
		f.Add(pkl)
	}
	for _, tc := range hostilePickles() {
		if len(tc.pkl) < 1<<16 {
			f.Add(tc.pkl)
		}
	}
	f.Add(stateDict(tspec{"w", "FloatStorage", "0", 6, 0, []int32{3, 2}, []int32{1, 3}}))
	// Values quoted in errors: deep, self-containing, long.
	f.Add(nestedOffset(func(p *pk) { p.op('N').op(bytes.Repeat([]byte{0x85}, 1000)...) }))
	f.Add(nestedOffset(func(p *pk) { p.op(']', 'q', 7, 'h', 7, 'a') }))
	f.Add(nestedOffset(func(p *pk) { p.op('(').op(bytes.Repeat([]byte{'N'}, 1000)...).op('t') }))
	empty := &archive{r: bytes.NewReader(nil), name: "fuzz", entries: map[string]*zip.File{}, little: true}
	f.Fuzz(func(t *testing.T, data []byte) {
		root, err := unpickle(data, storageTable{}.load)
		if err != nil {
			if n := len(err.Error()); n > 4096 {
				t.Errorf("error of %d bytes", n) // values in errors are quoted bounded
			}
			return
		}
		empty.describe(root)
	})
}

// FuzzReader feeds whole files to NewReader and reads every tensor that
// opens: errors are fine, panics and out-of-range reads are not.
func FuzzReader(f *testing.F) {
	six := map[string][]byte{"0": f32s(0, 1, 2, 3, 4, 5)}
	if pkl := corpusPickle(f); pkl != nil {
		f.Add(torchZip(f, pkl, nil))
	}
	f.Add(torchZip(f, stateDict(
		tspec{"a", "FloatStorage", "0", 6, 0, []int32{2, 3}, []int32{3, 1}},
		tspec{"t", "FloatStorage", "0", 6, 0, []int32{3, 2}, []int32{1, 3}},
		tspec{"s", "FloatStorage", "0", 6, 5, []int32{}, []int32{}},
	), six, "0"))
	f.Add(torchZip(f, stateDict(tspec{"w", "HalfStorage", "0", 3, 0, []int32{3}, []int32{1}}), six, "0"))
	f.Add([]byte{0x80, 2, '}', '.'})
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := NewReader(bytes.NewReader(data), int64(len(data)), "fuzz.pt")
		if err != nil {
			return
		}
		for _, d := range file.Tensors {
			if err := d.Check(); err != nil || d.NBytes() > 1<<20 {
				continue
			}
			if _, err := tensor.ReadAll(d); err != nil {
				t.Errorf("%s: opened but cannot be read: %v", d.Name, err)
			}
		}
	})
}
