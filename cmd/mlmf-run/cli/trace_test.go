package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
)

// copyTiny copies the bundled tiny model and a shipped recipe into dir, so a
// failing test damages nothing of the repository's.
func copyTiny(t *testing.T, dir, name string) (model, recipe string) {
	t.Helper()
	root, err := corpus.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	model = filepath.Join(dir, "model")
	if err := os.Mkdir(model, 0o755); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(root, "testdata", "tiny-llama")
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		copyFile(t, filepath.Join(src, e.Name()), filepath.Join(model, e.Name()))
	}
	recipe = filepath.Join(dir, name)
	copyFile(t, filepath.Join(root, "recipes", name), recipe)
	return model, recipe
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// --trace-file naming a file the run reads (a shard, config.json, the
// recipe) is refused before anything is written, and the file is intact.
func TestTraceFileThatIsAnInputIsRefused(t *testing.T) {
	dir := t.TempDir()
	model, recipe := copyTiny(t, dir, "llama-to-gguf-q4.yaml")
	out := filepath.Join(dir, "m.gguf")
	for _, victim := range []string{filepath.Join(model, "model.safetensors"), filepath.Join(model, "config.json"), recipe} {
		before, err := os.ReadFile(victim)
		if err != nil {
			t.Fatal(err)
		}
		code, _, errs := runCLI(recipe, "-q", "--set", "model="+model, "--set", "out="+out, "--trace-file", victim)
		if code != exitUsage || !strings.Contains(errs, "--trace-file: "+victim+" would overwrite an input") {
			t.Errorf("--trace-file %s: exit %d, %s", victim, code, errs)
		}
		if after, err := os.ReadFile(victim); err != nil || string(after) != string(before) {
			t.Errorf("%s changed (%v)", victim, err)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("the run wrote %s", out)
		}
	}
	for _, d := range []string{dir, model} {
		for _, e := range leftoversIn(t, d) {
			if strings.Contains(e, ".tmp-") {
				t.Errorf("left behind: %s", filepath.Join(d, e))
			}
		}
	}
}

func leftoversIn(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}
