package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// outFile is one output being written: its plan, and the temporary file
// beside its destination that holds the bytes until commit.
type outFile struct {
	out *OutputFile
	tmp string
	f   *os.File
}

func createTemps(outs []*OutputFile) ([]*outFile, error) {
	var files []*outFile
	for _, o := range outs {
		dir := filepath.Dir(o.Path)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return files, err
		}
		f, err := os.CreateTemp(dir, "."+filepath.Base(o.Path)+".tmp-*")
		if err != nil {
			return files, err
		}
		files = append(files, &outFile{out: o, tmp: f.Name(), f: f})
		if err := f.Chmod(outputMode()); err != nil {
			return files, err
		}
		if _, err := f.Write(o.Prefix); err != nil {
			return files, fmt.Errorf("%s: %w", o.Path, err)
		}
		if err := f.Truncate(o.Size); err != nil {
			return files, fmt.Errorf("%s: %w", o.Path, err)
		}
	}
	return files, nil
}

// outputMode is 0666 less the umask: what os.Create would give the file.
// CreateTemp makes 0600 files, right for a temporary, wrong for an output.
// The umask can only be read by setting it, so that happens once, at start.
var outputMode = sync.OnceValue(func() os.FileMode {
	mask := syscall.Umask(0)
	syscall.Umask(mask)
	return os.FileMode(0o666 &^ mask)
})

func removeTemps(files []*outFile) {
	for _, f := range files {
		f.f.Close()
		os.Remove(f.tmp)
	}
}

// commit syncs and renames every output, then syncs the directories so the
// renames survive a crash.
func commit(files []*outFile) error {
	for _, f := range files {
		if err := f.f.Sync(); err != nil {
			return fmt.Errorf("%s: %w", f.out.Path, err)
		}
		if err := f.f.Close(); err != nil {
			return fmt.Errorf("%s: %w", f.out.Path, err)
		}
	}
	dirs := map[string]bool{}
	for _, f := range files {
		if err := os.Rename(f.tmp, f.out.Path); err != nil {
			return err
		}
		dirs[filepath.Dir(f.out.Path)] = true
	}
	for d := range dirs {
		if df, err := os.Open(d); err == nil {
			df.Sync()
			df.Close()
		}
	}
	return nil
}
