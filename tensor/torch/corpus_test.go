package torch

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
	"github.com/mlmf-run/mlmf-run/tensor"
)

// stTensor is one tensor of a safetensors file, read by a minimal header
// parser kept here so that this test does not depend on the safetensors
// package (it can be swapped for it later).
type stTensor struct {
	dtype string
	shape []int64
	data  []byte
}

func readSafetensors(t *testing.T, path string) map[string]stTensor {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(b[:8])
	var hdr map[string]json.RawMessage
	if err := json.Unmarshal(b[8:8+n], &hdr); err != nil {
		t.Fatalf("%s: header: %v", path, err)
	}
	out := map[string]stTensor{}
	for name, raw := range hdr {
		if name == "__metadata__" {
			continue
		}
		var e struct {
			DType   string  `json:"dtype"`
			Shape   []int64 `json:"shape"`
			Offsets [2]int  `json:"data_offsets"`
		}
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("%s: %s: %v", path, name, err)
		}
		base := 8 + int(n)
		out[name] = stTensor{e.DType, e.Shape, b[base+e.Offsets[0] : base+e.Offsets[1]]}
	}
	return out
}

// TestCorpusMatchesSafetensors checks that pytorch_model.bin holds exactly
// the tensors of the sharded safetensors checkpoint written from the same
// weights: names, dtypes, shapes and bytes.
func TestCorpusMatchesSafetensors(t *testing.T) {
	dir := corpus.Dir(t)
	shards, err := filepath.Glob(filepath.Join(dir, "tiny-llama-spm", "*.safetensors"))
	if err != nil || len(shards) == 0 {
		t.Fatalf("no safetensors shards: %v", err)
	}
	want := map[string]stTensor{}
	for _, s := range shards {
		for k, v := range readSafetensors(t, s) {
			want[k] = v
		}
	}
	f, closer, err := Open(filepath.Join(dir, "tiny-llama-spm-bin", "pytorch_model.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	var got []string
	for _, d := range f.Tensors {
		got = append(got, d.Name)
		w, ok := want[d.Name]
		if !ok {
			t.Errorf("%s: not in the safetensors checkpoint", d.Name)
			continue
		}
		if d.DType.Info().Safetensors != w.dtype {
			t.Errorf("%s: dtype %v, want %s", d.Name, d.DType, w.dtype)
		}
		if !equalShape(d.Shape, w.shape) {
			t.Errorf("%s: shape %v, want %v", d.Name, d.Shape, w.shape)
		}
		data, err := tensor.ReadAll(d)
		if err != nil {
			t.Errorf("%s: %v", d.Name, err)
			continue
		}
		if !bytes.Equal(data, w.data) {
			t.Errorf("%s: %d bytes differ from the safetensors data", d.Name, len(data))
		}
	}
	// Pickle order, as Python's pickletools lists data.pkl.
	if len(got) == 0 || got[0] != "model.embed_tokens.weight" || got[len(got)-1] != "lm_head.weight" {
		t.Errorf("order: got %v, want model.embed_tokens.weight first and lm_head.weight last", got)
	}
	if len(got) != len(want) {
		var names []string
		for k := range want {
			names = append(names, k)
		}
		sort.Strings(names)
		t.Errorf("got %d tensors, want %d: %v", len(got), len(want), names)
	}
}

func equalShape(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
