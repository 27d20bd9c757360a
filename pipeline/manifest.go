package pipeline

import (
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

// WriteManifest hashes inputs and outputs (in parallel, one file per core)
// and writes the manifest atomically beside the first output.
func WriteManifest(p *Plan, version string, started time.Time, threads int) (string, error) {
	path := ManifestPath(p)
	if path == "" {
		return "", nil
	}
	m := Manifest{Tool: "mlmf-run", Version: version, Recipe: p.Recipe.File, RecipeSHA256: p.Recipe.SHA256,
		Vars: p.Recipe.Vars, Started: started.UTC()}
	inputs := map[string]bool{}
	for _, s := range p.Stages {
		for _, f := range s.Out.Files {
			inputs[f] = true
		}
		m.Stages = append(m.Stages, StageRecord{ID: s.Decl.ID, Kind: s.Decl.Kind, Inputs: s.Decl.Inputs, With: s.Decl.With})
	}
	in := sortedKeys(inputs)
	m.Inputs = make([]FileDigest, len(in))
	m.Outputs = make([]FileDigest, len(p.Outputs))
	var g errgroup.Group
	g.SetLimit(max(threads, 1))
	for i, f := range in {
		g.Go(func() (err error) { m.Inputs[i], err = digest(f); return })
	}
	for i, o := range p.Outputs {
		g.Go(func() (err error) { m.Outputs[i], err = digest(o.Path); return })
	}
	if err := g.Wait(); err != nil {
		return "", err
	}
	sort.Slice(m.Outputs, func(i, j int) bool { return m.Outputs[i].Path < m.Outputs[j].Path })
	m.Finished = time.Now().UTC()
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return "", err
	}
	return path, writeAtomic(path, append(b, '\n'))
}

func digest(path string) (FileDigest, error) {
	f, err := os.Open(path)
	if err != nil {
		return FileDigest{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return FileDigest{}, fmt.Errorf("hashing %s: %w", path, err)
	}
	return FileDigest{Path: path, Bytes: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// writeAtomic writes a small file through a synced temporary and a rename.
func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
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
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}
