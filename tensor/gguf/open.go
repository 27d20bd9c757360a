package gguf

import (
	"errors"
	"io"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// Open memory-maps the GGUF file at path and parses its header. Tensor
// sources read from the mapping, so they are valid until the returned
// closer is closed.
func Open(path string) (*File, io.Closer, error) {
	m, size, err := tensor.MapFile(path)
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

// closers closes all of a split set's files.
type closers []io.Closer

func (cs closers) Close() error {
	var errs []error
	for _, c := range cs {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}
