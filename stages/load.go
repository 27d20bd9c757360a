package stages

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/mlmf-run/mlmf-run/pipeline"
	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
	"github.com/mlmf-run/mlmf-run/tensor/safetensors"
	"github.com/mlmf-run/mlmf-run/tensor/torch"
)

// FactSplitParts is the Model.Facts key where load records, for a split
// GGUF input, which file of the set holds each tensor (map[string]int,
// 0-based), for quantize's keep_split.
const FactSplitParts = "split_parts"

const (
	loadPath   = "path"
	loadFormat = "format"
)

var loadSpec = &pipeline.Spec{
	Kind:    "load",
	Summary: "Open a checkpoint (HF folder, safetensors, PyTorch .bin/.pt, GGUF or split GGUF) and read its metadata",
	Params: obj(props{
		loadPath:   str("file or Hugging Face folder"),
		loadFormat: enum("container format; auto guesses from the path", "auto", "safetensors", "torch", "gguf"),
	}, loadPath),
	MinInputs: 0, MaxInputs: 0,
	Examples: []string{"id: src\nkind: load\nwith: {path: ./Llama-3.2-1B}"},
	New: func(p pipeline.Params) (pipeline.Stage, error) {
		s := &loadStage{Format: "auto"}
		return s, p.Decode(s)
	},
}

type loadStage struct {
	Path    string `json:"path"`
	Format  string `json:"format"`
	closers []io.Closer
}

func (s *loadStage) Plan(ctx context.Context, env *pipeline.Env, in []*pipeline.Model) (*pipeline.Model, error) {
	st, err := os.Stat(s.Path)
	if err != nil {
		return nil, fmt.Errorf("path %q: %w", s.Path, errors.Unwrap(err))
	}
	m := &pipeline.Model{Meta: &gguf.Meta{}, Facts: map[string]any{}}
	target := s.Path
	if st.IsDir() {
		m.Dir = s.Path
		if target, err = pickCheckpoint(s.Path, s.Format); err != nil {
			return nil, err
		}
		if m.Config, err = readConfig(s.Path); err != nil {
			return nil, err
		}
	} else if cfg, err := readConfig(filepath.Dir(s.Path)); err == nil && cfg != nil {
		m.Dir, m.Config = filepath.Dir(s.Path), cfg
	}
	format := s.Format
	if format == "auto" {
		format = guessFormat(target)
	}
	if err := s.open(ctx, m, target, format); err != nil {
		return nil, err
	}
	// The index and config.json are read too: an output must not replace
	// them, and the manifest records them.
	if strings.HasSuffix(target, ".index.json") {
		m.Files = append(m.Files, target)
	}
	if m.Config != nil {
		m.Files = append(m.Files, filepath.Join(m.Dir, "config.json"))
	}
	return m, nil
}

func (s *loadStage) open(ctx context.Context, m *pipeline.Model, target, format string) error {
	m.Format = format
	switch format {
	case "safetensors":
		set, err := safetensors.OpenContext(ctx, target)
		if err != nil {
			return err
		}
		s.closers = append(s.closers, set)
		m.Files, m.Tensors, m.Naming = append([]string(nil), set.Files...), set.Tensors, "hf"
	case "torch":
		files, err := torchFiles(target)
		if err != nil {
			return err
		}
		for _, f := range files {
			if err := ctx.Err(); err != nil {
				return err
			}
			tf, c, err := torch.Open(f)
			if err != nil {
				return err
			}
			s.closers = append(s.closers, c)
			m.Files = append(m.Files, f)
			m.Tensors = append(m.Tensors, tf.Tensors...)
		}
		m.Naming = "hf"
	case "gguf":
		f, c, err := gguf.OpenSet(target)
		if err != nil {
			return err
		}
		s.closers = append(s.closers, c)
		m.Files = []string{target}
		for _, p := range f.Parts {
			if p.Name != target {
				m.Files = append(m.Files, p.Name)
			}
		}
		m.Tensors, m.Meta, m.Naming = f.Tensors, f.Meta, "gguf"
		if len(f.Parts) > 1 {
			parts := map[string]int{}
			for i, p := range f.Parts {
				for _, t := range p.Tensors {
					parts[t.Name] = i
				}
			}
			m.Facts[FactSplitParts] = parts
		}
		m.Arch, _ = f.Meta.Str("general.architecture")
	default:
		return fmt.Errorf("%s: cannot tell the container format; set format: safetensors, torch or gguf", target)
	}
	return checkNames(m.Tensors)
}

// Close releases the maps after the run.
func (s *loadStage) Close() error {
	var errs []error
	for _, c := range s.closers {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

func checkNames(ts []*tensor.Desc) error {
	seen := map[string]bool{}
	for _, t := range ts {
		if seen[t.Name] {
			return fmt.Errorf("tensor %q appears twice in the checkpoint", t.Name)
		}
		seen[t.Name] = true
	}
	return nil
}

func guessFormat(p string) string {
	switch ext := strings.ToLower(filepath.Ext(p)); {
	case ext == ".safetensors" || strings.HasSuffix(p, ".safetensors.index.json"):
		return "safetensors"
	case ext == ".gguf":
		return "gguf"
	case ext == ".bin" || ext == ".pt" || ext == ".pth" || strings.HasSuffix(p, ".bin.index.json"):
		return "torch"
	}
	return ""
}

// pickCheckpoint finds the weights in a Hugging Face folder, preferring
// safetensors (as transformers does) over pickles.
func pickCheckpoint(dir, format string) (string, error) {
	cands := []struct{ name, format string }{
		{safetensors.IndexName, "safetensors"}, {safetensors.SingleName, "safetensors"},
		{"pytorch_model.bin.index.json", "torch"}, {"pytorch_model.bin", "torch"},
	}
	for _, c := range cands {
		if format != "auto" && format != c.format {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, c.name)); err == nil {
			return filepath.Join(dir, c.name), nil
		}
	}
	for _, pat := range []string{"*.safetensors", "*.gguf", "*.bin", "*.pt", "*.pth"} {
		if ms, _ := filepath.Glob(filepath.Join(dir, pat)); len(ms) == 1 {
			return ms[0], nil
		}
	}
	return "", fmt.Errorf("%s: no checkpoint found (looked for %s, %s, pytorch_model.bin[.index.json], or a single *.safetensors/*.gguf/*.bin)",
		dir, safetensors.IndexName, safetensors.SingleName)
}

// torchFiles expands a pytorch_model.bin.index.json into its shards.
func torchFiles(target string) ([]string, error) {
	if !strings.HasSuffix(target, ".index.json") {
		return []string{target}, nil
	}
	b, err := tensor.ReadInput(target)
	if err != nil {
		return nil, err
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("%s: %w", target, err)
	}
	// Shards are named by their cleaned path: "a.bin", "./a.bin" and
	// "x/../a.bin" are one file, which an index could otherwise have opened
	// once per spelling, millions of times.
	seen := map[string]bool{}
	var files []string
	for _, f := range idx.WeightMap {
		if !filepath.IsLocal(f) {
			return nil, fmt.Errorf("%s: weight_map names shard %q outside the index's folder", target, f)
		}
		p := filepath.Join(filepath.Dir(target), f)
		if !seen[p] {
			seen[p] = true
			files = append(files, p)
		}
	}
	sortStrings(files)
	return files, nil
}

// readConfig parses config.json if the folder has one.
func readConfig(dir string) (map[string]any, error) {
	b, err := tensor.ReadInput(filepath.Join(dir, "config.json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "config.json"), err)
	}
	return cfg, nil
}
