package gguf

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestRoundTrip reads every corpus GGUF (written by llama.cpp's converter and
// quantizer) and writes it back with Layout/Write: the bytes must be the same.
func TestRoundTrip(t *testing.T) {
	for _, path := range corpusFiles(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := NewReader(bytes.NewReader(want), int64(len(want)), path)
			if err != nil {
				t.Fatal(err)
			}
			prefix, offsets, size, err := Layout(f.Meta, f.Tensors, f.Alignment)
			if err != nil {
				t.Fatal(err)
			}
			if size != int64(len(want)) {
				t.Errorf("Layout size %d, file has %d bytes", size, len(want))
			}
			if int64(len(prefix)) != f.DataOffset {
				t.Errorf("prefix is %d bytes, data section starts at %d", len(prefix), f.DataOffset)
			}
			for i, off := range offsets {
				if off != f.DataOffset+f.Offsets[i] {
					t.Errorf("tensor %q at %d, want %d", f.Tensors[i].Name, off, f.DataOffset+f.Offsets[i])
				}
			}
			var got bytes.Buffer
			if err := Write(&got, f.Meta, f.Tensors); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("written file differs from the original (%d vs %d bytes) at byte %d", got.Len(), len(want), firstDiff(got.Bytes(), want))
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
