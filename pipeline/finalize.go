package pipeline

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
	"golang.org/x/sync/errgroup"
)

// Finalize ends a run divided into n parts: it checks that every part
// completed for this plan, reads each shared temporary once to verify it
// holds exactly the plan's header, zeros between tensors, and the bytes
// each part recorded, and commits the set as Execute does (synced, the
// manifest written from the digests of that same read, every output renamed
// into place at once, the records removed). A part missing or stale is an
// error before anything is locked or written; on any error the
// temporaries stay, for the parts named to be run again.
func Finalize(ctx context.Context, p *Plan, n int, version string, opt ExecOptions) (err error) {
	opt = execDefaults(opt)
	if n < 1 {
		return fmt.Errorf("finalize: %d parts: expected 1 or more", n)
	}
	if len(p.Outputs) == 0 {
		return errors.New("the plan writes no output: nothing to finalize")
	}
	id, err := identify(p, version, n)
	if err != nil {
		return err
	}
	plan := id.digest()
	files := make([]*outFile, len(p.Outputs))
	for i, o := range p.Outputs {
		files[i] = &outFile{out: o, tmp: sharedTemp(o.Path, plan)}
	}
	want := splitSpans(groupPlacements(files), n)
	recs, err := readRecords(p, id, plan, want)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			for _, f := range files {
				if f.f != nil {
					f.f.Close()
				}
				unlockOutput(f.lock)
			}
		}
	}()
	for _, f := range files {
		if f.lock, err = lockOutput(f.out.Path); err != nil {
			return err
		}
		if err = checkDest(f.out.Path); err != nil {
			return err
		}
		if f.f, err = openTemp(f); err != nil {
			return err
		}
	}
	if err = verifyFiles(ctx, files, recs, opt.Threads); err != nil {
		return err
	}
	if m := opt.Manifest; m != nil {
		m.Started = recs[0].Started
		for _, r := range recs {
			if r.Started.Before(m.Started) {
				m.Started = r.Started
			}
		}
	}
	if err = commit(ctx, files, p, opt.Manifest, nil); err != nil {
		return err
	}
	for i := range n {
		os.Remove(recordPath(p, i, n))
	}
	os.Remove(partsDir(p)) // only if empty: records of other runs stay
	return nil
}

// readRecords reads every part's record and checks it against the plan
// and the split. All missing and stale parts are named in one error.
func readRecords(p *Plan, id planIdentity, plan string, want [][]span) ([]*partRecord, error) {
	recs := make([]*partRecord, len(want))
	var missing []string
	var errs []error
	for i := range want {
		path := recordPath(p, i, len(want))
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			missing = append(missing, fmt.Sprint(i))
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("part %d: %w", i, err))
			continue
		}
		r, err := parseRecord(b, i, id, plan, extents(want[i]))
		if err != nil {
			errs = append(errs, fmt.Errorf("part %d of %d (%s): %w: run it again", i, len(want), path, err))
			continue
		}
		recs[i] = r
	}
	if len(missing) > 0 {
		what := "part " + missing[0]
		if len(missing) > 1 {
			what = "parts " + strings.Join(missing, ", ")
		}
		errs = append([]error{fmt.Errorf("%s of %d: %w (no record in %s); run them, or wait for them",
			what, len(want), ErrPartMissing, partsDir(p))}, errs...)
	}
	return recs, errors.Join(errs...)
}

// parseRecord decodes part i's record and checks that it ran this plan
// and wrote exactly the extents the split gives it, each with a digest.
func parseRecord(b []byte, i int, id planIdentity, plan string, want []extent) (*partRecord, error) {
	var r partRecord
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&r); err != nil {
		return nil, fmt.Errorf("%w: unreadable record: %w", ErrPartStale, err)
	}
	if r.Plan != plan || r.Part != i {
		return nil, fmt.Errorf("%w: %s", ErrPartStale, staleWhy(r.Identity, id, r.Part, i))
	}
	if len(r.Extents) != len(want) {
		return nil, fmt.Errorf("%w: it records %d byte ranges, the plan gives it %d", ErrPartStale, len(r.Extents), len(want))
	}
	for k, e := range r.Extents {
		w := want[k]
		if e.File != w.File || e.Offset != w.Offset || e.Bytes != w.Bytes {
			return nil, fmt.Errorf("%w: range %d is %s at %d, %d bytes; the plan gives it %s at %d, %d bytes",
				ErrPartStale, k, e.File, e.Offset, e.Bytes, w.File, w.Offset, w.Bytes)
		}
		if s, err := hex.DecodeString(e.XXH64); err != nil || len(s) != 8 {
			return nil, fmt.Errorf("%w: range %d: xxh64 %q is not 16 hex digits", ErrPartStale, k, e.XXH64)
		}
		r.Extents[k].tensor = w.tensor
	}
	return &r, nil
}

// staleWhy names what differs between the plan a part ran and this one.
func staleWhy(was, now planIdentity, wasPart, part int) string {
	switch {
	case wasPart != part:
		return fmt.Sprintf("its record says part %d", wasPart)
	case was.Parts != now.Parts:
		return fmt.Sprintf("it ran as one of %d parts, not %d", was.Parts, now.Parts)
	case was.Version != now.Version:
		return fmt.Sprintf("it ran mlmf-run %s, this is %s", was.Version, now.Version)
	case was.RecipeSHA256 != now.RecipeSHA256:
		return "the recipe changed since it ran"
	}
	for k, v := range now.Vars {
		if old, ok := was.Vars[k]; !ok || old != v {
			return fmt.Sprintf("var %s was %q, now %q", k, old, v)
		}
	}
	old := map[string]inputID{}
	for _, in := range was.Inputs {
		old[in.Path] = in
	}
	for _, in := range now.Inputs {
		o, ok := old[in.Path]
		switch {
		case !ok:
			return fmt.Sprintf("input %s was not read by it", in.Path)
		case o.Bytes != in.Bytes || !o.Modified.Equal(in.Modified):
			return fmt.Sprintf("input %s changed since it ran (%d bytes modified %s, now %d bytes modified %s)",
				in.Path, o.Bytes, o.Modified.Format(time.RFC3339Nano), in.Bytes, in.Modified.Format(time.RFC3339Nano))
		}
	}
	if len(was.Inputs) != len(now.Inputs) {
		return "it read other inputs"
	}
	return "the outputs' layout differs"
}

// openTemp opens an output's shared temporary, which must have the
// planned size.
func openTemp(f *outFile) (*os.File, error) {
	t, err := os.OpenFile(f.tmp, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: its shared temporary %s is missing, though every part recorded its writes: were the parts run where this folder is the same shared filesystem? Run them again", f.out.Path, f.tmp)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.out.Path, err)
	}
	st, err := t.Stat()
	if err == nil && (!st.Mode().IsRegular() || st.Size() != f.out.Size) {
		err = fmt.Errorf("%s: %d bytes, expected a regular file of %d bytes", f.tmp, st.Size(), f.out.Size)
	}
	if err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// verifyFiles verifies every temporary (one file a thread) and keeps each
// one's digest for the manifest.
func verifyFiles(ctx context.Context, files []*outFile, recs []*partRecord, threads int) error {
	byFile := map[string][]ownedExtent{}
	for part, r := range recs {
		for _, e := range r.Extents {
			byFile[e.File] = append(byFile[e.File], ownedExtent{e, part})
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(threads, 1))
	for _, f := range files {
		g.Go(func() error {
			d, err := verifyFile(gctx, f, byFile[f.out.Path])
			f.digest = &d
			return err
		})
	}
	return g.Wait()
}

type ownedExtent struct {
	extent
	part int
}

// verifyFile reads f's temporary once, in order: its header must be the
// plan's, each extent must hash to what its part recorded, and every other
// byte must be zero, as in a file one process writes. The sha256 of the
// whole is the manifest's.
func verifyFile(ctx context.Context, f *outFile, ext []ownedExtent) (FileDigest, error) {
	slices.SortFunc(ext, func(a, b ownedExtent) int { return cmp.Compare(a.Offset, b.Offset) })
	whole := sha256.New()
	buf := make([]byte, 1<<20)
	pos := int64(0)
	// read feeds n bytes from pos to the whole-file hash and to check.
	read := func(n int64, check func([]byte) error) error {
		for n > 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
			b := buf[:min(n, int64(len(buf)))]
			if _, err := f.f.ReadAt(b, pos); err != nil {
				return fmt.Errorf("%s: reading at offset %d: %w", f.tmp, pos, err)
			}
			whole.Write(b)
			if err := check(b); err != nil {
				return err
			}
			pos += int64(len(b))
			n -= int64(len(b))
		}
		return nil
	}
	zeros := func(b []byte) error {
		if i := slices.IndexFunc(b, func(c byte) bool { return c != 0 }); i >= 0 {
			return fmt.Errorf("%s: byte at offset %d is %#x where the plan has padding (0): the file was changed outside the parts; run every part again", f.tmp, pos+int64(i), b[i])
		}
		return nil
	}
	prefix := f.out.Prefix
	if err := read(int64(len(prefix)), func(b []byte) error {
		if !bytes.Equal(b, prefix[pos:pos+int64(len(b))]) {
			return fmt.Errorf("%s: the header differs from the plan's: run every part again", f.tmp)
		}
		return nil
	}); err != nil {
		return FileDigest{}, err
	}
	for _, e := range ext {
		if e.Offset < pos {
			return FileDigest{}, fmt.Errorf("%s: tensor %q at offset %d overlaps what precedes it (offset %d)", f.out.Path, e.tensor, e.Offset, pos)
		}
		if err := read(e.Offset-pos, zeros); err != nil {
			return FileDigest{}, err
		}
		h := xxhash.New()
		if err := read(e.Bytes, func(b []byte) error { h.Write(b); return nil }); err != nil {
			return FileDigest{}, err
		}
		if got := hex.EncodeToString(h.Sum(nil)); got != e.XXH64 {
			return FileDigest{}, fmt.Errorf("%s: tensor %q, bytes %d to %d, differ from what part %d recorded: %w: run part %d again, then finalize",
				f.tmp, e.tensor, e.Offset, e.Offset+e.Bytes, e.part, ErrPartStale, e.part)
		}
	}
	if err := read(f.out.Size-pos, zeros); err != nil {
		return FileDigest{}, err
	}
	return FileDigest{Path: f.out.Path, Bytes: pos, SHA256: hex.EncodeToString(whole.Sum(nil))}, nil
}
