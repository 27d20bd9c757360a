package gguf

import (
	"bytes"
	"cmp"
	"errors"
	"os"
	"slices"
	"testing"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// FuzzReader feeds arbitrary bytes to the reader. Anything it accepts must
// describe and hash without error, and write back to a file that parses to
// the same header; anything it refuses must be refused with a *FormatError.
func FuzzReader(f *testing.F) {
	for _, path := range corpusFiles(skipless{f}) {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		// Seeds stay small: the file's real metadata with only its two
		// smallest tensors, and the bare head of the file.
		g := mustParse(f, data)
		small := slices.SortedFunc(slices.Values(g.Tensors), func(a, b *tensor.Desc) int { return cmp.Compare(a.NBytes(), b.NBytes()) })
		f.Add(build(f, g.Meta, small[:min(2, len(small))]...))
		f.Add(data[:min(len(data), 1024)])
	}
	m := testMeta()
	m.Set("nested", Value{Type: TypeArray, Elem: TypeArray, V: []Value{Strings([]string{"a"}), Float32s(nil)}})
	m.Set("b", Bool(true))
	f.Add(build(f, m, f32Tensor("a", 0, 2, 3), f32Tensor("b", 1, 7)))
	f.Add(build(f, &Meta{}))
	f.Add([]byte(head(1, 1).kvU32(KeyAlignment, 64).ti("t", 8, 0, 32).alignTo().zeros(64)))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := parse(data)
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) || !errors.Is(err, ErrFormat) {
				t.Fatalf("error %v (%T) is not a *FormatError", err, err)
			}
			return
		}
		if _, err := Describe(file, true); err != nil {
			t.Fatal(err)
		}
		prefix, _, size, err := Layout(file.Meta, file.Tensors, 0)
		if file.Alignment > maxWriteAlignment {
			if err == nil {
				t.Fatalf("Layout took alignment %d", file.Alignment)
			}
			return
		}
		if err != nil {
			t.Fatalf("Layout of a parsed file: %v", err)
		}
		if size > int64(len(data))+1<<16 {
			return // a large alignment; not worth writing
		}
		var out bytes.Buffer
		if err := Write(&out, file.Meta, file.Tensors); err != nil {
			t.Fatal(err)
		}
		again, err := parse(out.Bytes())
		if err != nil {
			t.Fatalf("rewritten file does not parse: %v", err)
		}
		prefix2, _, _, err := Layout(again.Meta, again.Tensors, 0)
		if err != nil || !bytes.Equal(prefix, prefix2) {
			t.Fatalf("rewritten header differs (%v)", err)
		}
	})
}

// skipless lets corpusFiles run under a fuzz target without skipping it
// when the corpus is absent: the synthetic seeds still apply.
type skipless struct{ *testing.F }

func (s skipless) Skipf(format string, args ...any) { s.Logf(format, args...) }
