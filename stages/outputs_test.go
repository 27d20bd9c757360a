package stages

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mlmf-run/mlmf-run/pipeline"
	"github.com/mlmf-run/mlmf-run/recipes"
	"github.com/mlmf-run/mlmf-run/tensor/safetensors"
)

// tinyModel copies the bundled tiny LLaMA folder to dir/name.
func tinyModel(t *testing.T, dir, name string) string {
	t.Helper()
	src := filepath.Join("..", "testdata", "tiny-llama")
	dst := filepath.Join(dir, name)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// planShipped plans a shipped recipe as a dry run.
func planShipped(t *testing.T, name string, vars map[string]string) error {
	t.Helper()
	raw, err := recipes.FS.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	r, err := pipeline.Parse(name, raw, vars, Registry())
	if err != nil {
		t.Fatal(err)
	}
	_, err = pipeline.Run(context.Background(), r, pipeline.RunOptions{DryRun: true})
	return err
}

// Every file a conversion reads is an input an output must not replace:
// config.json, the tokenizer files and the index as much as the weights,
// whatever the spelling of the output path.
func TestOutputOverAnyFileTheRunReadsIsRefused(t *testing.T) {
	dir := t.TempDir()
	model := tinyModel(t, dir, "model")
	set, err := safetensors.Open(filepath.Join(model, "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	wm := map[string]string{}
	for _, ts := range set.Tensors {
		wm[ts.Name] = "model.safetensors"
	}
	set.Close()
	idx, err := json.Marshal(map[string]any{"metadata": map[string]any{}, "weight_map": wm})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(model, safetensors.IndexName), idx, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(model, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{
		filepath.Join(model, "config.json"),
		filepath.Join(model, "tokenizer.json"),
		filepath.Join(model, "tokenizer_config.json"),
		filepath.Join(model, safetensors.IndexName),
		filepath.Join(dir, "link", "model.safetensors"),
		filepath.Join(dir, "link", "config.json"),
	} {
		before, rerr := os.ReadFile(out)
		if rerr != nil {
			t.Fatal(rerr)
		}
		err := planShipped(t, "hf-to-gguf.yaml", map[string]string{"model": model, "out": out})
		if err == nil || !strings.Contains(err.Error(), "output "+out+" would overwrite an input") {
			t.Errorf("output %s: %v", out, err)
		}
		if after, err := os.ReadFile(out); err != nil || string(after) != string(before) {
			t.Errorf("%s changed (%v)", out, err)
		}
	}
}

// exportHF plans an HF folder export of model to out.
func exportHF(t *testing.T, model, out string) (*pipeline.Result, error) {
	t.Helper()
	src := "version: 1\nstages:\n  - {id: src, kind: load, with: {path: \"" + model + "\"}}\n" +
		"  - {id: out, kind: export, inputs: [src], with: {format: hf, path: \"" + out + "\"}}\n"
	r, err := pipeline.Parse("t.yaml", []byte(src), nil, Registry())
	if err != nil {
		t.Fatal(err)
	}
	return pipeline.Run(context.Background(), r, pipeline.RunOptions{DryRun: true})
}

// A sidecar that is a symbolic link out of the model folder, or not a
// regular file, is not copied into an HF export.
func TestSidecarLinkOutOfTheModelIsRefused(t *testing.T) {
	dir := t.TempDir()
	model := tinyModel(t, dir, "model")
	secret := filepath.Join(dir, "secret")
	if err := os.WriteFile(secret, []byte("{\"password\": 1}"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(model, "special_tokens_map.json")); err != nil {
		t.Fatal(err)
	}
	_, err := exportHF(t, model, filepath.Join(dir, "out"))
	if err == nil || !strings.Contains(err.Error(), "special_tokens_map.json is a symbolic link to "+secret+", outside the model folder") {
		t.Errorf("got %v", err)
	}
	if err := os.Remove(filepath.Join(model, "special_tokens_map.json")); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(model, "generation_config.json"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = exportHF(t, model, filepath.Join(dir, "out"))
	if err == nil || !strings.Contains(err.Error(), "generation_config.json: not a regular file") {
		t.Errorf("got %v", err)
	}
}

// The hub cache links every file of a snapshot to ../../blobs: those are
// the model's own files and are copied.
func TestSidecarInTheHubCacheIsCopied(t *testing.T) {
	dir := t.TempDir()
	repo := filepath.Join(dir, "models--x--tiny")
	blobs := tinyModel(t, repo, "blobs")
	snap := filepath.Join(repo, "snapshots", "abc")
	if err := os.MkdirAll(snap, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(blobs)
	if err != nil || len(ents) == 0 {
		t.Fatalf("blobs %v: %v", ents, err)
	}
	for _, e := range ents {
		if err := os.Symlink(filepath.Join("..", "..", "blobs", e.Name()), filepath.Join(snap, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "out")
	res, err := exportHF(t, snap, out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range res.Plan.Outputs {
		names = append(names, strings.TrimPrefix(o.Path, out+"/"))
	}
	if got := strings.Join(names, " "); got != "model.safetensors config.json tokenizer.json tokenizer_config.json" {
		t.Errorf("outputs %s", got)
	}
}

// A chat template is copied into the GGUF's metadata: a link to a file
// outside the model folder is refused like a side file, not published.
func TestChatTemplateLinkOutOfTheModelIsRefused(t *testing.T) {
	dir := t.TempDir()
	model := tinyModel(t, dir, "model")
	secret := filepath.Join(dir, "secret.txt")
	if err := os.WriteFile(secret, []byte("root:x:0:0"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(model, "chat_template.jinja")); err != nil {
		t.Fatal(err)
	}
	err := planShipped(t, "hf-to-gguf.yaml", map[string]string{"model": model, "out": filepath.Join(dir, "m.gguf")})
	if err == nil || !strings.Contains(err.Error(), "chat_template.jinja is a symbolic link to "+secret+", outside the model folder") {
		t.Fatalf("got %v", err)
	}
}
