//go:build !unix

package tensor

import (
	"fmt"
	"os"
)

// Mapped falls back to plain reads where there is no mmap; the file stays
// open until Close.
type Mapped struct {
	f *os.File
}

// openFlags: without named pipes to block on, a plain read-only open.
const openFlags = os.O_RDONLY

// MapFile opens the regular file at path for ReadAt.
func MapFile(path string) (*Mapped, int64, error) {
	f, st, err := OpenInput(path)
	if err != nil {
		return nil, 0, err
	}
	return &Mapped{f: f}, st.Size(), nil
}

// ReadAt reads from the file.
func (m *Mapped) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("%s: negative offset %d", m.f.Name(), off)
	}
	return m.f.ReadAt(p, off)
}

// Close closes the file.
func (m *Mapped) Close() error { return m.f.Close() }
