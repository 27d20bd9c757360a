package torch

import (
	"bytes"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/safetensors"
)

// TestCorpusMatchesSafetensors checks that pytorch_model.bin holds exactly
// the tensors of the sharded safetensors checkpoint written from the same
// weights: names, dtypes, shapes and bytes.
func TestCorpusMatchesSafetensors(t *testing.T) {
	dir := corpus.Dir(t)
	set, err := safetensors.Open(filepath.Join(dir, "tiny-llama-spm"))
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	if len(set.Files) < 2 {
		t.Fatalf("safetensors checkpoint has %d files, want the sharded one", len(set.Files))
	}
	want := map[string]*tensor.Desc{}
	for _, d := range set.Tensors {
		want[d.Name] = d
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
		if d.DType != w.DType {
			t.Errorf("%s: dtype %v, want %v", d.Name, d.DType, w.DType)
		}
		if !slices.Equal(d.Shape, w.Shape) {
			t.Errorf("%s: shape %v, want %v", d.Name, d.Shape, w.Shape)
		}
		data, err := tensor.ReadAll(d)
		if err != nil {
			t.Errorf("%s: %v", d.Name, err)
			continue
		}
		ref, err := tensor.ReadAll(w)
		if err != nil {
			t.Fatalf("%s: safetensors: %v", d.Name, err)
		}
		if !bytes.Equal(data, ref) {
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
