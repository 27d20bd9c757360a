package cli

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/mlmf-run/mlmf-run/attest"
	"github.com/mlmf-run/mlmf-run/pipeline"
	"github.com/mlmf-run/mlmf-run/tensor"
)

// manifestFile is a run manifest as read from disk: its bytes (what a
// signature covers) and its decoded content.
type manifestFile struct {
	path string
	abs  string
	raw  []byte
	m    pipeline.Manifest
}

func readManifest(path string) (*manifestFile, error) {
	raw, err := tensor.ReadInput(path)
	if err != nil {
		return nil, usageError{fmt.Errorf("manifest: %w", err)}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, usageError{fmt.Errorf("manifest: %w", err)}
	}
	mf := &manifestFile{path: path, abs: abs, raw: raw}
	if err := json.Unmarshal(raw, &mf.m); err != nil {
		return nil, fmt.Errorf("%s: not a run manifest: %w", path, err)
	}
	if mf.m.Tool != "mlmf-run" || len(mf.m.Outputs) == 0 {
		return nil, fmt.Errorf("%s: not a run manifest: expected tool \"mlmf-run\" and at least one output", path)
	}
	return mf, nil
}

// fileCheck is one file to re-hash: the name it is reported under, where it
// is now, and the sha256 expected (got is filled by checkFiles).
type fileCheck struct {
	name, path, want string
	got              string
	err              error
}

// outputs lists the manifest's outputs where they are now. The run recorded
// paths as it was given them, relative to the folder it ran in; the manifest
// was written beside one output as OUTPUT.manifest.json, which places every
// relative path relative to the manifest, wherever the set was moved. Names
// are relative to the manifest's folder, as a signed statement gives them.
func (mf *manifestFile) outputs() []fileCheck {
	dir := filepath.Dir(mf.abs)
	anchor := "" // the recorded path of the output the manifest sits beside
	for _, o := range mf.m.Outputs {
		if filepath.Base(o.Path)+".manifest.json" == filepath.Base(mf.abs) {
			anchor = o.Path
			break
		}
	}
	var out []fileCheck
	for _, o := range mf.m.Outputs {
		p := o.Path
		if !filepath.IsAbs(p) && anchor != "" && !filepath.IsAbs(anchor) {
			if rel, err := filepath.Rel(filepath.Dir(anchor), p); err == nil {
				p = filepath.Join(dir, rel)
			}
		}
		out = append(out, fileCheck{name: nameFrom(dir, p), path: p, want: o.SHA256})
	}
	return out
}

// subjects lists a signed statement's subjects, named relative to the
// manifest's folder.
func (mf *manifestFile) subjects(st *attest.Statement) []fileCheck {
	dir := filepath.Dir(mf.abs)
	var out []fileCheck
	for _, s := range st.Subject {
		p := filepath.FromSlash(s.Name)
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		out = append(out, fileCheck{name: s.Name, path: p, want: s.Digest["sha256"]})
	}
	return out
}

// nameFrom names a file relative to dir, with forward slashes, or by its
// absolute path when it is elsewhere.
func nameFrom(dir, path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return filepath.ToSlash(path)
	}
	rel, err := filepath.Rel(dir, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return filepath.ToSlash(abs)
	}
	return filepath.ToSlash(rel)
}

// checkFiles re-hashes every file; a cancelled context stops it.
func checkFiles(ctx context.Context, files []fileCheck) []fileCheck {
	for i := range files {
		files[i].got, files[i].err = hashFile(ctx, files[i].path)
	}
	return files
}

// report prints one line per file and returns an error naming every file
// that is missing or changed.
func report(w io.Writer, checks []fileCheck, against string) error {
	var bad []string
	for _, c := range checks {
		switch {
		case c.err != nil:
			fmt.Fprintf(w, "MISSING  %s: %v\n", c.name, c.err)
			bad = append(bad, c.name)
		case c.got != c.want:
			fmt.Fprintf(w, "CHANGED  %s: sha256 %s, %s says %s\n", c.name, c.got, against, c.want)
			bad = append(bad, c.name)
		default:
			fmt.Fprintf(w, "ok       %s\n", c.name)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%d of %d file(s) do not match %s: %s", len(bad), len(checks), against, strings.Join(bad, ", "))
	}
	return nil
}

// hashFile returns a regular file's sha256, checking ctx between blocks so
// Ctrl-C stops the hashing of a large model.
func hashFile(ctx context.Context, path string) (string, error) {
	f, _, err := tensor.OpenInput(path) // a FIFO would block os.Open
	if err != nil {
		return "", err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return "", err
	} else if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s: not a regular file (%s)", path, fi.Mode().Type())
	}
	h := sha256.New()
	buf := make([]byte, 1<<20)
	for {
		if err := ctx.Err(); err != nil {
			return "", err
		}
		n, err := f.Read(buf)
		h.Write(buf[:n])
		if err == io.EOF {
			return hex.EncodeToString(h.Sum(nil)), nil
		}
		if err != nil {
			return "", fmt.Errorf("hashing %s: %w", path, err)
		}
	}
}
