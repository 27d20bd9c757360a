package pipeline

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/cespare/xxhash/v2"
	"golang.org/x/sync/errgroup"
)

// A run divided into parts: N processes, on as many machines, each stream
// a share of the plan's rows (splitSpans) into the outputs' shared
// temporaries on a shared filesystem, and each records what it wrote; one
// finalize step (finalize.go) checks every record against the plan, hashes
// and renames the set into place. Slurm array tasks and Kubernetes Indexed
// Job pods are such processes; docs/distributed.md says how to run them.

// PartOptions selects one part of a run divided into N, or its finalize.
type PartOptions struct {
	// N is the number of parts; 0 runs the whole plan in one process.
	N int
	// I is the part to run, 0 to N-1.
	I int
	// Finalize verifies every part and commits the outputs instead of
	// running a part.
	Finalize bool
}

// ErrPartMissing is the cause when finalize finds a part that has not
// completed (it may still be running).
var ErrPartMissing = errors.New("part not completed")

// ErrPartStale is the cause when a part completed for another plan: the
// recipe, a var, an input or the tool changed since it ran.
var ErrPartStale = errors.New("part completed for another plan")

// planIdentity is what makes two processes' plans the same run: what they
// write depends on nothing else (threads and memory change no byte).
type planIdentity struct {
	Tool         string            `json:"tool"`
	Version      string            `json:"version"`
	RecipeSHA256 string            `json:"recipe_sha256"`
	Vars         map[string]string `json:"vars"`
	Inputs       []inputID         `json:"inputs"`
	// Layout is the sha256 of every output's path, size, header and
	// tensors' names, types, shapes and offsets.
	Layout string `json:"layout"`
	Parts  int    `json:"parts"`
}

// inputID identifies an input without reading it: hashing a 1.3 TB
// checkpoint in every part would cost more than the part.
type inputID struct {
	Path     string    `json:"path"`
	Bytes    int64     `json:"bytes"`
	Modified time.Time `json:"modified"`
}

func identify(p *Plan, version string, n int) (planIdentity, error) {
	id := planIdentity{Tool: "mlmf-run", Version: version, RecipeSHA256: p.Recipe.SHA256, Vars: p.Recipe.Vars, Parts: n}
	if id.Vars == nil {
		id.Vars = map[string]string{}
	}
	seen := map[string]bool{}
	for _, s := range p.Stages {
		for _, f := range s.Out.Files {
			if seen[f] {
				continue
			}
			seen[f] = true
			st, err := os.Stat(f)
			if err != nil {
				return id, err
			}
			id.Inputs = append(id.Inputs, inputID{Path: absPath(f), Bytes: st.Size(), Modified: st.ModTime().UTC()})
		}
	}
	slices.SortFunc(id.Inputs, func(a, b inputID) int { return cmp.Compare(a.Path, b.Path) })
	h := sha256.New()
	for _, o := range p.Outputs {
		fmt.Fprintf(h, "file %q %d %x\n", absPath(o.Path), o.Size, sha256.Sum256(o.Prefix))
		for _, pl := range o.Tensors {
			fmt.Fprintf(h, "tensor %q %s %v %d\n", pl.T.Name, pl.T.DType, pl.T.Shape, pl.Offset)
		}
	}
	id.Layout = hex.EncodeToString(h.Sum(nil))
	return id, nil
}

// digest is the plan's identity in one string; it names the shared
// temporaries, so a changed plan never writes into an old plan's bytes.
func (id planIdentity) digest() string {
	b, _ := json.Marshal(id) // map keys sorted: deterministic
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// partRecord is what a completed part leaves beside the outputs: the plan
// it ran and a digest of every byte range it wrote.
type partRecord struct {
	Plan     string       `json:"plan"`
	Part     int          `json:"part"`
	Identity planIdentity `json:"identity"`
	Host     string       `json:"host"`
	Started  time.Time    `json:"started"`
	Finished time.Time    `json:"finished"`
	Extents  []extent     `json:"extents"`
}

// extent is a range of one output that one part wrote.
type extent struct {
	File   string `json:"file"`
	Offset int64  `json:"offset"`
	Bytes  int64  `json:"bytes"`
	// XXH64 is the range's xxHash64 in hex: the records guard against
	// lost or changed writes, not an adversary (who could rewrite the
	// records as well), and at 10 GB/s it costs the finalize next to
	// nothing beside the manifest's sha256 of the same bytes.
	XXH64  string `json:"xxh64,omitempty"`
	tensor string // for messages
}

// extents lists the byte ranges a part's spans write: for every placement
// of every span, its rows' bytes, which are consecutive in its file.
func extents(spans []span) []extent {
	var out []extent
	for _, s := range spans {
		for _, p := range s.g.placements() {
			rb := p.t.RowBytes()
			out = append(out, extent{File: p.file.out.Path, Offset: p.off + s.lo*rb, Bytes: (s.hi - s.lo) * rb, tensor: p.t.Name})
		}
	}
	return out
}

// partsDir holds the part records, beside the first output.
func partsDir(p *Plan) string {
	first := p.Outputs[0].Path
	return filepath.Join(filepath.Dir(first), "."+filepath.Base(first)+".parts")
}

func recordPath(p *Plan, i, n int) string {
	return filepath.Join(partsDir(p), fmt.Sprintf("part-%d-of-%d.json", i, n))
}

// sharedTemp is an output's temporary that every part writes into: named
// after the plan, so every part finds it and no other plan touches it.
func sharedTemp(path, plan string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".part-"+plan[:16])
}

// ExecutePart runs part opt.Part.I of N: it writes its rows into the
// outputs' shared temporaries (creating them if it comes first), syncs
// them, hashes what it wrote and records that beside the outputs. Running
// a part again redoes it: its record is removed first and written last,
// so a part killed at any point has none, and the bytes it writes are the
// same every time. A failed part leaves the temporaries, which the other
// parts share, and no record.
func ExecutePart(ctx context.Context, p *Plan, part PartOptions, version string, opt ExecOptions) error {
	opt = execDefaults(opt)
	if part.N < 1 || part.I < 0 || part.I >= part.N {
		return fmt.Errorf("part %d of %d: expected a part from 0 to %d", part.I, part.N, part.N-1)
	}
	if len(p.Outputs) == 0 {
		return errors.New("the plan writes no output: nothing to divide into parts")
	}
	started := time.Now().UTC()
	id, err := identify(p, version, part.N)
	if err != nil {
		return err
	}
	plan := id.digest()
	rec := recordPath(p, part.I, part.N)
	if err := os.MkdirAll(filepath.Dir(rec), 0o755); err != nil {
		return err
	}
	if err := os.Remove(rec); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("removing the old record of part %d: %w", part.I, err)
	}
	files, err := openShared(p.Outputs, plan)
	defer closeShared(files)
	if err != nil {
		return err
	}
	spans := splitSpans(groupPlacements(files), part.N)[part.I]
	if err := stream(ctx, files, spans, opt); err != nil {
		return err
	}
	for _, f := range files {
		if err := f.f.Sync(); err != nil {
			return fmt.Errorf("%s: %w", f.tmp, err)
		}
	}
	ext := extents(spans)
	if err := hashExtents(ctx, files, ext, opt.Threads); err != nil {
		return err
	}
	host, _ := os.Hostname()
	b, err := json.MarshalIndent(partRecord{Plan: plan, Part: part.I, Identity: id, Host: host, Started: started,
		Finished: time.Now().UTC(), Extents: ext}, "", " ")
	if err != nil {
		return err
	}
	tmp, err := writeTemp(rec, append(b, '\n'))
	if err != nil {
		return fmt.Errorf("recording part %d: %w", part.I, err)
	}
	if err := os.Rename(tmp, rec); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("recording part %d: %w", part.I, err)
	}
	syncDirs([]*swap{{final: rec}})
	return nil
}

// openShared opens (creating if absent) every output's shared temporary
// and makes sure it holds the header and has the planned size. Every part
// does this, so whichever comes first creates the file, and the others'
// writes are the same bytes: the header is the plan's, and growing a file
// to its planned size never cuts what another part wrote below it.
func openShared(outs []*OutputFile, plan string) ([]*outFile, error) {
	var files []*outFile
	for _, o := range outs {
		if err := checkDest(o.Path); err != nil {
			return files, err
		}
		if err := os.MkdirAll(filepath.Dir(o.Path), 0o755); err != nil {
			return files, err
		}
		name := sharedTemp(o.Path, plan)
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, outputMode())
		if err != nil {
			return files, fmt.Errorf("%s: %w", o.Path, err)
		}
		files = append(files, &outFile{out: o, tmp: name, f: f})
		st, err := f.Stat()
		if err != nil {
			return files, fmt.Errorf("%s: %w", name, err)
		}
		if !st.Mode().IsRegular() {
			return files, fmt.Errorf("%s is %v: expected the shared temporary of %s", name, st.Mode().Type(), o.Path)
		}
		if st.Size() > o.Size {
			return files, fmt.Errorf("%s: %d bytes, more than the %d planned for %s: remove it and run every part again", name, st.Size(), o.Size, o.Path)
		}
		if _, err := f.WriteAt(o.Prefix, 0); err != nil {
			return files, fmt.Errorf("%s: writing the header: %w", name, err)
		}
		if st.Size() < o.Size {
			if err := f.Truncate(o.Size); err != nil {
				return files, fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	return files, nil
}

func closeShared(files []*outFile) {
	for _, f := range files {
		if f.f != nil {
			f.f.Close()
		}
	}
}

// hashExtents fills in the digest of each extent, read back from the synced
// temporaries, a file's extents on one thread each.
func hashExtents(ctx context.Context, files []*outFile, ext []extent, threads int) error {
	byPath := map[string]*outFile{}
	for _, f := range files {
		byPath[f.out.Path] = f
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(threads, 1))
	for i := range ext {
		e := &ext[i]
		g.Go(func() error {
			h := xxhash.New()
			r := io.NewSectionReader(byPath[e.File].f, e.Offset, e.Bytes)
			if _, err := io.Copy(h, ctxReader{gctx, r}); err != nil {
				return fmt.Errorf("%s: reading back tensor %q at offset %d: %w", byPath[e.File].tmp, e.tensor, e.Offset, err)
			}
			e.XXH64 = hex.EncodeToString(h.Sum(nil))
			return nil
		})
	}
	return g.Wait()
}
