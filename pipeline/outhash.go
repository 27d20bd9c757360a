package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"os"
	"sort"
)

// outHash computes an output's sha256 from the bytes its writer writes, so
// the manifest needs no second read of a file the run just wrote. A sha256
// takes bytes in file order, and the writer gets chunks in the order workers
// finish them: a chunk that lands at the hashed frontier is hashed from the
// writer's buffer; one that lands beyond it is only noted, and read back
// from the file (from the page cache it was just written to) when the
// frontier reaches it. Holding such chunks' buffers instead could deadlock:
// they hold budget that earlier chunks, not yet read, may be waiting for.
// Between tensors the file holds the zeros its truncation made, hashed
// without reading. The digest is the plain sha256 of the file, what
// sha256sum prints.
type outHash struct {
	h    hash.Hash
	f    *os.File
	path string
	pos  int64 // the file's first pos bytes are hashed
	size int64
	// data are the tensors' byte ranges in file order; next is the first
	// one not wholly below pos.
	data  []byteRange
	next  int
	ahead map[int64]int64 // written beyond pos, not hashed: offset -> length
	// broken is set by a write below pos (placements that overlap, which a
	// plan never makes): finish then hashes the whole file from disk.
	broken bool
	// buf is the read-back buffer, bufSize bytes, made on the first read
	// back; stream sizes it within the memory budget (reserveReadBack).
	buf     []byte
	bufSize int
	sum     string
}

type byteRange struct{ off, end int64 }

// newOutHash starts o's hash with its prefix, which createTemp writes first.
func newOutHash(o *OutputFile, f *os.File) *outHash {
	s := &outHash{h: sha256.New(), f: f, path: o.Path, size: o.Size, ahead: map[int64]int64{}, bufSize: maxReadBack}
	for _, pl := range o.Tensors {
		if n := pl.T.NBytes(); n > 0 {
			s.data = append(s.data, byteRange{pl.Offset, pl.Offset + n})
		}
	}
	sort.Slice(s.data, func(i, j int) bool { return s.data[i].off < s.data[j].off })
	for i := 1; i < len(s.data); i++ {
		if s.data[i].off < s.data[i-1].end {
			s.broken = true
		}
	}
	if len(s.data) > 0 && s.data[0].off < int64(len(o.Prefix)) {
		s.broken = true
	}
	s.h.Write(o.Prefix)
	s.pos = int64(len(o.Prefix))
	s.advance() // the zeros before the first tensor; reads nothing
	return s
}

// wrote records that b is now in the file at off.
func (s *outHash) wrote(off int64, b []byte) error {
	switch {
	case s.broken || len(b) == 0:
		return nil
	case off < s.pos:
		s.broken = true
		return nil
	case off > s.pos:
		s.ahead[off] = int64(len(b))
		return s.advance()
	}
	s.h.Write(b)
	s.pos += int64(len(b))
	return s.advance()
}

// gapAt is how many zero bytes follow pos before the next tensor (or the
// end of the file), 0 when pos is inside a tensor.
func (s *outHash) gapAt() int64 {
	for s.next < len(s.data) && s.data[s.next].end <= s.pos {
		s.next++
	}
	if s.next == len(s.data) {
		return s.size - s.pos
	}
	return max(s.data[s.next].off-s.pos, 0)
}

// advance hashes what follows pos while it is known: zeros between
// tensors, then chunks noted ahead, read back from the file. It leaves pos
// inside a tensor not yet written, or at the end.
func (s *outHash) advance() error {
	for s.pos < s.size {
		if gap := s.gapAt(); gap > 0 {
			s.zeros(gap)
			continue
		}
		n, ok := s.ahead[s.pos]
		if !ok {
			return nil
		}
		delete(s.ahead, s.pos)
		if err := s.readBack(n); err != nil {
			return err
		}
	}
	return nil
}

var zeroPage [64 << 10]byte

func (s *outHash) zeros(n int64) {
	for n > 0 {
		k := min(n, int64(len(zeroPage)))
		s.h.Write(zeroPage[:k])
		n -= k
		s.pos += k
	}
}

// readBack hashes the file's next n bytes from disk.
func (s *outHash) readBack(n int64) error {
	if s.buf == nil {
		s.buf = make([]byte, s.bufSize)
	}
	for n > 0 {
		b := s.buf[:min(n, int64(len(s.buf)))]
		if _, err := s.f.ReadAt(b, s.pos); err != nil {
			return fmt.Errorf("%s: reading back offset %d for its sha256: %w", s.path, s.pos, err)
		}
		s.h.Write(b)
		n -= int64(len(b))
		s.pos += int64(len(b))
	}
	return nil
}

// maxReadBack is the largest read-back buffer: a few system calls per
// megabyte read back.
const maxReadBack = 256 << 10

// reserveReadBack sizes the hashed outputs' read-back buffers out of a
// budget of memory bytes and returns what is left for row chunks. The
// buffers take at most a quarter of the budget together, each at most
// maxReadBack; they are set aside before any chunk is read rather than
// acquired when a writer first reads back, because a writer waiting for
// budget that chunks hold, while those chunks wait for the writer, would
// deadlock.
func reserveReadBack(files []*outFile, memory int64) int64 {
	var n int64
	for _, f := range files {
		if f.hash != nil {
			n++
		}
	}
	if n == 0 {
		return memory
	}
	per := min(maxReadBack, max(memory/(4*n), 1))
	for _, f := range files {
		if f.hash != nil {
			f.hash.bufSize = int(per)
		}
	}
	return memory - n*per
}

// finish hashes whatever the writes left (nothing, when every tensor was
// written), reading it from the file, and keeps the digest.
func (s *outHash) finish(ctx context.Context) error {
	if s.broken {
		s.h.Reset()
		s.pos = 0
	}
	for s.pos < s.size {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := s.readBack(min(s.size-s.pos, 64<<20)); err != nil {
			return err
		}
	}
	s.sum = hex.EncodeToString(s.h.Sum(nil))
	s.ahead = nil
	return nil
}
