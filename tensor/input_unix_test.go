//go:build unix

package tensor

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestOpenInputRefusesNonRegular checks that a named pipe, a device and a
// directory are refused at once with the path and what it is, while a
// regular file and a symlink to one open. A pipe without a writer made the
// loaders block forever in open.
func TestOpenInputRefusesNonRegular(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "model.safetensors")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	regular := filepath.Join(dir, "config.json")
	if err := os.WriteFile(regular, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link.json")
	if err := os.Symlink(regular, link); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{fifo, "open " + fifo + ": not a regular file: it is a named pipe (FIFO), expected a regular file"},
		{"/dev/null", "open /dev/null: not a regular file: it is a character device, expected a regular file"},
		{dir, "open " + dir + ": not a regular file: it is a directory, expected a regular file"},
	} {
		for name, open := range map[string]func(string) error{
			"OpenInput": func(p string) error { _, _, err := OpenInput(p); return err },
			"ReadInput": func(p string) error { _, err := ReadInput(p); return err },
			"MapFile":   func(p string) error { _, _, err := MapFile(p); return err },
		} {
			done := make(chan error, 1)
			go func() { done <- open(tc.path) }()
			select {
			case err := <-done:
				if err == nil || err.Error() != tc.want || !errors.Is(err, ErrNotRegular) {
					t.Errorf("%s(%s): %v, want %q", name, tc.path, err, tc.want)
				}
			case <-time.After(5 * time.Second):
				unblock(fifo)
				t.Fatalf("%s(%s) still blocked after 5 s", name, tc.path)
			}
		}
	}
	for _, p := range []string{regular, link} {
		if b, err := ReadInput(p); err != nil || string(b) != "{}" {
			t.Errorf("ReadInput(%s) = %q, %v", p, b, err)
		}
	}
}

// unblock opens the pipe for writing and closes it, so a reader blocked in
// open returns (and sees end of file) instead of outliving the test.
func unblock(fifo string) {
	if f, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil { // fails at once without a reader
		f.Close()
	}
}
