package gguf

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeSplits writes n split files under dir the way gguf-split names and
// keys them, two tensors each; edit may alter file i's metadata.
func writeSplits(t *testing.T, dir string, n int, edit func(i int, m *Meta)) string {
	t.Helper()
	prefix := filepath.Join(dir, "model")
	for i := range n {
		m := &Meta{}
		if i == 0 {
			m = testMeta()
		}
		m.Set(KeySplitNo, Uint16(uint16(i)))
		m.Set(KeySplitCount, Uint16(uint16(n)))
		m.Set(KeySplitTensorsCount, Int32(int32(2*n)))
		if edit != nil {
			edit(i, m)
		}
		data := build(t, m, f32Tensor(string(rune('a'+i))+".0", float32(i), 3, 4), f32Tensor(string(rune('a'+i))+".1", 100, 5))
		if err := os.WriteFile(SplitPath(prefix, i, n), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return SplitPath(prefix, 0, n)
}

func TestOpenSet(t *testing.T) {
	dir := t.TempDir()
	first := writeSplits(t, dir, 3, nil)
	f, c, err := OpenSet(first)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got, want := names(f.Tensors), "a.0 a.1 b.0 b.1 c.0 c.1 "; got != want {
		t.Errorf("tensors %q, want %q", got, want)
	}
	if len(f.Parts) != 3 || f.Meta.Len() != 6 {
		t.Errorf("%d parts, %d keys; want 3 parts and the first file's 6 keys", len(f.Parts), f.Meta.Len())
	}
	// c.0 holds 2, 3, 4, ... (seed 2): check its rows come from the third file.
	row := make([]byte, 16)
	if err := f.Tensors[4].Src.ReadRows(1, 1, row); err != nil {
		t.Fatal(err)
	}
	if v := math.Float32frombits(binary.LittleEndian.Uint32(row)); v != 6 {
		t.Errorf("c.0 row 1 starts with %v, want 6", v)
	}
	if !strings.HasSuffix(f.Tensors[4].Src.Describe(), "model-00003-of-00003.gguf:c.0") {
		t.Errorf("c.0 comes from %s", f.Tensors[4].Src.Describe())
	}
}

func TestOpenSetErrors(t *testing.T) {
	tests := []struct {
		name string
		make func(t *testing.T, dir string) string
		want string // in the error message
	}{
		{"missing file", func(t *testing.T, dir string) string {
			first := writeSplits(t, dir, 3, nil)
			must(t, os.Remove(filepath.Join(dir, "model-00002-of-00003.gguf")))
			return first
		}, "model-00002-of-00003.gguf"},
		{"extra file", func(t *testing.T, dir string) string {
			first := writeSplits(t, dir, 2, nil)
			data, err := os.ReadFile(filepath.Join(dir, "model-00002-of-00002.gguf"))
			must(t, err)
			must(t, os.WriteFile(filepath.Join(dir, "model-00003-of-00002.gguf"), data, 0o644))
			return first
		}, "model-00003-of-00002.gguf: extra file"},
		{"reordered files", func(t *testing.T, dir string) string {
			first := writeSplits(t, dir, 3, nil)
			a, b := filepath.Join(dir, "model-00002-of-00003.gguf"), filepath.Join(dir, "model-00003-of-00003.gguf")
			must(t, os.Rename(a, a+".tmp"))
			must(t, os.Rename(b, a))
			must(t, os.Rename(a+".tmp", b))
			return first
		}, "model-00002-of-00003.gguf: split.no is 2, want 1"},
		{"count disagrees", func(t *testing.T, dir string) string {
			return writeSplits(t, dir, 2, func(i int, m *Meta) {
				if i == 1 {
					m.Set(KeySplitCount, Uint16(3))
				}
			})
		}, "model-00002-of-00002.gguf: split.count is 3"},
		{"tensor total disagrees", func(t *testing.T, dir string) string {
			return writeSplits(t, dir, 2, func(i int, m *Meta) { m.Set(KeySplitTensorsCount, Int32(5)) })
		}, "split.tensors.count is 5, but the 2 files hold 4 tensors"},
		{"wrong key type", func(t *testing.T, dir string) string {
			return writeSplits(t, dir, 2, func(i int, m *Meta) {
				if i == 1 {
					m.Set(KeySplitNo, Uint32(1))
				}
			})
		}, `key "split.no" is UINT32, want UINT16`},
		{"not the first split", func(t *testing.T, dir string) string {
			writeSplits(t, dir, 2, nil)
			return filepath.Join(dir, "model-00002-of-00002.gguf")
		}, "the first split must be named"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := OpenSet(tc.make(t, t.TempDir()))
			if err == nil || !errors.Is(err, ErrSplit) && !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want ErrSplit mentioning %q", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
			if !errors.Is(err, ErrSplit) {
				t.Errorf("error %v is not ErrSplit", err)
			}
		})
	}
}

func TestOpenSetSingle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "one.gguf")
	must(t, os.WriteFile(path, build(t, testMeta(), f32Tensor("w", 0, 2, 2)), 0o644))
	f, c, err := OpenSet(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if f.Parts != nil || len(f.Tensors) != 1 {
		t.Errorf("single file opened as a set: %d parts, %d tensors", len(f.Parts), len(f.Tensors))
	}
}
