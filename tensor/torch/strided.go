package torch

import (
	"fmt"
	"io"
)

// strided is a Source over a non-contiguous view saved as is (a transposed
// or sliced tensor). Rows whose elements are adjacent are read in one go;
// otherwise each element is read on its own, which is slow but rare: state
// dicts are almost always contiguous.
type strided struct {
	r            io.ReaderAt
	base         int64 // byte offset of element 0
	esz          int64
	size, stride []int64
	name, tensor string
}

// ReadRows gathers rows [row, row+n) into dst.
func (s *strided) ReadRows(row, n int64, dst []byte) error {
	k := len(s.size) - 1 // k >= 0: a scalar is always contiguous
	rowBytes := s.size[k] * s.esz
	if int64(len(dst)) != n*rowBytes {
		return fmt.Errorf("%s: tensor %q: buffer of %d bytes for %d rows of %d bytes", s.name, s.tensor, len(dst), n, rowBytes)
	}
	rows := int64(1)
	for _, d := range s.size[:k] {
		rows *= d
	}
	if row < 0 || n < 0 || row > rows-n {
		return fmt.Errorf("%s: tensor %q: rows [%d,%d) out of range (%d rows)", s.name, s.tensor, row, row+n, rows)
	}
	for i := int64(0); i < n; i++ {
		off := s.base + s.rowOffset(row+i)
		out := dst[i*rowBytes : (i+1)*rowBytes]
		if s.stride[k] == 1 {
			if err := s.readAt(out, off); err != nil {
				return err
			}
			continue
		}
		if s.stride[k] == 0 { // expand(): one element, repeated
			if err := s.readAt(out[:s.esz], off); err != nil {
				return err
			}
			for j := s.esz; j < rowBytes; j *= 2 {
				copy(out[j:], out[:j])
			}
			continue
		}
		for j := int64(0); j < s.size[k]; j++ {
			if err := s.readAt(out[j*s.esz:(j+1)*s.esz], off+j*s.stride[k]*s.esz); err != nil {
				return err
			}
		}
	}
	return nil
}

// rowOffset is the byte offset of a row's first element from base.
func (s *strided) rowOffset(row int64) int64 {
	var off int64
	for d := len(s.size) - 2; d >= 0; d-- {
		off += row % s.size[d] * s.stride[d]
		row /= s.size[d]
	}
	return off * s.esz
}

func (s *strided) readAt(b []byte, off int64) error {
	got, err := s.r.ReadAt(b, off)
	if got == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%s: tensor %q: reading %d bytes at offset %d: %w", s.name, s.tensor, len(b), off, err)
}

// Describe names the file and tensor.
func (s *strided) Describe() string {
	return fmt.Sprintf("%s:%s (strided %v)", s.name, s.tensor, s.stride)
}
