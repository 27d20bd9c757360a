package gguf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Limits llama.cpp's loader enforces (GGUF_MAX_STRING_LENGTH,
// GGUF_MAX_ARRAY_ELEMENTS, GGML_MAX_NAME, GGML_MAX_DIMS); a file beyond them
// would not load there, so it does not load here either.
const (
	maxStringLen  = 1 << 30
	maxArrayLen   = 1 << 30
	maxNameLen    = 63 // GGML_MAX_NAME is 64 including the terminating NUL
	maxDims       = 4
	maxArrayDepth = 8 // arrays of arrays; llama.cpp takes none, gguf-py any
)

const window = 64 << 10

// decoder reads little-endian fields from an io.ReaderAt through a small
// window, checking every length against the bytes left in the file before
// anything is allocated for it.
type decoder struct {
	r      io.ReaderAt
	name   string
	size   int64
	off    int64 // next byte to decode
	buf    []byte
	bufOff int64
}

func (d *decoder) remaining() int64 { return d.size - d.off }

func (d *decoder) fail(off int64, kind error, format string, args ...any) error {
	return &FormatError{File: d.name, Offset: off, Msg: fmt.Sprintf(format, args...), Kind: kind}
}

// need fails unless n more bytes are in the file.
func (d *decoder) need(n int64, what string) error {
	if n < 0 || n > d.remaining() {
		return d.fail(d.off, ErrTruncated, "%s needs %d bytes, only %d remain", what, n, d.remaining())
	}
	return nil
}

// next returns the following n bytes (n <= window); the slice is valid until
// the next call.
func (d *decoder) next(n int, what string) ([]byte, error) {
	if err := d.need(int64(n), what); err != nil {
		return nil, err
	}
	if d.off < d.bufOff || d.off+int64(n) > d.bufOff+int64(len(d.buf)) {
		w := min(int64(window), d.remaining())
		if d.buf == nil {
			d.buf = make([]byte, window)
		}
		if err := d.readAt(d.buf[:w], d.off, what); err != nil {
			return nil, err
		}
		d.buf, d.bufOff = d.buf[:w], d.off
	}
	i := d.off - d.bufOff
	d.off += int64(n)
	return d.buf[i : i+int64(n)], nil
}

func (d *decoder) readAt(p []byte, off int64, what string) error {
	got, err := d.r.ReadAt(p, off)
	if got == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		return d.fail(off, ErrTruncated, "%s: read %d of %d bytes", what, got, len(p))
	}
	return &FormatError{File: d.name, Offset: off, Msg: "reading " + what, Kind: ErrFormat, Err: err}
}

func (d *decoder) u32(what string) (uint32, error) {
	b, err := d.next(4, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(b), nil
}

func (d *decoder) u64(what string) (uint64, error) {
	b, err := d.next(8, what)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

// count reads a u64 count of items each taking at least minBytes, and fails
// if the rest of the file cannot hold that many or it exceeds limit.
func (d *decoder) count(what string, minBytes, limit int64) (int64, error) {
	at := d.off
	n, err := d.u64(what)
	if err != nil {
		return 0, err
	}
	if n > uint64(limit) {
		return 0, d.fail(at, ErrLimit, "%s %d exceeds the limit of %d", what, n, limit)
	}
	if minBytes > 0 && int64(n) > d.remaining()/minBytes {
		return 0, d.fail(at, ErrLimit, "%s %d exceeds what %d remaining bytes can hold", what, n, d.remaining())
	}
	return int64(n), nil
}

// str reads a GGUF string: a u64 length and that many bytes.
func (d *decoder) str(what string) (string, error) {
	n, err := d.count(what+" length", 1, maxStringLen)
	if err != nil {
		return "", err
	}
	if n <= window {
		b, err := d.next(int(n), what)
		return string(b), err
	}
	p := make([]byte, n) // n <= remaining bytes of the file
	if err := d.readAt(p, d.off, what); err != nil {
		return "", err
	}
	d.off += n
	return string(p), nil
}

// fixed reads n elements of size bytes each, decoding each with conv; the
// caller has checked n against the remaining bytes, so the slice is bounded
// by the file size.
func fixed[T any](d *decoder, n int64, size int, what string, conv func([]byte) T) ([]T, error) {
	if err := d.need(n*int64(size), what); err != nil {
		return nil, err
	}
	out := make([]T, n)
	per := window / size
	for i := int64(0); i < n; i += int64(per) {
		k := int(min(int64(per), n-i))
		b, err := d.next(k*size, what)
		if err != nil {
			return nil, err
		}
		for j := range k {
			out[i+int64(j)] = conv(b[j*size:])
		}
	}
	return out, nil
}
