package tensor

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
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
			Err: fmt.Errorf("%w: it is %s, expected a regular file", ErrNotRegular, fileKind(st.Mode()))}
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

func fileKind(m fs.FileMode) string {
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
