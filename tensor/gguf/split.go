package gguf

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
)

// The keys llama.cpp's gguf-split writes into every file of a split set,
// with the types its loader reads them as.
const (
	KeySplitNo           = "split.no"            // UINT16, 0-based
	KeySplitCount        = "split.count"         // UINT16
	KeySplitTensorsCount = "split.tensors.count" // INT32, tensors in the whole set
)

// SplitPath is the name gguf-split gives file i (0-based) of n.
func SplitPath(prefix string, i, n int) string {
	return fmt.Sprintf("%s-%05d-of-%05d.gguf", prefix, i+1, n)
}

var splitName = regexp.MustCompile(`^(.*)-(\d{5})-of-(\d{5})\.gguf$`)

// OpenSet opens a GGUF file and, when it is the first of a split set
// (PREFIX-00001-of-0000N.gguf with split.count N), the N-1 files after it.
// It returns one File: metadata of the first file, the tensors of all
// files in order, and Parts holding each file. Each file must carry its
// own split.no, agree on split.count and split.tensors.count, and the set
// must hold exactly that many tensors; a missing, extra or misplaced file is
// an ErrSplit error naming it. A file without split keys opens alone.
func OpenSet(first string) (*File, io.Closer, error) {
	f, c, err := Open(first)
	if err != nil {
		return nil, nil, err
	}
	cs := closers{c}
	set, err := openParts(f, &cs)
	if err != nil {
		cs.Close()
		return nil, nil, err
	}
	return set, cs, nil
}

// splitKeys reads the split keys of f, with the types llama.cpp requires.
func splitKeys(f *File) (no, count uint16, total int32, hasTotal bool, err error) {
	get := func(key string, t ValueType) (any, bool, error) {
		v, ok := f.Meta.Get(key)
		if !ok {
			return nil, false, nil
		}
		if v.Type != t {
			return nil, false, fmt.Errorf("%s: key %q is %v, want %v: %w", f.Name, key, v.Type, t, ErrSplit)
		}
		return v.V, true, nil
	}
	n, okNo, err := get(KeySplitNo, TypeUint16)
	if err != nil {
		return 0, 0, 0, false, err
	}
	cnt, okCount, err := get(KeySplitCount, TypeUint16)
	if err != nil {
		return 0, 0, 0, false, err
	}
	tot, hasTotal, err := get(KeySplitTensorsCount, TypeInt32)
	if err != nil {
		return 0, 0, 0, false, err
	}
	if !okNo || !okCount {
		return 0, 0, 0, hasTotal, fmt.Errorf("%s: split file without %q and %q: %w", f.Name, KeySplitNo, KeySplitCount, ErrSplit)
	}
	if hasTotal {
		total = tot.(int32)
	}
	return n.(uint16), cnt.(uint16), total, hasTotal, nil
}

func openParts(f *File, cs *closers) (*File, error) {
	if _, ok := f.Meta.Get(KeySplitCount); !ok {
		return f, nil
	}
	no, n, total, hasTotal, err := splitKeys(f)
	if err != nil {
		return nil, err
	}
	m := splitName.FindStringSubmatch(filepath.Base(f.Name))
	if no != 0 || m == nil || m[2] != "00001" || m[3] != fmt.Sprintf("%05d", n) {
		return nil, fmt.Errorf("%s: %s is %d and %s is %d: the first split must be named PREFIX-00001-of-%05d.gguf with %s 0: %w",
			f.Name, KeySplitNo, no, KeySplitCount, n, n, KeySplitNo, ErrSplit)
	}
	prefix := filepath.Join(filepath.Dir(f.Name), m[1])
	if err := checkExtra(prefix, int(n)); err != nil {
		return nil, err
	}
	set := &File{Version: f.Version, Meta: f.Meta, DataOffset: f.DataOffset, Alignment: f.Alignment, Name: f.Name, Parts: []*File{f}}
	for i := 1; i < int(n); i++ {
		path := SplitPath(prefix, i, int(n))
		p, c, err := Open(path)
		if err != nil {
			return nil, fmt.Errorf("split %d of %d: %w: %w", i+1, n, err, ErrSplit)
		}
		*cs = append(*cs, c)
		pno, pn, ptotal, phas, err := splitKeys(p)
		switch {
		case err != nil:
			return nil, err
		case pno != uint16(i):
			return nil, fmt.Errorf("%s: %s is %d, want %d (files out of order?): %w", path, KeySplitNo, pno, i, ErrSplit)
		case pn != n:
			return nil, fmt.Errorf("%s: %s is %d, but %s says %d: %w", path, KeySplitCount, pn, f.Name, n, ErrSplit)
		case phas && hasTotal && ptotal != total:
			return nil, fmt.Errorf("%s: %s is %d, but %s says %d: %w", path, KeySplitTensorsCount, ptotal, f.Name, total, ErrSplit)
		}
		set.Parts = append(set.Parts, p)
	}
	return merge(set, total, hasTotal)
}

// merge concatenates the parts' tensors, refusing duplicates and a total
// that disagrees with split.tensors.count.
func merge(set *File, total int32, hasTotal bool) (*File, error) {
	where := map[string]string{}
	for _, p := range set.Parts {
		for i, t := range p.Tensors {
			if other, dup := where[t.Name]; dup {
				return nil, fmt.Errorf("%s: tensor %q is also in %s: %w", p.Name, t.Name, other, ErrSplit)
			}
			where[t.Name] = p.Name
			set.Tensors = append(set.Tensors, t)
			set.Offsets = append(set.Offsets, p.Offsets[i])
		}
	}
	if hasTotal && int64(total) != int64(len(set.Tensors)) {
		return nil, fmt.Errorf("%s: %s is %d, but the %d files hold %d tensors: %w",
			set.Name, KeySplitTensorsCount, total, len(set.Parts), len(set.Tensors), ErrSplit)
	}
	return set, nil
}

// checkExtra refuses a file of the same set numbered beyond its count,
// which means the set on disk is not the one the first file describes.
func checkExtra(prefix string, n int) error {
	entries, err := os.ReadDir(filepath.Dir(prefix))
	if err != nil {
		return fmt.Errorf("listing split files: %w", err)
	}
	base := filepath.Base(prefix)
	for _, e := range entries {
		m := splitName.FindStringSubmatch(e.Name())
		if m == nil || m[1] != base {
			continue
		}
		i, _ := strconv.Atoi(m[2])
		c, _ := strconv.Atoi(m[3])
		if c == n && (i < 1 || i > n) {
			return fmt.Errorf("%s: extra file in a set of %d splits: %w", filepath.Join(filepath.Dir(prefix), e.Name()), n, ErrSplit)
		}
	}
	return nil
}
