package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// Manifest records what a run read, did and wrote, so an output can be
// traced back to its inputs and recipe and checked later.
type Manifest struct {
	Tool         string            `json:"tool"`
	Version      string            `json:"version"`
	Recipe       string            `json:"recipe"`
	RecipeSHA256 string            `json:"recipe_sha256"`
	Vars         map[string]string `json:"vars"`
	Started      time.Time         `json:"started"`
	Finished     time.Time         `json:"finished"`
	Inputs       []FileDigest      `json:"inputs"`
	Outputs      []FileDigest      `json:"outputs"`
	Stages       []StageRecord     `json:"stages"`
}

// FileDigest is a file with its size and sha256.
type FileDigest struct {
	Path   string `json:"path"`
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// StageRecord is one stage with its resolved parameters.
type StageRecord struct {
	ID     string   `json:"id"`
	Kind   string   `json:"kind"`
	Inputs []string `json:"inputs,omitempty"`
	With   Params   `json:"with,omitempty"`
}

// ManifestPath is where the manifest of a plan goes: beside its first output.
func ManifestPath(p *Plan) string {
	if len(p.Outputs) == 0 {
		return ""
	}
	return p.Outputs[0].Path + ".manifest.json"
}

// ManifestOptions asks Execute for a manifest, committed with the outputs:
// a run whose manifest cannot be written leaves no output either.
type ManifestOptions struct {
	Version string
	Started time.Time
	// Threads bounds how many files are hashed at once.
	Threads int
	// OnHash, when set, is told when the outputs are written: how many
	// files, and bytes, the manifest still has to hash (inputs are hashed
	// while the run streams, outputs as they are written).
	OnHash func(files int, bytes int64)
}

// manifestTemp takes the inputs' digests from ins (computed while the run
// streamed; hashed here when nil) and the outputs' from a finalize's
// verifying read or their writers (or hashes the synced temporaries of the
// others, in parallel, stopping when ctx ends), and writes the manifest to a synced temporary beside its final
// name, for commit to move into place with the outputs. The lock on the
// first output covers the manifest, so stale temporaries of it are removed
// here.
func manifestTemp(ctx context.Context, p *Plan, files []*outFile, opt *ManifestOptions, ins *inputHashes) (*swap, error) {
	path := ManifestPath(p)
	m := Manifest{Tool: "mlmf-run", Version: opt.Version, Recipe: p.Recipe.File, RecipeSHA256: p.Recipe.SHA256,
		Vars: p.Recipe.Vars, Started: opt.Started.UTC()}
	for _, s := range p.Stages {
		m.Stages = append(m.Stages, StageRecord{ID: s.Decl.ID, Kind: s.Decl.Kind, Inputs: s.Decl.Inputs, With: s.Decl.With})
	}
	if ins == nil { // a finalize: the parts did not hash the inputs
		ins = hashInputs(ctx, p, opt.Threads)
		defer ins.stop()
	}
	if opt.OnHash != nil {
		opt.OnHash(unhashed(ins, files))
	}
	m.Outputs = make([]FileDigest, len(files))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(opt.Threads, 1))
	for i, f := range files {
		if f.digest != nil { // verified by a finalize
			m.Outputs[i] = *f.digest
			continue
		}
		if f.hash != nil && f.hash.sum != "" { // hashed as written
			m.Outputs[i] = FileDigest{Path: f.out.Path, Bytes: f.out.Size, SHA256: f.hash.sum}
			continue
		}
		g.Go(func() (err error) { m.Outputs[i], err = digest(gctx, f.tmp, f.out.Path); return })
	}
	err := g.Wait()
	if err == nil {
		m.Inputs, err = ins.wait(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	sort.Slice(m.Outputs, func(i, j int) bool { return m.Outputs[i].Path < m.Outputs[j].Path })
	m.Finished = time.Now().UTC()
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := removeStale(path); err != nil {
		return nil, err
	}
	tmp, err := writeTemp(path, append(b, '\n'))
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", path, err)
	}
	return &swap{tmp: tmp, final: path}, nil
}

// inputHashes are the digests of a plan's input files, computed in the
// background from the start of the run: the run reads its inputs through
// memory maps, at offsets the sources keep to themselves, from several
// workers and not always whole (headers, dropped tensors, configs), so the
// digests read each file again, from the page cache the run fills, while
// the workers compute instead of after them.
type inputHashes struct {
	files   []string
	digests []FileDigest
	left    []atomic.Bool // not yet hashed
	done    chan struct{}
	err     error
	cancel  context.CancelFunc
}

// hashInputs starts hashing p's inputs, threads files at a time.
func hashInputs(ctx context.Context, p *Plan, threads int) *inputHashes {
	set := map[string]bool{}
	for _, s := range p.Stages {
		for _, f := range s.Out.Files {
			set[f] = true
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	h := &inputHashes{files: sortedKeys(set), done: make(chan struct{}), cancel: cancel}
	h.digests = make([]FileDigest, len(h.files))
	h.left = make([]atomic.Bool, len(h.files))
	for i := range h.left {
		h.left[i].Store(true)
	}
	go func() {
		defer close(h.done)
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(max(threads, 1))
		for i, f := range h.files {
			g.Go(func() (err error) {
				h.digests[i], err = digest(gctx, f, f)
				h.left[i].Store(false)
				return err
			})
		}
		h.err = g.Wait()
	}()
	return h
}

// wait returns the digests when all are done, or ctx's error first.
func (h *inputHashes) wait(ctx context.Context) ([]FileDigest, error) {
	select {
	case <-h.done:
		return h.digests, h.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// stop ends the hashing and waits for it.
func (h *inputHashes) stop() {
	h.cancel()
	<-h.done
}

// digest hashes the file at path, recording it under name.
func digest(ctx context.Context, path, name string) (FileDigest, error) {
	f, _, err := tensor.OpenInput(path) // refuses a FIFO swapped in since planning
	if err != nil {
		return FileDigest{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, ctxReader{ctx, f})
	if err != nil {
		return FileDigest{}, fmt.Errorf("hashing %s: %w", name, err)
	}
	return FileDigest{Path: name, Bytes: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// ctxReader ends a read loop when its context ends: hashing a large model
// takes minutes, and Ctrl-C must stop it.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// writeTemp writes a small file to a synced temporary beside path, with
// the mode an output gets, and returns its name.
func writeTemp(path string, data []byte) (string, error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+tmpInfix+"*")
	if err != nil {
		return "", err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(outputMode())
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}
