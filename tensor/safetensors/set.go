package safetensors

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// IndexName is the file transformers writes next to a sharded checkpoint.
const IndexName = "model.safetensors.index.json"

// SingleName is the file name of an unsharded checkpoint.
const SingleName = "model.safetensors"

// maxIndexSize bounds the index file read into memory.
const maxIndexSize = 100_000_000

// Set is a checkpoint of one or more memory-mapped safetensors files.
type Set struct {
	// Files are the paths read, shards in name order.
	Files []string
	// Metadata merges the files' __metadata__; where shards disagree on a
	// key, the first shard's value is kept. Nil when no file has any.
	Metadata map[string]string
	// Tensors are in shard order, then each file's data order.
	Tensors []*tensor.Desc
	maps    []*tensor.Mapped
}

// Close unmaps every file. No tensor of the Set may be read afterwards.
func (s *Set) Close() error {
	var errs []error
	for _, m := range s.maps {
		errs = append(errs, m.Close())
	}
	s.maps = nil
	return errors.Join(errs...)
}

// Open opens a checkpoint: a .safetensors file, a *.safetensors.index.json,
// or a folder (its model.safetensors.index.json if present, else
// model.safetensors, else its only *.safetensors file). A sharded set is
// checked against its index: every tensor listed must be in the shard the
// index names, and every tensor of a shard must be listed.
func Open(path string) (*Set, error) {
	return OpenContext(context.Background(), path)
}

// OpenContext is Open that stops between shards once ctx is done, so that
// opening a set of many shards can be interrupted.
func OpenContext(ctx context.Context, path string) (*Set, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		path, err = resolveDir(path)
		if err != nil {
			return nil, err
		}
	}
	s := &Set{}
	if strings.HasSuffix(path, ".json") {
		err = s.openIndex(ctx, path)
	} else {
		_, err = s.add(path)
	}
	if err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func resolveDir(dir string) (string, error) {
	for _, name := range []string{IndexName, SingleName} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.safetensors"))
	if err != nil {
		return "", err
	}
	switch len(files) {
	case 1:
		return files[0], nil
	case 0:
		return "", fmt.Errorf("%s: no %s, %s or other *.safetensors file", dir, IndexName, SingleName)
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = filepath.Base(f)
	}
	return "", fmt.Errorf("%s: %d safetensors files (%s) and no %s to say how they fit together",
		dir, len(files), strings.Join(names, ", "), IndexName)
}

// add maps one file and appends its tensors.
func (s *Set) add(path string) (*File, error) {
	m, size, err := tensor.MapFile(path)
	if err != nil {
		return nil, err
	}
	s.maps = append(s.maps, m)
	sf, err := NewReader(m, size, path)
	if err != nil {
		return nil, err
	}
	s.Files = append(s.Files, path)
	s.Tensors = append(s.Tensors, sf.Tensors...)
	if sf.Metadata != nil && s.Metadata == nil {
		s.Metadata = map[string]string{}
	}
	for k, v := range sf.Metadata {
		if _, ok := s.Metadata[k]; !ok {
			s.Metadata[k] = v
		}
	}
	return sf, nil
}

// openIndex opens every shard the index names and checks they agree.
func (s *Set) openIndex(ctx context.Context, path string) error {
	weightMap, err := readIndex(path)
	if err != nil {
		return err
	}
	var shards []string
	seen := map[string]bool{}
	for _, file := range weightMap {
		if !seen[file] {
			seen[file] = true
			shards = append(shards, file)
		}
	}
	sort.Strings(shards)
	dir := filepath.Dir(path)
	where := map[string]string{} // tensor -> shard it was found in
	var problems []string
	for _, shard := range shards {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !filepath.IsLocal(shard) {
			return fmt.Errorf("%s: weight_map names shard %q outside the index's folder", path, shard)
		}
		f, err := s.add(filepath.Join(dir, shard))
		if err != nil {
			return fmt.Errorf("%s: shard %q: %w", path, shard, err)
		}
		for _, t := range f.Tensors {
			if prev, ok := where[t.Name]; ok {
				problems = append(problems, fmt.Sprintf("tensor %q is in both %s and %s", t.Name, prev, shard))
				continue
			}
			where[t.Name] = shard
			if listed, ok := weightMap[t.Name]; !ok {
				problems = append(problems, fmt.Sprintf("tensor %q in %s is not listed in the index", t.Name, shard))
			} else if listed != shard {
				problems = append(problems, fmt.Sprintf("tensor %q is in %s but the index lists it in %s", t.Name, shard, listed))
			}
		}
	}
	for name, shard := range weightMap {
		if _, ok := where[name]; !ok {
			problems = append(problems, fmt.Sprintf("tensor %q is listed in %s but missing from it", name, shard))
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		if len(problems) > 20 {
			problems = append(problems[:20], fmt.Sprintf("... and %d more", len(problems)-20))
		}
		return fmt.Errorf("%s: index and shards disagree:\n  %s", path, strings.Join(problems, "\n  "))
	}
	return nil
}

// readIndex reads the index's weight_map (tensor -> shard file).
func readIndex(path string) (map[string]string, error) {
	f, st, err := tensor.OpenInput(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st.Size() > maxIndexSize {
		return nil, &FormatError{File: path, Offset: -1, Msg: fmt.Sprintf("index of %d bytes exceeds the limit of %d", st.Size(), maxIndexSize)}
	}
	doc, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	w := newWalker(doc, 0, path)
	var weightMap map[string]string
	err = w.object("", "index", func(k string) error {
		if k != "weight_map" {
			return w.skip(k)
		}
		weightMap = map[string]string{}
		return w.object(k, "weight_map", func(name string) error {
			v, err := w.str(name, "shard file name")
			weightMap[name] = v
			return err
		})
	})
	if err == nil {
		err = w.end()
	}
	if err != nil {
		return nil, err
	}
	if weightMap == nil {
		return nil, &FormatError{File: path, Offset: -1, Msg: "index has no weight_map"}
	}
	return weightMap, nil
}
