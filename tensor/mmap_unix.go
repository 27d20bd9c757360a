//go:build unix

package tensor

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"golang.org/x/sys/unix"
)

// Mapped is a read-only memory map of a whole file, read through ReadAt.
// Every read copies out of the map and then tells the kernel the process no
// longer needs those pages: mapped file pages count toward the resident set,
// and a streaming pass over a 100 GB checkpoint must not end with 100 GB
// resident. The page cache keeps the data, so a re-read costs no I/O.
type Mapped struct {
	data   []byte
	name   string
	closed bool
}

// openFlags open an input without blocking on a named pipe, so that
// OpenInput can refuse it.
const openFlags = os.O_RDONLY | unix.O_NONBLOCK

// MapFile maps the regular file at path. The descriptor is closed at once:
// the map outlives it, so a set of many shards holds no descriptors open.
func MapFile(path string) (*Mapped, int64, error) {
	f, st, err := OpenInput(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	size := st.Size()
	if size == 0 {
		return &Mapped{name: path}, 0, nil
	}
	if int64(int(size)) != size {
		return nil, 0, fmt.Errorf("%s: %d bytes cannot be mapped on this platform", path, size)
	}
	b, err := unix.Mmap(int(f.Fd()), 0, int(size), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, 0, fmt.Errorf("%s: mmap: %w", path, err)
	}
	return &Mapped{data: b, name: path}, size, nil
}

// ReadAt copies from the map. A file truncated by someone else while mapped
// faults on access; the fault becomes an error naming the offset.
func (m *Mapped) ReadAt(p []byte, off int64) (n int, err error) {
	if m.closed {
		return 0, fmt.Errorf("%s: %w", m.name, os.ErrClosed)
	}
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
	m.release(off, int64(n))
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// release drops the pages that [off, off+n) touched from the resident set,
// the partly read ones at either end included: a streaming reader's chunks
// rarely start on a page boundary, and keeping one page per chunk would
// keep a few percent of the file with 64K pages. It also drops a margin of
// the kernel's fault-around window on both sides: a fault maps the cached
// pages around it, so a worker copying the end of its chunk maps the start
// of the next one, and if that chunk's reader has already released its
// range, those pages would stay resident for the rest of the run (tens of
// MiB on a 2 GB model, growing with it). Dropping a page another
// read still needs costs that read a minor fault; a shared file map
// refills from the page cache. Small reads (headers) are left alone: the
// syscall would cost more than the pages.
func (m *Mapped) release(off, n int64) {
	page := int64(os.Getpagesize())
	if n < 16*page {
		return
	}
	lo := max(off-faultAround, 0) &^ (page - 1)
	hi := min((off+n+faultAround+page-1)&^(page-1), int64(len(m.data)))
	_ = unix.Madvise(m.data[lo:hi], unix.MADV_DONTNEED)
}

// faultAround is how far from a faulting address the kernel may map
// cached pages: the largest page-cache folio, a PMD (2 MiB on x86-64).
const faultAround = 2 << 20

// Close unmaps; no read may be in flight or follow.
func (m *Mapped) Close() error {
	if m.closed {
		return nil
	}
	m.closed = true
	if m.data == nil {
		return nil
	}
	err := unix.Munmap(m.data)
	m.data = nil
	if err != nil {
		return fmt.Errorf("%s: munmap: %w", m.name, err)
	}
	return nil
}
