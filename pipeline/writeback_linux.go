package pipeline

import (
	"os"

	"golang.org/x/sys/unix"
)

// startWriteback asks the kernel to start writing [off, off+n) of f to disk
// now, without waiting for it. Commit fsyncs every output before renaming
// it; left to that moment, the whole file is written back while nothing else
// runs, where started as each chunk lands it overlaps the rest of the run.
// Failure is not an error: the fsync still writes and reports what this
// did not.
func startWriteback(f *os.File, off, n int64) {
	_ = unix.SyncFileRange(int(f.Fd()), off, n, unix.SYNC_FILE_RANGE_WRITE)
}
