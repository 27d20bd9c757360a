package pipeline

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrOutputBusy is the cause when another run holds an output's lock.
var ErrOutputBusy = errors.New("another run is writing this output")

// errLockHeld is tryLock's answer when another process holds the lock.
var errLockHeld = errors.New("lock held")

// lockName is the lock file of an output: hidden, beside it.
func lockName(path string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".lock")
}

// lockOutput takes an exclusive advisory lock (flock) on path's lock file
// for the whole run, so that two runs writing one output cannot interleave
// (the manifest of one describing the other's file). It does not wait: the
// second run fails at once, naming the output, instead of replacing the
// first run's result a moment after it was reported written.
//
// The lock file is removed by its holder before unlocking, so a run that
// locked a file just unlinked checks that it still holds the one on disk
// and otherwise starts again. A killed run leaves its lock file, which the
// kernel has unlocked: the next run takes it.
func lockOutput(path string) (*os.File, error) {
	name := lockName(path)
	for range 100 {
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o666)
		if err != nil {
			return nil, fmt.Errorf("%s: creating its lock file: %w", path, err)
		}
		if err := tryLock(f); err != nil {
			f.Close()
			if err == errLockHeld {
				return nil, fmt.Errorf("%s: %w (it holds %s); wait for it or choose another output", path, ErrOutputBusy, name)
			}
			return nil, fmt.Errorf("%s: locking %s: %w", path, name, err)
		}
		held, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if onDisk, err := os.Stat(name); err == nil && os.SameFile(held, onDisk) {
			return f, nil
		}
		f.Close()
	}
	return nil, fmt.Errorf("%s: lock file %s keeps being replaced: %w", path, name, ErrOutputBusy)
}

// unlockOutput removes the lock file, then releases the lock.
func unlockOutput(f *os.File) {
	if f == nil {
		return
	}
	os.Remove(f.Name())
	f.Close()
}

// Temporaries and backups are named after their output, with a suffix of
// decimal digits (what os.CreateTemp puts for its "*").
const (
	tmpInfix    = ".tmp-"
	backupInfix = ".old-"
)

// removeStale removes the temporaries and backups that killed runs left
// beside path: exactly ".NAME.tmp-DIGITS" and ".NAME.old-DIGITS", nothing
// else. The caller holds path's lock, so no live run owns any of them.
func removeStale(path string) error {
	dir, base := filepath.Dir(path), filepath.Base(path)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("%s: looking for stale temporaries: %w", path, err)
	}
	var errs []error
	for _, e := range ents {
		if !e.Type().IsRegular() || !isOurs(e.Name(), base) {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("removing stale temporary: %w", err))
		}
	}
	return errors.Join(errs...)
}

// isOurs reports whether name is a temporary or backup of the output base.
func isOurs(name, base string) bool {
	for _, infix := range []string{tmpInfix, backupInfix} {
		digits, ok := strings.CutPrefix(name, "."+base+infix)
		if ok && digits != "" && strings.Trim(digits, "0123456789") == "" {
			return true
		}
	}
	return false
}
