//go:build unix

package stages

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
	"github.com/mlmf-run/mlmf-run/pipeline"
)

// mirror links every file of a corpus folder into a new folder, except
// fifo, which becomes a named pipe nobody writes to.
func mirror(t *testing.T, folder, fifo string) string {
	t.Helper()
	src := corpus.Path(t, folder)
	dir := filepath.Join(t.TempDir(), folder)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() != fifo {
			if err := os.Symlink(filepath.Join(src, e.Name()), filepath.Join(dir, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := syscall.Mkfifo(filepath.Join(dir, fifo), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestNamedPipeInputsRefused gives a named pipe as every kind of input a
// recipe reads while planning: each must be refused at once, naming it. A
// pipe nobody writes to hung the run in open, deaf to Ctrl-C.
func TestNamedPipeInputsRefused(t *testing.T) {
	root, err := corpus.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	recipe := func(name string) string { return filepath.Join(root, "recipes", name) }
	out := filepath.Join(t.TempDir(), "out.gguf")
	for _, tc := range []struct {
		name, folder, fifo, recipe string
		sets                       func(dir string) map[string]string
	}{
		{"safetensors file", "tiny-llama-bpe", "model.safetensors", "hf-to-gguf.yaml", nil},
		{"config.json", "tiny-llama-bpe", "config.json", "hf-to-gguf.yaml", nil},
		{"tokenizer.json", "tiny-llama-bpe", "tokenizer.json", "hf-to-gguf.yaml", nil},
		{"tokenizer_config.json", "tiny-llama-bpe", "tokenizer_config.json", "hf-to-gguf.yaml", nil},
		{"chat template", "tiny-llama-bpe", "chat_template.jinja", "hf-to-gguf.yaml", nil},
		{"safetensors index", "tiny-llama-bpe", "model.safetensors.index.json", "hf-to-gguf.yaml", nil},
		{"tokenizer.model", "tiny-llama-spm-bin", "tokenizer.model", "hf-to-gguf.yaml", nil},
		{"torch checkpoint", "tiny-llama-spm-bin", "pytorch_model.bin", "hf-to-gguf.yaml", nil},
		{"adapter config", "tiny-llama-spm-lora", "adapter_config.json", "lora-to-gguf.yaml", func(dir string) map[string]string {
			return map[string]string{"base": corpus.Path(t, "tiny-llama-spm"), "adapter": dir}
		}},
		{"adapter weights", "tiny-llama-spm-lora", "adapter_model.safetensors", "lora-to-gguf.yaml", func(dir string) map[string]string {
			return map[string]string{"base": corpus.Path(t, "tiny-llama-spm"), "adapter": dir}
		}},
		{"GGUF file", "tiny-llama-spm", "x.gguf", "gguf-to-hf.yaml", func(dir string) map[string]string {
			return map[string]string{"model": filepath.Join(dir, "x.gguf")}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := mirror(t, tc.folder, tc.fifo)
			sets := map[string]string{"model": dir}
			if tc.sets != nil {
				sets = tc.sets(dir)
			}
			sets["out"] = out
			done := make(chan error, 1)
			go func() {
				r, err := pipeline.Load(recipe(tc.recipe), sets, Registry())
				if err == nil {
					_, err = pipeline.Run(context.Background(), r, pipeline.RunOptions{DryRun: true})
				}
				done <- err
			}()
			select {
			case err := <-done:
				want := filepath.Join(dir, tc.fifo) + ": not a regular file: it is a named pipe (FIFO), expected a regular file"
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("got %v\nwant it to say %s", err, want)
				}
			case <-time.After(10 * time.Second):
				// Let the blocked open return before the folder goes.
				if f, err := os.OpenFile(filepath.Join(dir, tc.fifo), os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					f.Close()
				}
				<-done
				t.Fatal("still planning 10 s after starting")
			}
		})
	}
}
