package stages

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
	"github.com/mlmf-run/mlmf-run/pipeline"
)

// planLoad parses and plans (a dry run) a recipe that loads path and
// exports it, and returns the error.
func planLoad(t *testing.T, ctx context.Context, path string) error {
	t.Helper()
	src := "version: 1\nstages:\n  - {id: src, kind: load, with: {path: \"" + path + "\"}}\n" +
		"  - {id: out, kind: export, inputs: [src], with: {path: \"" + filepath.Join(t.TempDir(), "o.safetensors") + "\"}}\n"
	r, err := pipeline.Parse("r.yaml", []byte(src), nil, Registry())
	if err != nil {
		return err
	}
	_, err = pipeline.Run(ctx, r, pipeline.RunOptions{DryRun: true})
	return err
}

// TestLoadKeepsGGUFErrors checks that a GGUF error reached through a
// recipe names the file, the offset and what was expected, as inspect
// does, instead of only its sentinels ("gguf: invalid format").
func TestLoadKeepsGGUFErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.gguf")
	// "GGUF", version 3, then a tensor count of 2^40 at offset 8 with 8
	// bytes (the metadata count) left after it.
	hdr := []byte("GGUF\x03\x00\x00\x00\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	if err := os.WriteFile(bad, hdr, 0o644); err != nil {
		t.Fatal(err)
	}
	err := planLoad(t, context.Background(), bad)
	ps, ok := pipeline.AsProblems(err)
	if !ok || len(ps) != 1 {
		t.Fatalf("want one problem, got %v", err)
	}
	want := `r.yaml:3:5: stage "src": ` + bad + ": offset 8: tensor count 1099511627776 exceeds"
	if !strings.HasPrefix(ps[0].Error(), want) {
		t.Errorf("got  %s\nwant %s...", ps[0].Error(), want)
	}
}

// TestTorchIndexShardNames checks that an index naming one shard in several
// spellings opens it once, and that a shard outside the index's folder is
// refused, as for safetensors.
func TestTorchIndexShardNames(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink(corpus.Path(t, "tiny-llama-spm-bin", "pytorch_model.bin"), filepath.Join(dir, "a.bin")); err != nil {
		t.Fatal(err)
	}
	index := filepath.Join(dir, "pytorch_model.bin.index.json")
	write := func(wm string) {
		if err := os.WriteFile(index, []byte(`{"weight_map": {`+wm+`}}`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`"x": "a.bin", "y": "./a.bin", "z": "sub/../a.bin"`)
	if err := planLoad(t, context.Background(), index); err != nil {
		t.Errorf("one shard in three spellings: %v", err)
	}
	write(`"x": "a.bin", "y": "../a.bin"`)
	want := index + `: weight_map names shard "../a.bin" outside the index's folder`
	if err := planLoad(t, context.Background(), index); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("got %v, want %s", err, want)
	}
}
