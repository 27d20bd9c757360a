//go:build unix

package tensor

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// pattern is file content that no misplaced read can reproduce by chance.
func pattern(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

func writeTemp(t *testing.T, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.bin")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// mappedRSS sums the resident kilobytes /proc/self/smaps lists for maps of
// path; ok is false where there is no smaps to read or it lists no map of
// path (a figure of 0 kB for a map that is gone would prove nothing).
func mappedRSS(t *testing.T, path string) (kb int64, ok bool) {
	t.Helper()
	if runtime.GOOS != "linux" {
		return 0, false
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	in, found := false, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if !strings.HasSuffix(fields[0], ":") { // a map's header line
			in = len(fields) >= 6 && fields[len(fields)-1] == path
			found = found || in
			continue
		}
		if in && fields[0] == "Rss:" && len(fields) >= 2 {
			n, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				t.Fatalf("smaps: %q: %v", sc.Text(), err)
			}
			kb += n
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return kb, found
}

// TestMappedReleasesPages streams a 32 MiB file through ReadAt in 1 MiB
// chunks that do not start on a page boundary and checks that the map's
// pages are no longer resident afterwards. The pages are first made
// resident by touching the map directly, which shows the measurement can
// see them: where it cannot, only the data is checked.
func TestMappedReleasesPages(t *testing.T) {
	const size = 32 << 20
	want := pattern(size)
	path := writeTemp(t, want)
	m, n, err := MapFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if n != size {
		t.Fatalf("size %d, want %d", n, size)
	}
	var sum byte
	for i := 0; i < len(m.data); i += 4096 {
		sum += m.data[i]
	}
	before, measurable := mappedRSS(t, path)
	if measurable && before < size/1024*3/4 {
		t.Logf("touched map shows %d kB resident of %d: cannot observe residency here", before, size/1024)
		measurable = false
	}

	got := make([]byte, 0, size)
	buf := make([]byte, 1<<20)
	head := 100 // a small read first, as a header would be
	k, err := m.ReadAt(buf[:head], 0)
	if err != nil || k != head {
		t.Fatalf("ReadAt(%d, 0) = %d, %v", head, k, err)
	}
	got = append(got, buf[:k]...)
	for off := int64(head); off < size; off += int64(len(buf)) {
		k, err := m.ReadAt(buf, off)
		if err != nil && !(errors.Is(err, io.EOF) && off+int64(k) == size) {
			t.Fatalf("ReadAt at %d: %d, %v", off, k, err)
		}
		got = append(got, buf[:k]...)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("data read through the map differs from the file")
	}
	if !measurable {
		t.Skipf("no resident-set figures on %s; data checked only (sum %d)", runtime.GOOS, sum)
	}
	after, ok := mappedRSS(t, path)
	if !ok {
		t.Fatalf("%s is no longer mapped: its residency cannot be measured", path)
	}
	// The 100-byte head read is below the release threshold: its page may
	// stay, and nothing else should.
	if limit := int64(os.Getpagesize()/1024) * 4; after > limit {
		t.Errorf("%d kB of the map resident after a streaming read (was %d kB), want at most %d kB", after, before, limit)
	}
}

// TestMappedEdges covers the reads around the ends of a map, an empty
// file, a closed map and a file truncated while mapped.
func TestMappedEdges(t *testing.T) {
	data := pattern(3 * 4096)
	path := writeTemp(t, data)
	m, _, err := MapFile(path)
	if err != nil {
		t.Fatal(err)
	}
	empty, size, err := MapFile(writeTemp(t, nil))
	if err != nil || size != 0 {
		t.Fatalf("empty file: size %d, %v", size, err)
	}
	closed, _, err := MapFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}
	if err := closed.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	tests := []struct {
		name    string
		m       *Mapped
		off     int64
		len     int
		n       int
		wantErr error  // errors.Is target, nil for none
		errText string // substring of the error, when not an errors.Is target
	}{
		{"whole", m, 0, len(data), len(data), nil, ""},
		{"tail", m, int64(len(data)) - 10, 10, 10, nil, ""},
		{"past the end", m, int64(len(data)) - 10, 20, 10, io.EOF, ""},
		{"at the end", m, int64(len(data)), 1, 0, io.EOF, ""},
		{"empty read at the end", m, int64(len(data)), 0, 0, nil, ""},
		{"negative offset", m, -1, 1, 0, nil, "negative offset"},
		{"empty file", empty, 0, 1, 0, io.EOF, ""},
		{"empty file, beyond", empty, 5, 1, 0, io.EOF, ""},
		{"closed", closed, 0, 1, 0, os.ErrClosed, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := make([]byte, tt.len)
			n, err := tt.m.ReadAt(p, tt.off)
			switch {
			case n != tt.n:
				t.Errorf("n = %d, want %d", n, tt.n)
			case tt.wantErr != nil && !errors.Is(err, tt.wantErr):
				t.Errorf("err = %v, want %v", err, tt.wantErr)
			case tt.errText != "" && (err == nil || !strings.Contains(err.Error(), tt.errText)):
				t.Errorf("err = %v, want one saying %q", err, tt.errText)
			case tt.wantErr == nil && tt.errText == "" && err != nil:
				t.Errorf("err = %v", err)
			case tt.off >= 0 && !bytes.Equal(p[:n], data[tt.off:tt.off+int64(n)]):
				t.Error("wrong bytes")
			}
		})
	}

	// Cut short by someone else: a read past the new end faults, and the
	// fault must come back as an error, not a SIGBUS killing the process.
	if err := os.Truncate(path, 100); err != nil {
		t.Fatal(err)
	}
	_, err = m.ReadAt(make([]byte, 10), 2*4096)
	if err == nil || !strings.Contains(err.Error(), "changed while mapped") {
		t.Fatalf("truncated file: got %v, want an error about the file changing", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestMappedReleasesPagesReadOutOfOrder reads a map in chunks that start
// off page boundaries, each pair of neighbours in reverse order, as workers
// finishing out of order do: the faults of a later read map pages of an
// already released neighbour (the kernel maps whole folios around a fault),
// and those must not stay resident.
func TestMappedReleasesPagesReadOutOfOrder(t *testing.T) {
	const size, chunk = 48 << 20, 100_000
	path := writeTemp(t, pattern(size))
	recache(t, path)
	m, _, err := MapFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if kb, ok := mappedRSS(t, path); !ok {
		t.Skipf("no /proc/self/smaps on %s", runtime.GOOS)
	} else if kb != 0 {
		t.Fatalf("%d kB resident before any read", kb)
	}
	buf := make([]byte, chunk)
	n := (size + chunk - 1) / chunk
	for i := 0; i < n; i++ {
		j := i ^ 1 // 1, 0, 3, 2, ...
		if j >= n {
			j = i
		}
		if _, err := m.ReadAt(buf, int64(j*chunk)); err != nil && !errors.Is(err, io.EOF) {
			t.Fatal(err)
		}
	}
	if kb, _ := mappedRSS(t, path); kb > 1024 {
		t.Errorf("%d kB of a %d kB map resident after reading it all", kb, size>>10)
	}
}

// recache drops the file from the page cache and reads it back with read(2),
// so it is cached the way a checkpoint is after `cat` or a first pass: in
// the large folios readahead makes, not in the small pages of a fresh write.
func recache(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Logf("fadvise: %v (the cache keeps the written pages)", err)
	}
	if _, err := io.Copy(io.Discard, f); err != nil {
		t.Fatal(err)
	}
}
