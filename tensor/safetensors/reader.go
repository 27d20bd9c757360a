// Package safetensors reads and lays out Hugging Face safetensors files: an
// 8-byte little-endian header length, a JSON header naming every tensor's
// dtype, shape and byte range, then the raw little-endian data.
//
// Reading validates everything the safetensors crate validates before a byte
// of tensor data is touched, so a plan built on a File never reads outside it.
// Writing is a plan-time layout (Layout) reproducing the python library's
// byte-exact output, plus a streaming convenience (Write). Sharding follows
// transformers' save_pretrained.
package safetensors

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/bits"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// MaxHeaderSize is the largest JSON header accepted, the safetensors crate's
// limit (100 MB): a header length is checked against it and against the file
// size before anything is allocated.
const MaxHeaderSize = 100_000_000

// File is the parsed header of one safetensors file.
type File struct {
	Name string
	// Metadata is the header's __metadata__; nil when the header has none.
	Metadata map[string]string
	// Tensors are in the order of their data in the file, which is the order
	// the writer chose (JSON object order carries no meaning).
	Tensors []*tensor.Desc
	// DataOffset is the absolute offset of the data section.
	DataOffset int64
}

// NewReader parses and validates the header of the safetensors file in r,
// which is size bytes long; name is used in messages. Each tensor's Src is a
// *tensor.Section reading straight from r.
func NewReader(r io.ReaderAt, size int64, name string) (*File, error) {
	ferr := func(off int64, key, format string, args ...any) error {
		return &FormatError{File: name, Offset: off, Key: key, Msg: fmt.Sprintf(format, args...)}
	}
	if size < 8 {
		return nil, ferr(0, "", "file of %d bytes is too short for the 8-byte header length", size)
	}
	var lenBuf [8]byte
	if err := readFull(r, lenBuf[:], 0); err != nil {
		return nil, ferr(0, "", "reading the header length: %v", err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > MaxHeaderSize {
		return nil, ferr(0, "", "header length %d exceeds the limit of %d bytes", n, MaxHeaderSize)
	}
	if int64(n) > size-8 {
		return nil, ferr(0, "", "header length %d runs past the end of the %d-byte file", n, size)
	}
	doc := make([]byte, n)
	if err := readFull(r, doc, 8); err != nil {
		return nil, ferr(8, "", "reading the %d-byte header: %v", n, err)
	}
	if !utf8.Valid(doc) {
		return nil, ferr(8, "", "header is not valid UTF-8")
	}
	meta, entries, err := parseHeader(doc, 8, name)
	if err != nil {
		return nil, err
	}
	f := &File{Name: name, Metadata: meta, DataOffset: 8 + int64(n)}
	if err := f.place(r, entries, size-f.DataOffset); err != nil {
		return nil, err
	}
	return f, nil
}

func readFull(r io.ReaderAt, p []byte, off int64) error {
	got, err := r.ReadAt(p, off)
	if got == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// place validates each entry (dtype, shape against byte range, bounds) and
// that the ranges tile the data section exactly, then builds the descriptors
// in data order.
func (f *File) place(r io.ReaderAt, entries []entry, dataLen int64) error {
	for i := range entries {
		if err := f.check(&entries[i], dataLen); err != nil {
			return err
		}
	}
	// Stable, so zero-sized tensors sharing an offset keep header order,
	// which is the writer's order.
	sort.SliceStable(entries, func(i, j int) bool {
		a, b := entries[i], entries[j]
		return a.begin < b.begin || a.begin == b.begin && a.end < b.end
	})
	var covered int64
	for i, e := range entries {
		if e.begin < covered {
			return &FormatError{File: f.Name, Offset: f.DataOffset + e.begin, Key: e.name,
				Msg: fmt.Sprintf("data_offsets [%d,%d] overlap tensor %q ending at %d", e.begin, e.end, entries[i-1].name, covered)}
		}
		if e.begin > covered {
			return &FormatError{File: f.Name, Offset: f.DataOffset + covered, Key: e.name,
				Msg: fmt.Sprintf("data_offsets [%d,%d] leave a hole of %d bytes at data offset %d (tensors must cover the data section without gaps)", e.begin, e.end, e.begin-covered, covered)}
		}
		covered = e.end
	}
	if covered != dataLen {
		return &FormatError{File: f.Name, Offset: f.DataOffset + covered, Key: "",
			Msg: fmt.Sprintf("tensors cover %d bytes of the %d-byte data section; the last data offset must be the end of the file", covered, dataLen)}
	}
	f.Tensors = make([]*tensor.Desc, len(entries))
	for i, e := range entries {
		dt, _ := tensor.FromSafetensors(e.dtype)
		d := &tensor.Desc{Name: e.name, DType: dt, Shape: e.shape}
		d.Src = &tensor.Section{R: r, Off: f.DataOffset + e.begin, RowBytes: d.RowBytes(), Name: f.Name, Tensor: e.name}
		f.Tensors[i] = d
	}
	return nil
}

func (f *File) check(e *entry, dataLen int64) error {
	ferr := func(format string, args ...any) error {
		return &FormatError{File: f.Name, Offset: e.at, Key: e.name, Msg: fmt.Sprintf(format, args...)}
	}
	dt, ok := tensor.FromSafetensors(e.dtype)
	if !ok {
		return ferr("unknown dtype %q (want one of %s)", e.dtype, strings.Join(dtypeNames(), ", "))
	}
	nbytes, ok := byteSize(e.shape, dt)
	if !ok {
		return ferr("shape %v of %s overflows a 64-bit byte count", e.shape, e.dtype)
	}
	if e.end < e.begin {
		return ferr("data_offsets [%d,%d] end before they begin", e.begin, e.end)
	}
	if e.end > dataLen {
		return ferr("data_offsets [%d,%d] run past the %d-byte data section (file offset %d)", e.begin, e.end, dataLen, f.DataOffset+e.end)
	}
	if e.end-e.begin != nbytes {
		return ferr("shape %v of %s is %d bytes but data_offsets [%d,%d] hold %d", e.shape, e.dtype, nbytes, e.begin, e.end, e.end-e.begin)
	}
	return nil
}

// byteSize is the encoded size of shape in dt, or false on overflow.
func byteSize(shape []int64, dt tensor.DType) (int64, bool) {
	n := uint64(dt.Info().BlockBytes)
	for _, s := range shape {
		if s < 0 {
			return 0, false
		}
		hi, lo := bits.Mul64(n, uint64(s))
		if hi != 0 || lo > math.MaxInt64 {
			return 0, false
		}
		n = lo
	}
	return int64(n), true
}

// dtypeNames lists the safetensors dtype spellings this package knows.
func dtypeNames() []string {
	var out []string
	for _, n := range tensor.DTypeNames() {
		d, _ := tensor.ParseDType(n)
		if s := d.Info().Safetensors; s != "" {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}
