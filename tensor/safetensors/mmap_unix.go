//go:build unix

package safetensors

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"syscall"
)

// mapping is a read-only memory map of a whole file. Reads copy from the
// map, so the page cache serves them without a syscall per chunk.
type mapping struct {
	data []byte
	name string
}

// mapFile maps f (size bytes). The file may be closed afterwards.
func mapFile(f *os.File, size int64) (readCloserAt, error) {
	if size == 0 {
		return &mapping{name: f.Name()}, nil
	}
	if int64(int(size)) != size {
		return nil, fmt.Errorf("%s: %d bytes cannot be mapped on this platform", f.Name(), size)
	}
	b, err := syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("%s: mmap: %w", f.Name(), err)
	}
	return &mapping{data: b, name: f.Name()}, nil
}

// ReadAt copies from the map. A file truncated by someone else after it was
// mapped faults on access; that fault becomes an error here, not a crash.
func (m *mapping) ReadAt(p []byte, off int64) (n int, err error) {
	if off < 0 {
		return 0, fmt.Errorf("%s: negative offset %d", m.name, off)
	}
	if off >= int64(len(m.data)) {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			n, err = 0, fmt.Errorf("%s: reading %d bytes at offset %d: %v (was the file changed while mapped?)", m.name, len(p), off, r)
		}
	}()
	n = copy(p, m.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Close unmaps; no read may be in flight or follow.
func (m *mapping) Close() error {
	if m.data == nil {
		return nil
	}
	err := syscall.Munmap(m.data)
	m.data = nil
	if err != nil {
		return errors.Join(fmt.Errorf("%s: munmap", m.name), err)
	}
	return nil
}
