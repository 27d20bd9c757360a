//go:build unix

package gguf

import (
	"fmt"
	"io"
	"os"
	"syscall"
)

// mapped is a read-only memory map of a whole file; ReadAt copies from it
// without a system call per read.
type mapped struct {
	data   []byte
	name   string
	closed bool
}

// mapFile maps f and closes it: the mapping outlives the descriptor, so a
// split set of many files holds no descriptors open.
func mapFile(f *os.File, size int64) (*mapped, error) {
	defer f.Close()
	if size == 0 {
		return &mapped{name: f.Name()}, nil
	}
	if int64(int(size)) != size {
		return nil, fmt.Errorf("%s: %d bytes is too large to map", f.Name(), size)
	}
	data, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("%s: mmap: %w", f.Name(), err)
	}
	return &mapped{data: data, name: f.Name()}, nil
}

func (m *mapped) ReadAt(p []byte, off int64) (int, error) {
	if m.closed {
		return 0, fmt.Errorf("%s: %w", m.name, os.ErrClosed)
	}
	if off < 0 {
		return 0, fmt.Errorf("%s: negative offset %d", m.name, off)
	}
	if off >= int64(len(m.data)) {
		return 0, io.EOF
	}
	n := copy(p, m.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (m *mapped) Close() error {
	if m.closed || m.data == nil {
		m.closed = true
		return nil
	}
	err := syscall.Munmap(m.data)
	m.data, m.closed = nil, true
	return err
}
