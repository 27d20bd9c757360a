package gguf

import (
	"fmt"
	"io"
	"math"
	"math/bits"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// Magic opens every GGUF file.
const Magic = "GGUF"

// Version is the GGUF version the writer produces.
const Version = 3

// DefaultAlignment is the data alignment when general.alignment is absent.
const DefaultAlignment = 32

// KeyAlignment overrides the data alignment; llama.cpp requires it to be a UINT32.
const KeyAlignment = "general.alignment"

// File is a parsed GGUF header. Tensor data stays in the file: each tensor's
// Src is a *tensor.Section over its bytes.
type File struct {
	Version uint32
	Meta    *Meta
	// Tensors in file order, Shape row-major (the reverse of ggml's ne).
	Tensors []*tensor.Desc
	// Offsets of each tensor's data, relative to the data section, as stored.
	Offsets []int64
	// DataOffset is where the data section starts in the file.
	DataOffset int64
	Alignment  int64
	Name       string
	// Parts are the files of a split set, in order (nil for a single file);
	// then Offsets are relative to each tensor's own part.
	Parts []*File
}

// NewReader parses the header of the GGUF file in r (size bytes long, called
// name in messages). It accepts GGUF v2 and v3, little-endian, and rejects
// every file llama.cpp's loader rejects, plus files whose tensor data runs
// past the end of the file.
func NewReader(r io.ReaderAt, size int64, name string) (*File, error) {
	d := &decoder{r: r, name: name, size: size}
	f := &File{Name: name, Meta: &Meta{}}
	nTensors, nKV, err := d.header(f)
	if err != nil {
		return nil, err
	}
	if err := d.metadata(f, nKV); err != nil {
		return nil, err
	}
	infos, err := d.tensorInfos(f, nTensors)
	if err != nil {
		return nil, err
	}
	if err := d.place(f, infos); err != nil {
		return nil, err
	}
	return f, nil
}

// header reads magic, version and the two counts, and checks the counts
// against the bytes that follow.
func (d *decoder) header(f *File) (nTensors, nKV int64, err error) {
	b, err := d.next(4, "magic")
	if err != nil {
		return 0, 0, err
	}
	if string(b) != Magic {
		return 0, 0, d.fail(0, ErrFormat, "magic %q, want %q: not a GGUF file", b, Magic)
	}
	v, err := d.u32("version")
	if err != nil {
		return 0, 0, err
	}
	switch {
	case v == 0:
		return 0, 0, d.fail(4, ErrFormat, "version 0")
	case v&0xFFFF == 0:
		return 0, 0, d.fail(4, ErrUnsupported, "version %#x: a big-endian file? only little-endian GGUF is supported", v)
	case v == 1:
		return 0, 0, d.fail(4, ErrUnsupported, "GGUF v1 is no longer supported (want v2 or v3)")
	case v > Version:
		return 0, 0, d.fail(4, ErrUnsupported, "version %d, want 2 or 3", v)
	}
	f.Version = v
	// The smallest tensor info is 24 bytes (empty name, no dims, type,
	// offset), the smallest key-value 13 (empty key, type, one byte).
	if nTensors, err = d.count("tensor count", 24, math.MaxInt64); err != nil {
		return 0, 0, err
	}
	at := d.off
	if nKV, err = d.count("metadata count", 13, math.MaxInt64); err != nil {
		return 0, 0, err
	}
	if nKV*13 > d.remaining()-nTensors*24 {
		return 0, 0, d.fail(at, ErrLimit, "%d metadata entries and %d tensor infos exceed what %d remaining bytes can hold", nKV, nTensors, d.remaining())
	}
	return nTensors, nKV, nil
}

// metadata reads the key-value pairs and settles the alignment.
func (d *decoder) metadata(f *File, n int64) error {
	for i := range n {
		at := d.off
		key, err := d.str(fmt.Sprintf("metadata key %d", i))
		if err != nil {
			return err
		}
		if key == "" {
			return d.fail(at, ErrFormat, "metadata key %d is empty", i)
		}
		if _, dup := f.Meta.Get(key); dup {
			return d.fail(at, ErrFormat, "duplicate metadata key %q", key)
		}
		t, err := d.u32(fmt.Sprintf("type of key %q", key))
		if err != nil {
			return err
		}
		v, err := d.readValue(ValueType(t), 0, fmt.Sprintf("key %q", key))
		if err != nil {
			return err
		}
		f.Meta.Set(key, v)
	}
	f.Alignment = DefaultAlignment
	if v, ok := f.Meta.Get(KeyAlignment); ok {
		a, isU32 := v.V.(uint32)
		if v.Type != TypeUint32 || !isU32 {
			return d.fail(d.off, ErrFormat, "key %q is %v, want UINT32", KeyAlignment, v.Type)
		}
		if a == 0 || bits.OnesCount32(a) != 1 {
			return d.fail(d.off, ErrFormat, "key %q is %d, want a power of 2", KeyAlignment, a)
		}
		f.Alignment = int64(a)
	}
	return nil
}

// info is one tensor as its header describes it.
type info struct {
	desc   *tensor.Desc
	nbytes int64
	offset uint64
	at     int64 // file offset of the info, for messages
}

// tensorInfos reads the tensor descriptions: name, dims, type, offset.
func (d *decoder) tensorInfos(f *File, n int64) ([]info, error) {
	out := make([]info, 0, min(n, 1024))
	seen := make(map[string]bool, min(n, 1024))
	for i := range n {
		at := d.off
		name, err := d.str(fmt.Sprintf("tensor %d name", i))
		if err != nil {
			return nil, err
		}
		if len(name) > maxNameLen {
			return nil, d.fail(at, ErrLimit, "tensor %d name %.70q... is %d bytes, llama.cpp allows at most %d", i, name, len(name), maxNameLen)
		}
		if seen[name] {
			return nil, d.fail(at, ErrFormat, "duplicate tensor name %q", name)
		}
		seen[name] = true
		in, err := d.tensorInfo(name)
		if err != nil {
			return nil, err
		}
		in.at = at
		out = append(out, in)
	}
	return out, nil
}

func (d *decoder) tensorInfo(name string) (info, error) {
	at := d.off
	nd, err := d.u32(fmt.Sprintf("tensor %q dimension count", name))
	if err != nil {
		return info{}, err
	}
	if nd > maxDims {
		return info{}, d.fail(at, ErrFormat, "tensor %q has %d dimensions, at most %d allowed", name, nd, maxDims)
	}
	shape := make([]int64, nd)
	elems := uint64(1)
	overflow, zero := false, false
	for j := range int(nd) {
		at := d.off
		ne, err := d.u64(fmt.Sprintf("tensor %q dimension %d", name, j))
		if err != nil {
			return info{}, err
		}
		if ne > math.MaxInt64 {
			return info{}, d.fail(at, ErrFormat, "tensor %q dimension %d is %d, negative as int64", name, j, int64(ne))
		}
		shape[int(nd)-1-j] = int64(ne) // ggml ne0 is the innermost: the last row-major dim
		hi, lo := bits.Mul64(elems, ne)
		elems, overflow, zero = lo, overflow || hi != 0 || lo > math.MaxInt64, zero || ne == 0
	}
	at = d.off
	id, err := d.u32(fmt.Sprintf("tensor %q type", name))
	if err != nil {
		return info{}, err
	}
	dt, ok := tensor.FromGGML(id)
	if !ok {
		return info{}, d.fail(at, ErrFormat, "tensor %q has unknown ggml type %d", name, id)
	}
	if overflow && !zero {
		return info{}, d.fail(at, ErrLimit, "tensor %q shape %v has more than 2^63 elements", name, shape)
	}
	desc := &tensor.Desc{Name: name, DType: dt, Shape: shape}
	in := dt.Info()
	if desc.RowLen()%in.BlockSize != 0 {
		return info{}, d.fail(at, ErrFormat, "tensor %q of type %v has rows of %d elements, not a multiple of the block size %d", name, dt, desc.RowLen(), in.BlockSize)
	}
	hi1, rowBytes := bits.Mul64(uint64(desc.RowLen()/in.BlockSize), uint64(in.BlockBytes))
	hi2, nbytes := bits.Mul64(rowBytes, uint64(desc.Rows()))
	if hi1 != 0 || hi2 != 0 || rowBytes > math.MaxInt64 || nbytes > math.MaxInt64 {
		return info{}, d.fail(at, ErrLimit, "tensor %q shape %v of type %v takes more than 2^63 bytes", name, shape, dt)
	}
	off, err := d.u64(fmt.Sprintf("tensor %q data offset", name))
	if err != nil {
		return info{}, err
	}
	desc.Src = &tensor.Section{R: d.r, RowBytes: int64(rowBytes), Name: d.name, Tensor: name}
	return info{desc: desc, nbytes: int64(nbytes), offset: off}, nil
}

// place finds the data section and checks that the tensors fill it the way
// llama.cpp requires: each at the aligned end of the one before, all inside
// the file.
func (d *decoder) place(f *File, infos []info) error {
	f.DataOffset = pad(d.off, f.Alignment)
	if f.DataOffset > d.size {
		if len(infos) > 0 {
			return d.fail(d.off, ErrTruncated, "file ends at %d, before the data section at %d", d.size, f.DataOffset)
		}
		f.DataOffset = d.off
	}
	room := uint64(d.size - f.DataOffset)
	f.Tensors = make([]*tensor.Desc, len(infos))
	f.Offsets = make([]int64, len(infos))
	want, prev := int64(0), ""
	for i, in := range infos {
		name := in.desc.Name
		switch {
		case in.offset > room:
			return d.fail(in.at, ErrTruncated, "tensor %q data offset %d points past the end of the file (%d bytes of data section)", name, in.offset, room)
		case int64(in.offset)%f.Alignment != 0:
			return d.fail(in.at, ErrFormat, "tensor %q data offset %d is not a multiple of the alignment %d", name, in.offset, f.Alignment)
		case int64(in.offset) < want:
			return d.fail(in.at, ErrFormat, "tensor %q data offset %d overlaps tensor %q, which ends at %d", name, in.offset, prev, want)
		case int64(in.offset) > want:
			return d.fail(in.at, ErrFormat, "tensor %q data offset %d leaves a gap: want %d, right after tensor %q", name, in.offset, want, prev)
		}
		if uint64(in.nbytes) > room-in.offset {
			return d.fail(in.at, ErrTruncated, "tensor %q data [%d, %d) runs past the end of the file at %d",
				name, f.DataOffset+want, uint64(f.DataOffset)+in.offset+uint64(in.nbytes), d.size)
		}
		in.desc.Src.(*tensor.Section).Off = f.DataOffset + want
		f.Tensors[i], f.Offsets[i] = in.desc, want
		want, prev = pad(want+in.nbytes, f.Alignment), name
	}
	return nil
}

// pad rounds n up to a multiple of align (a power of 2).
func pad(n, align int64) int64 { return (n + align - 1) &^ (align - 1) }
