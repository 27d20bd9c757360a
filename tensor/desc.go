package tensor

import (
	"fmt"
	"io"
)

// Source yields the encoded bytes of whole rows of one tensor. Every stage
// transform (permutation, quantization, LoRA merge, dtype conversion) is a
// Source wrapping another, so a plan is a graph of lazy sources and execution
// pulls row blocks through it: memory is bounded by the blocks in flight, never
// by the tensor or the model.
type Source interface {
	// ReadRows writes rows [row, row+n) into dst, which is exactly n rows long
	// in the tensor's dtype, and must write every byte of it: the executor
	// reuses buffers, so a byte left alone would carry an earlier chunk's
	// data. It may be called concurrently for disjoint rows.
	ReadRows(row, n int64, dst []byte) error
	// Describe says where the rows come from, for plans and manifests.
	Describe() string
}

// Desc describes one tensor: what it is called, how it is encoded, its shape,
// and where its rows come from. Shape is row-major (outermost first, as in
// safetensors and PyTorch); the last dimension is one row. GGUF's ne order is
// the reverse, and the GGUF codec converts at its boundary.
type Desc struct {
	Name  string
	DType DType
	Shape []int64
	Src   Source
}

// Elems is the number of elements.
func (d *Desc) Elems() int64 {
	n := int64(1)
	for _, s := range d.Shape {
		n *= s
	}
	return n
}

// RowLen is the number of elements in one row (1 for a scalar).
func (d *Desc) RowLen() int64 {
	if len(d.Shape) == 0 {
		return 1
	}
	return d.Shape[len(d.Shape)-1]
}

// Rows is the number of rows.
func (d *Desc) Rows() int64 {
	if d.RowLen() == 0 {
		return 0
	}
	return d.Elems() / d.RowLen()
}

// RowBytes is the encoded size of one row; zero if the dtype cannot encode it.
func (d *Desc) RowBytes() int64 {
	n, err := d.DType.RowBytes(d.RowLen())
	if err != nil {
		return 0
	}
	return n
}

// NBytes is the encoded size of the whole tensor.
func (d *Desc) NBytes() int64 { return d.RowBytes() * d.Rows() }

// Check verifies that the dtype can encode the shape.
func (d *Desc) Check() error {
	if !d.DType.Valid() {
		return fmt.Errorf("tensor %q: invalid dtype", d.Name)
	}
	for _, s := range d.Shape {
		if s < 0 {
			return fmt.Errorf("tensor %q: negative dimension in shape %v", d.Name, d.Shape)
		}
	}
	if _, err := d.DType.RowBytes(d.RowLen()); err != nil {
		return fmt.Errorf("tensor %q shape %v: %w", d.Name, d.Shape, err)
	}
	return nil
}

// Clone returns a copy with its own shape slice.
func (d *Desc) Clone() *Desc {
	c := *d
	c.Shape = append([]int64(nil), d.Shape...)
	return &c
}

func (d *Desc) String() string {
	return fmt.Sprintf("%s %s %v", d.Name, d.DType, d.Shape)
}

// ReadAll reads the whole tensor into memory. Only small tensors (adapters,
// norms, test fixtures) should go through it.
func ReadAll(d *Desc) ([]byte, error) {
	buf := make([]byte, d.NBytes())
	if d.Rows() == 0 {
		return buf, nil
	}
	return buf, d.Src.ReadRows(0, d.Rows(), buf)
}

// Section is a Source over a contiguous row-major byte range of a file, the
// common case for every container that stores tensors uncompressed.
type Section struct {
	R        io.ReaderAt
	Off      int64 // offset of row 0 in R
	RowBytes int64
	Name     string // file name, for messages and plans
	Tensor   string // tensor name inside the file
}

// ReadRows reads rows straight from the file.
func (s *Section) ReadRows(row, n int64, dst []byte) error {
	want := n * s.RowBytes
	if int64(len(dst)) != want {
		return fmt.Errorf("%s: tensor %q: buffer of %d bytes for %d rows of %d bytes", s.Name, s.Tensor, len(dst), n, s.RowBytes)
	}
	off := s.Off + row*s.RowBytes
	got, err := s.R.ReadAt(dst, off)
	if got == len(dst) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%s: tensor %q: reading %d bytes at offset %d: %w", s.Name, s.Tensor, want, off, err)
}

// Describe names the file and tensor.
func (s *Section) Describe() string {
	if s.Tensor == "" {
		return s.Name
	}
	return s.Name + ":" + s.Tensor
}

// Bytes is a Source over an in-memory encoding, for generated and small tensors.
type Bytes struct {
	Data     []byte
	RowBytes int64
	What     string
}

// ReadRows copies rows from memory.
func (b *Bytes) ReadRows(row, n int64, dst []byte) error {
	lo, hi := row*b.RowBytes, (row+n)*b.RowBytes
	if lo < 0 || hi > int64(len(b.Data)) || int64(len(dst)) != hi-lo {
		return fmt.Errorf("%s: rows [%d,%d) out of range", b.What, row, row+n)
	}
	copy(dst, b.Data[lo:hi])
	return nil
}

// Describe says what the bytes are.
func (b *Bytes) Describe() string { return b.What }
