package tensor

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// ErrNotRegular is the cause of an input refused for not being a regular
// file: a named pipe given as a shard blocks forever (in open, until a
// writer comes, then in read), a device such as /dev/zero never ends, and
// neither can be mapped or read at an offset.
var ErrNotRegular = errors.New("not a regular file")

// OpenInput opens a file a run reads (weights, configs, tokenizers) and
// refuses anything but a regular file, naming it. The open does not block
// on a named pipe (openFlags has O_NONBLOCK where it exists), and the check
// is on the opened descriptor, so what was checked is what is read.
func OpenInput(path string) (*os.File, fs.FileInfo, error) {
	f, err := os.OpenFile(path, openFlags, 0)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, &fs.PathError{Op: "open", Path: path,
			Err: fmt.Errorf("%w: it is %s, expected a regular file", ErrNotRegular, FileKind(st.Mode()))}
	}
	return f, st, nil
}

// ReadInput reads a whole input file, as os.ReadFile does, through
// OpenInput.
func ReadInput(path string) ([]byte, error) {
	f, _, err := OpenInput(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: path, Err: err}
	}
	return b, nil
}

// FileKind names what kind of file a mode is, with its article ("a named
// pipe (FIFO)"), for messages that refuse it.
func FileKind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	}
	return "a file of mode " + m.String()
}

// CheckInside refuses a model-folder file whose content would be copied into
// an output if it is a symbolic link leading out of the folder
// (special_tokens_map.json -> /etc/passwd, or a chat template, would publish
// that file); read it with OpenInput or ReadInput, which refuse a FIFO or a
// device. The one link allowed out is the Hugging Face hub
// cache's own layout, snapshots/REV/NAME -> ../../blobs/HASH.
func CheckInside(dir, p string) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		target, err := filepath.EvalSymlinks(p)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if !inside(dir, target) {
			return fmt.Errorf("%s is a symbolic link to %s, outside the model folder (copy the file itself there)", p, target)
		}
	}
	return nil // OpenInput refuses what is not a regular file
}

// inside reports whether target (resolved) lies in dir, or in the blobs
// folder of the hub cache repository whose snapshot dir is.
func inside(dir, target string) bool {
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return false
	}
	roots := []string{real}
	if snaps := filepath.Dir(real); filepath.Base(snaps) == "snapshots" {
		roots = append(roots, filepath.Join(filepath.Dir(snaps), "blobs"))
	}
	for _, r := range roots {
		if rel, err := filepath.Rel(r, target); err == nil && filepath.IsLocal(rel) {
			return true
		}
	}
	return false
}
