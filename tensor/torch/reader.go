// Package torch reads PyTorch checkpoints written by torch.save (the zip
// format of .bin, .pt and .pth files) without executing them: the pickle that
// describes the state dict runs in a restricted machine that knows only
// tensor rebuilders, storages and plain containers, and every tensor maps
// lazily onto its uncompressed storage entry in the zip.
package torch

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// ErrLegacyFormat is returned for the pre-1.6 torch.save format, a bare
// pickle stream with the storages appended.
var ErrLegacyFormat = errors.New("legacy PyTorch format (pre-1.6 torch.save) not supported; re-save with torch.save(..., _use_new_zipfile_serialization=True)")

// maxPickle bounds data.pkl; a state dict of thousands of tensors needs a
// few hundred kilobytes.
const maxPickle = 64 << 20

// File is one PyTorch checkpoint.
type File struct {
	Name string
	// Tensors in the order the state dict lists them. Nested dicts and
	// lists name their tensors with dotted paths ("state_dict.layer.weight").
	Tensors []*tensor.Desc
}

// archive is a torch zip opened for reading: its entries under one prefix.
type archive struct {
	r       io.ReaderAt
	size    int64
	name    string
	prefix  string // "archive/" or whatever directory torch.save chose
	entries map[string]*zip.File
	little  bool
}

// Open reads the checkpoint at path. The returned Closer keeps the file open
// for the tensors' sources; close it when they are no longer read.
func Open(path string) (*File, io.Closer, error) {
	f, st, err := tensor.OpenInput(path)
	if err != nil {
		return nil, nil, err
	}
	tf, err := NewReader(f, st.Size(), path)
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return tf, f, nil
}

// NewReader reads a checkpoint of size bytes from r; name is used in messages
// and in the tensors' sources.
func NewReader(r io.ReaderAt, size int64, name string) (*File, error) {
	a, err := openArchive(r, size, name)
	if err != nil {
		return nil, err
	}
	pkl, err := a.read("data.pkl", maxPickle)
	if err != nil {
		return nil, err
	}
	stores := storageTable{}
	root, err := unpickle(pkl, stores.load)
	if err != nil {
		return nil, fmt.Errorf("%s: %sdata.pkl: %w", name, a.prefix, err)
	}
	tensors, err := a.describe(root)
	if err != nil {
		return nil, err
	}
	return &File{Name: name, Tensors: tensors}, nil
}

func openArchive(r io.ReaderAt, size int64, name string) (*archive, error) {
	var magic [4]byte
	if size < 0 {
		return nil, fmt.Errorf("%s: negative size %d", name, size)
	}
	n, _ := r.ReadAt(magic[:], 0)
	if n >= 2 && magic[0] == 0x80 && magic[1] <= 5 {
		return nil, fmt.Errorf("%s: %w", name, ErrLegacyFormat)
	}
	zr, err := zip.NewReader(r, size)
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, fmt.Errorf("%s: not a PyTorch zip checkpoint: %w", name, err)
	}
	a := &archive{r: r, size: size, name: name, entries: map[string]*zip.File{}, little: true}
	var pkls []string
	for _, f := range zr.File {
		if _, dup := a.entries[f.Name]; !dup {
			a.entries[f.Name] = f
		}
		if dir, base := path.Split(f.Name); base == "data.pkl" && strings.Count(dir, "/") == 1 {
			pkls = append(pkls, f.Name)
		}
	}
	switch len(pkls) {
	case 0:
		return nil, fmt.Errorf("%s: no <dir>/data.pkl entry among %d zip entries; not a torch.save checkpoint", name, len(zr.File))
	case 1:
		a.prefix = strings.TrimSuffix(pkls[0], "data.pkl")
	default:
		return nil, fmt.Errorf("%s: %d data.pkl entries (%s, %s, ...); want one", name, len(pkls), pkls[0], pkls[1])
	}
	return a, a.readByteOrder()
}

// readByteOrder honours the byteorder entry; files without one predate it
// and are little-endian.
func (a *archive) readByteOrder() error {
	if _, ok := a.entries[a.prefix+"byteorder"]; !ok {
		return nil
	}
	b, err := a.read("byteorder", 16)
	if err != nil {
		return err
	}
	switch s := string(bytes.TrimSpace(b)); s {
	case "little":
	case "big":
		a.little = false
	default:
		return fmt.Errorf("%s: %sbyteorder is %q, want little or big", a.name, a.prefix, truncate(s))
	}
	return nil
}

// read returns a small entry under the prefix, at most limit bytes.
func (a *archive) read(rel string, limit int64) ([]byte, error) {
	full := a.prefix + rel
	f, ok := a.entries[full]
	if !ok {
		return nil, fmt.Errorf("%s: zip entry %s missing", a.name, full)
	}
	if f.UncompressedSize64 > uint64(limit) {
		return nil, fmt.Errorf("%s: zip entry %s is %d bytes, more than %d", a.name, full, f.UncompressedSize64, limit)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: zip entry %s: %w", a.name, full, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit))
	if err != nil {
		return nil, fmt.Errorf("%s: zip entry %s: %w", a.name, full, err)
	}
	return b, nil
}

// storageAt locates the bytes of storage entry data/<key>: it must be stored
// uncompressed and lie inside the file, so tensors can read it in place.
func (a *archive) storageAt(key string) (off, size int64, err error) {
	full := a.prefix + "data/" + key
	f, ok := a.entries[full]
	if !ok {
		return 0, 0, fmt.Errorf("zip entry %s missing", full)
	}
	if f.Method != zip.Store {
		return 0, 0, fmt.Errorf("zip entry %s is compressed (method %d); torch.save stores storages uncompressed", full, f.Method)
	}
	if f.CompressedSize64 != f.UncompressedSize64 {
		return 0, 0, fmt.Errorf("zip entry %s: stored entry with compressed size %d != size %d", full, f.CompressedSize64, f.UncompressedSize64)
	}
	off, err = f.DataOffset()
	if err != nil {
		return 0, 0, fmt.Errorf("zip entry %s: %w", full, err)
	}
	if f.UncompressedSize64 > uint64(a.size) || off < 0 || off > a.size-int64(f.UncompressedSize64) {
		return 0, 0, fmt.Errorf("zip entry %s: %d bytes at offset %d run past the end of the %d-byte file", full, f.UncompressedSize64, off, a.size)
	}
	return off, int64(f.UncompressedSize64), nil
}
