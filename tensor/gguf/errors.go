// Package gguf reads and writes GGUF, llama.cpp's model container: a header
// of typed metadata and tensor descriptions followed by an aligned data
// section. The reader validates a file as strictly as llama.cpp's own loader
// (ggml/src/gguf.cpp) before it allocates anything the file asks for; the
// writer lays a file out at plan time exactly as gguf-py and llama-quantize
// write it, so that our files are byte-identical to theirs.
package gguf

import (
	"errors"
	"fmt"
)

// Sentinel errors, for errors.Is. Every error the reader returns for a bad
// file is a *FormatError that matches ErrFormat and, where it applies, one of
// the more specific sentinels.
var (
	// ErrFormat: the bytes are not a valid GGUF file.
	ErrFormat = errors.New("gguf: invalid format")
	// ErrTruncated: the file ends before a structure it declares.
	ErrTruncated = errors.New("gguf: truncated file")
	// ErrUnsupported: a valid but unsupported file (GGUF v1, big-endian, newer versions).
	ErrUnsupported = errors.New("gguf: unsupported file")
	// ErrLimit: a count or length beyond what the file can hold or llama.cpp accepts.
	ErrLimit = errors.New("gguf: size limit exceeded")
	// ErrSplit: a split set whose files are missing, extra, misnamed or disagree.
	ErrSplit = errors.New("gguf: inconsistent split set")
)

// FormatError locates a problem in a file: its name, the byte offset of the
// offending field, and what was expected there.
type FormatError struct {
	File   string
	Offset int64
	Msg    string
	Kind   error // ErrFormat or a more specific sentinel
	Err    error // an underlying I/O error, if any
}

func (e *FormatError) Error() string {
	s := fmt.Sprintf("%s: offset %d: %s", e.File, e.Offset, e.Msg)
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap lets errors.Is match ErrFormat, the specific kind, and an I/O cause.
func (e *FormatError) Unwrap() []error {
	errs := []error{ErrFormat}
	if e.Kind != nil && e.Kind != ErrFormat {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}
