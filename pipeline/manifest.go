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
	// OnHash, when set, is told before hashing starts: how many files, and
	// their bytes.
	OnHash func(files int, bytes int64)
}

// manifestTemp hashes the inputs and the outputs' synced temporaries (in
// parallel, one file per thread, stopping when ctx ends) and writes the
// manifest to a synced temporary beside its final name, for commit to move
// into place with the outputs. The lock on the first output covers the
// manifest, so stale temporaries of it are removed here.
func manifestTemp(ctx context.Context, p *Plan, files []*outFile, opt *ManifestOptions) (*swap, error) {
	path := ManifestPath(p)
	m := Manifest{Tool: "mlmf-run", Version: opt.Version, Recipe: p.Recipe.File, RecipeSHA256: p.Recipe.SHA256,
		Vars: p.Recipe.Vars, Started: opt.Started.UTC()}
	inputs := map[string]bool{}
	for _, s := range p.Stages {
		for _, f := range s.Out.Files {
			inputs[f] = true
		}
		m.Stages = append(m.Stages, StageRecord{ID: s.Decl.ID, Kind: s.Decl.Kind, Inputs: s.Decl.Inputs, With: s.Decl.With})
	}
	in := sortedKeys(inputs)
	if opt.OnHash != nil {
		opt.OnHash(unhashed(in, files))
	}
	m.Inputs = make([]FileDigest, len(in))
	m.Outputs = make([]FileDigest, len(files))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(opt.Threads, 1))
	for i, f := range in {
		g.Go(func() (err error) { m.Inputs[i], err = digest(gctx, f, f); return })
	}
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
	if err := g.Wait(); err != nil {
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
