package gguf

import (
	"errors"
	"io"
	"os"
)

// Open memory-maps the GGUF file at path and parses its header. Tensor
// sources read from the mapping, so they are valid until the returned
// closer is closed.
func Open(path string) (*File, io.Closer, error) {
	m, size, err := openMapped(path)
	if err != nil {
		return nil, nil, err
	}
	f, err := NewReader(m, size, path)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	return f, m, nil
}

func openMapped(path string) (*mapped, int64, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, 0, err
	}
	m, err := mapFile(fh, st.Size())
	if err != nil {
		return nil, 0, err
	}
	return m, st.Size(), nil
}

// closers closes all of a split set's files.
type closers []io.Closer

func (cs closers) Close() error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
