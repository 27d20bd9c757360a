package stages

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
)

// indexOf writes an index file named name in a new folder whose weight_map
// points at two links to the corpus file src (a valid index would list the
// tensors; planning must stop before it finds out).
func indexOf(t *testing.T, name, src string) string {
	t.Helper()
	dir := t.TempDir()
	ext := filepath.Ext(src)
	wm := map[string]string{}
	for _, shard := range []string{"a" + ext, "b" + ext} {
		if err := os.Symlink(src, filepath.Join(dir, shard)); err != nil {
			t.Fatal(err)
		}
		wm["t."+shard] = shard
	}
	b, err := json.Marshal(map[string]any{"weight_map": wm})
	if err != nil {
		t.Fatal(err)
	}
	index := filepath.Join(dir, name)
	if err := os.WriteFile(index, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return index
}

// TestLoadStopsBetweenFiles plans a load of a sharded checkpoint with a
// cancelled context: it must stop before opening a shard (a set of
// thousands of shards takes seconds) and say it was cancelled.
func TestLoadStopsBetweenFiles(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, index := range []string{
		indexOf(t, "pytorch_model.bin.index.json", corpus.Path(t, "tiny-llama-spm-bin", "pytorch_model.bin")),
		corpus.Path(t, "tiny-llama-spm", "model.safetensors.index.json"), // four shards
	} {
		s := &loadStage{Path: index, Format: "auto"}
		_, err := s.Plan(ctx, nil, nil)
		s.Close()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s: got %v, want a cancellation", filepath.Base(index), err)
		}
	}
}
