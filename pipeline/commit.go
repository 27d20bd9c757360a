package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// outFile is one output being written: its plan, the temporary file beside
// its destination that holds the bytes until commit, and the lock that keeps
// other runs off the output meanwhile.
type outFile struct {
	out  *OutputFile
	tmp  string
	f    *os.File
	lock *os.File
	// digest, when set, is the sha256 of the synced temporary, hashed
	// already (a finalize verifying parts): the manifest takes it.
	digest *FileDigest
	// hash is the file's sha256 as it is written, for the manifest; nil
	// when the run writes none (or writes it in parts).
	hash *outHash
}

// createTemps locks every output, refuses one that became a folder or a
// special file since planning, removes what killed runs left beside it, and
// creates its temporary at full size, hashing what it writes when hashed
// is set. On error it returns what it made so far, for removeTemps.
func createTemps(outs []*OutputFile, hashed bool) ([]*outFile, error) {
	var files []*outFile
	for _, o := range outs {
		f, err := createTemp(o, hashed)
		if f != nil {
			files = append(files, f)
		}
		if err != nil {
			return files, err
		}
	}
	return files, nil
}

func createTemp(o *OutputFile, hashed bool) (*outFile, error) {
	dir := filepath.Dir(o.Path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	lock, err := lockOutput(o.Path)
	if err != nil {
		return nil, err
	}
	of := &outFile{out: o, lock: lock}
	if err := checkDest(o.Path); err != nil {
		return of, err
	}
	if err := removeStale(o.Path); err != nil {
		return of, err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(o.Path)+tmpInfix+"*")
	if err != nil {
		return of, err
	}
	of.tmp, of.f = f.Name(), f
	if err := f.Chmod(outputMode()); err != nil {
		return of, err
	}
	if _, err := f.Write(o.Prefix); err != nil {
		return of, fmt.Errorf("%s: %w", o.Path, err)
	}
	if err := f.Truncate(o.Size); err != nil {
		return of, fmt.Errorf("%s: %w", o.Path, err)
	}
	if hashed {
		of.hash = newOutHash(o, f)
	}
	return of, nil
}

// outputMode is 0666 less the umask: what os.Create would give the file.
// CreateTemp makes 0600 files, right for a temporary, wrong for an output.
// The umask can only be read by setting it, so that happens once, at start.
var outputMode = sync.OnceValue(func() os.FileMode { return 0o666 &^ umask() })

// removeTemps removes the temporaries and releases the locks of a run that
// failed; it is safe after a failed commit, which left no temporary behind.
func removeTemps(files []*outFile) {
	for _, f := range files {
		if f.f != nil {
			f.f.Close()
			os.Remove(f.tmp)
		}
		unlockOutput(f.lock)
		f.lock = nil
	}
}

// commit syncs every output, writes the manifest (when man is not nil) to a
// temporary with the digests of ins and of the outputs, and moves the whole
// set into place at once (swapIn): a failure anywhere leaves every final name as it was. Then
// it syncs the folders so the renames survive a crash, and releases the
// locks.
func commit(ctx context.Context, files []*outFile, p *Plan, man *ManifestOptions, ins *inputHashes) error {
	set := make([]*swap, 0, len(files)+1)
	for _, f := range files {
		if err := f.f.Sync(); err != nil {
			return fmt.Errorf("%s: %w", f.out.Path, err)
		}
		if err := f.f.Close(); err != nil {
			return fmt.Errorf("%s: %w", f.out.Path, err)
		}
		set = append(set, &swap{tmp: f.tmp, final: f.out.Path})
	}
	if man != nil {
		s, err := manifestTemp(ctx, p, files, man, ins)
		if err != nil {
			return err
		}
		set = append(set, s)
	}
	if err := swapIn(set); err != nil {
		return err
	}
	syncDirs(set)
	for _, f := range files {
		unlockOutput(f.lock)
		f.lock = nil
	}
	return nil
}

// syncDirs makes the renames durable. Failures are not errors: the files
// are in place and synced; only a crash in the next moments could lose a
// rename, and not every filesystem can sync a folder.
func syncDirs(set []*swap) {
	dirs := map[string]bool{}
	for _, s := range set {
		dirs[filepath.Dir(s.final)] = true
	}
	for d := range dirs {
		if df, err := os.Open(d); err == nil {
			df.Sync()
			df.Close()
		}
	}
}
