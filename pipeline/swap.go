package pipeline

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

// swap is one file of a set being committed: its temporary, its final
// name, and while the set is in flight the old file's backup.
type swap struct {
	tmp, final string
	backup     string // the old file's second name; "" when there was none
	moved      bool   // the old file was renamed to backup, not linked: final is missing
	done       bool   // tmp is at final
}

// renameFile is os.Rename, a variable so tests can make one fail.
var renameFile = os.Rename

// swapIn moves a set of temporaries to their final names so that the set
// changes as a whole. First every old file gets a second name (a hard link,
// so its own name stays readable meanwhile); then each temporary is renamed
// over its final name, the set's last file last (the manifest, when there is
// one); then the backups go. If anything fails, every final name gets its
// old file back (or is removed, where there was none) and every temporary is
// removed, so a failed commit leaves the old set, never a mix.
//
// Between the first and the last rename, which do no I/O but on metadata, a
// reader listing the folder can see both sets; before and after, success or
// failure, it sees one. A SIGKILL inside that window leaves backups that the
// next run writing the same output removes (removeStale).
func swapIn(set []*swap) (err error) {
	defer func() {
		if err != nil {
			err = errors.Join(err, rollback(set))
		}
	}()
	for _, s := range set {
		if err := s.backUp(); err != nil {
			return err
		}
	}
	for _, s := range set {
		if err := renameFile(s.tmp, s.final); err != nil {
			return fmt.Errorf("%s: %w", s.final, err)
		}
		s.done = true
	}
	for _, s := range set {
		if s.backup != "" {
			os.Remove(s.backup)
		}
	}
	return nil
}

// backUp gives the old file at final, if any, a second name beside it. A
// filesystem without hard links gets the old file renamed instead.
func (s *swap) backUp() error {
	if err := checkDest(s.final); err != nil {
		return err
	}
	if _, err := os.Lstat(s.final); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err != nil {
		return err
	}
	dir, base := filepath.Dir(s.final), filepath.Base(s.final)
	for range 100 {
		name := filepath.Join(dir, "."+base+backupInfix+strconv.FormatUint(uint64(rand.Uint32()), 10))
		err := os.Link(s.final, name)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			if err := renameFile(s.final, name); err != nil {
				return fmt.Errorf("%s: setting the old file aside: %w", s.final, err)
			}
			s.moved = true
		}
		s.backup = name
		return nil
	}
	return fmt.Errorf("%s: no free name for a backup of the old file", s.final)
}

// rollback undoes swapIn in reverse order. What it cannot restore it
// names, with where the old file is kept.
func rollback(set []*swap) error {
	var errs []error
	for i := len(set) - 1; i >= 0; i-- {
		s := set[i]
		switch {
		case s.backup != "" && (s.done || s.moved):
			if err := renameFile(s.backup, s.final); err != nil {
				errs = append(errs, fmt.Errorf("restoring %s: %w (the old file is kept at %s)", s.final, err, s.backup))
			}
		case s.backup != "":
			os.Remove(s.backup)
		case s.done:
			os.Remove(s.final)
		}
		if !s.done {
			os.Remove(s.tmp)
		}
	}
	return errors.Join(errs...)
}
