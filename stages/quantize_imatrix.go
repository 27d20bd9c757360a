package stages

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mlmf-run/mlmf-run/pipeline"

	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
	"github.com/mlmf-run/mlmf-run/tensor/imatrix"
)

// stageImatrix is an importance matrix as llama-quantize prepares it: the
// entries left after include/exclude_weights, normalised, all finite.
type stageImatrix struct {
	path    string
	m       *imatrix.Matrix
	weights map[string][]float32
}

// loadImatrix reads f.Imatrix. It returns nil when no entry survives the
// include/exclude filter: llama-quantize then quantizes as without one
// (and records no quantize.imatrix keys). The stages of one run that name
// the same file (same path, size and modification time) share one read
// of it, and those with the same filter one set of weights: a matrix run
// quantizing to several types holds the imatrix once.
func loadImatrix(env *pipeline.Env, f *llamaFlags) (*stageImatrix, error) {
	file, err := fileKey(f.Imatrix)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", quantImatrix, err)
	}
	v, err := env.Shared(file, func() (any, error) { return imatrixOpen(f.Imatrix) })
	if err != nil {
		return nil, fmt.Errorf("%s: %w", quantImatrix, err)
	}
	m := v.(*imatrix.Matrix)
	if !m.Legacy && !m.HasMetadata {
		return nil, fmt.Errorf("%s: %s: keys %s, %s and %s are missing: llama-quantize refuses a GGUF imatrix without them",
			quantImatrix, f.Imatrix, imatrix.KeyDatasets, imatrix.KeyChunkCount, imatrix.KeyChunkSize)
	}
	sel := imatrixSelection{file, strings.Join(f.IncludeWeights, "\x00"), strings.Join(f.ExcludeWeights, "\x00")}
	v, err = env.Shared(sel, func() (any, error) { return m.Select(f.IncludeWeights, f.ExcludeWeights) })
	if err != nil {
		return nil, fmt.Errorf("%s: %w", quantImatrix, err)
	}
	w := v.(map[string][]float32)
	if len(w) == 0 {
		return nil, nil
	}
	return &stageImatrix{path: f.Imatrix, m: m, weights: w}, nil
}

// imatrixOpen reads an imatrix file; a test counts the reads.
var imatrixOpen = imatrix.Open

// sameFile identifies a file's contents for sharing a read of it between
// stages: its absolute path, size and modification time.
type sameFile struct {
	path  string
	size  int64
	mtime int64
}

// fileKey stats path.
func fileKey(path string) (sameFile, error) {
	st, err := os.Stat(path)
	if err != nil {
		return sameFile{}, err
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return sameFile{}, err
	}
	return sameFile{abs, st.Size(), st.ModTime().UnixNano()}, nil
}

// imatrixSelection is one file's weights under one include/exclude filter.
type imatrixSelection struct {
	file             sameFile
	include, exclude string
}

// meta is what llama-quantize records of the imatrix in the output: the
// file as named, the first dataset (both cut to 127 bytes, its limit), the
// number of entries used and the chunk count.
func (im *stageImatrix) meta() []gguf.KV {
	kv := []gguf.KV{{Key: "quantize.imatrix.file", Value: gguf.String(cut127(im.path))}}
	if len(im.m.Datasets) > 0 {
		kv = append(kv, gguf.KV{Key: "quantize.imatrix.dataset", Value: gguf.String(cut127(im.m.Datasets[0]))})
	}
	kv = append(kv, gguf.KV{Key: "quantize.imatrix.entries_count", Value: gguf.Uint32(uint32(len(im.weights)))})
	if im.m.ChunkCount > 0 {
		kv = append(kv, gguf.KV{Key: "quantize.imatrix.chunks_count", Value: gguf.Uint32(uint32(im.m.ChunkCount))})
	}
	return kv
}

func cut127(s string) string {
	if len(s) > 127 {
		return s[:127]
	}
	return s
}

// forTensor returns the weights for t (called key in the imatrix, its name
// before pruning renumbered it) quantized to want, or nil to quantize it
// without: no entry (an error if the type needs one), or a token
// embedding whose entry does not fit (llama-quantize lets that pass). An
// entry of the wrong size for any other tensor is an error, as there.
func (im *stageImatrix) forTensor(t *tensor.Desc, key string, want tensor.DType, needs bool) ([]float32, error) {
	w, ok := im.weights[key]
	if !ok {
		if needs {
			return nil, fmt.Errorf("tensor %s: %s has no entry %q, and %v needs an importance matrix (llama-quantize refuses it too)",
				t.Name, im.path, key, want)
		}
		return nil, nil
	}
	cols, experts := t.RowLen(), int64(1)
	if len(t.Shape) >= 3 {
		experts = t.Shape[len(t.Shape)-3]
	}
	if int64(len(w)) != cols*experts {
		if t.Name == "token_embd.weight" || t.Name == "per_layer_token_embd.weight" {
			return nil, nil
		}
		return nil, fmt.Errorf("tensor %s %v: %s entry %q has %d values, want %d (%d columns × %d experts): an imatrix of another model?",
			t.Name, t.Shape, im.path, key, len(w), cols*experts, cols, experts)
	}
	return w, nil
}

// rowsPerExpert is ggml's ne[1]: the rows one imatrix slice covers.
func rowsPerExpert(t *tensor.Desc) int64 {
	if len(t.Shape) >= 2 {
		return t.Shape[len(t.Shape)-2]
	}
	return 1
}

// checkNames refuses an imatrix none of whose entries names a tensor of the
// model (one made for another model, or for names before a remap), which
// llama-quantize would silently apply to nothing; and warns, as
// llama-quantize does, about quantized tensors it has no entry for.
func (im *stageImatrix) checkNames(env *pipeline.Env, ts []*tensor.Desc, keys map[*tensor.Desc]string, missing []string) error {
	for _, t := range ts {
		key, ok := keys[t]
		if !ok {
			key = t.Name
		}
		if _, ok := im.weights[key]; ok {
			return im.reportMissing(env, missing)
		}
	}
	entries := slices.Sorted(maps.Keys(im.weights))
	return fmt.Errorf("%s: %s: none of its %d entries (%q, ...) names a tensor of this model (%q, ...): an imatrix of another model?",
		quantImatrix, im.path, len(entries), entries[0], ts[0].Name)
}

func (im *stageImatrix) reportMissing(env *pipeline.Env, missing []string) error {
	if len(missing) > 0 {
		more := ""
		if len(missing) > 3 {
			more, missing = fmt.Sprintf(" and %d more", len(missing)-3), missing[:3]
		}
		env.Warnf("imatrix %s has no entry for %s%s: quantized without importance weights, as llama-quantize does",
			im.path, strings.Join(missing, ", "), more)
	}
	return nil
}
