package imatrix

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strings"
)

// readLegacy reads the .dat format older llama-imatrix versions wrote:
//
//	int32 n_entries
//	n_entries × { int32 len, name[len], int32 ncall, int32 nval, float32 values[nval] }
//	optional: int32 chunk_count, int32 len, dataset[len]
//
// all little-endian. Every length is checked against the bytes left
// before anything is allocated.
func readLegacy(r io.ReaderAt, size int64, name string) (*Matrix, error) {
	d := &legacyReader{r: r, size: size, name: name}
	n, err := d.i32("entry count")
	if err != nil {
		return nil, err
	}
	if n < 1 {
		return nil, d.fail(0, "entry count %d, want at least 1 (not an imatrix file?)", n)
	}
	// The smallest entry is 16 bytes: empty name, ncall, nval 1, one value.
	if int64(n) > (size-4)/16 {
		return nil, d.fail(0, "entry count %d, but %d bytes hold at most %d entries", n, size, (size-4)/16)
	}
	m := &Matrix{File: name, Legacy: true, Entries: make(map[string]*Entry, n)}
	for i := range n {
		at := d.off
		l, err := d.i32(fmt.Sprintf("name length of entry %d", i))
		if err != nil {
			return nil, err
		}
		if l < 0 || int64(l) > d.size-d.off {
			return nil, d.fail(at, "entry %d: name length %d, want 0..%d (the bytes left)", i, l, d.size-d.off)
		}
		raw, err := d.bytes(int64(l), fmt.Sprintf("name of entry %d", i))
		if err != nil {
			return nil, err
		}
		// llama.cpp keeps the name up to its first NUL.
		key, _, _ := strings.Cut(string(raw), "\x00")
		ncall, err := d.i32(fmt.Sprintf("call count of entry %q", key))
		if err != nil {
			return nil, err
		}
		at = d.off
		nval, err := d.i32(fmt.Sprintf("value count of entry %q", key))
		if err != nil {
			return nil, err
		}
		if nval < 1 || int64(nval) > (d.size-d.off)/4 {
			return nil, d.fail(at, "entry %q: value count %d, want 1..%d (the values the bytes left hold)", key, nval, (d.size-d.off)/4)
		}
		b, err := d.bytes(4*int64(nval), fmt.Sprintf("values of entry %q", key))
		if err != nil {
			return nil, err
		}
		e := &Entry{Sums: make([]float32, nval), Counts: []int64{int64(ncall)}}
		for j := range e.Sums {
			e.Sums[j] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*j:]))
		}
		m.Entries[key] = e // a repeated name replaces the earlier entry, as in llama.cpp
	}
	d.trailer(m)
	return m, nil
}

// trailer reads the optional chunk count and dataset name. llama.cpp reads
// them with stream reads that keep whatever bytes arrived, so a short tail
// gives a partial count and no dataset, never an error; so here.
func (d *legacyReader) trailer(m *Matrix) {
	rest := d.size - d.off
	if rest <= 0 {
		return
	}
	var b [4]byte
	k := min(rest, 4)
	if _, err := d.r.ReadAt(b[:k], d.off); err != nil {
		return
	}
	m.ChunkCount = int64(int32(binary.LittleEndian.Uint32(b[:])))
	d.off += k
	if k < 4 || d.size-d.off < 4 {
		return
	}
	l, err := d.i32("dataset length")
	if err != nil || l <= 0 || int64(l) > d.size-d.off {
		return
	}
	if raw, err := d.bytes(int64(l), "dataset"); err == nil {
		ds, _, _ := strings.Cut(string(raw), "\x00")
		m.Datasets = append(m.Datasets, ds)
	}
}

type legacyReader struct {
	r         io.ReaderAt
	size, off int64
	name      string
	scratch   [4]byte
}

func (d *legacyReader) fail(off int64, format string, args ...any) error {
	return &FormatError{File: d.name, Offset: off, Msg: fmt.Sprintf(format, args...)}
}

func (d *legacyReader) bytes(n int64, what string) ([]byte, error) {
	if n > d.size-d.off {
		return nil, d.fail(d.off, "%s: %d bytes, but the file ends after %d", what, n, d.size-d.off)
	}
	b := make([]byte, n)
	if _, err := d.r.ReadAt(b, d.off); err != nil {
		return nil, &FormatError{File: d.name, Offset: d.off, Msg: "reading " + what, Err: err}
	}
	d.off += n
	return b, nil
}

func (d *legacyReader) i32(what string) (int32, error) {
	if d.size-d.off < 4 {
		return 0, d.fail(d.off, "%s: the file ends after %d bytes, want 4", what, max(0, d.size-d.off))
	}
	if _, err := d.r.ReadAt(d.scratch[:], d.off); err != nil {
		return 0, &FormatError{File: d.name, Offset: d.off, Msg: "reading " + what, Err: err}
	}
	d.off += 4
	return int32(binary.LittleEndian.Uint32(d.scratch[:])), nil
}
