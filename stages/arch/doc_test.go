package arch

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/architectures.md from the tables")

// TestArchitecturesDocIsCurrent fails when docs/architectures.md is not what
// the tables and testdata/arch's references make (go generate rewrites it).
func TestArchitecturesDocIsCurrent(t *testing.T) {
	root := filepath.Join("..", "..")
	got := Doc(testedArchs(t, root))
	path := filepath.Join(root, "docs", "architectures.md")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: run go generate ./stages/arch", path)
	}
}

// testedArchs maps each GGUF architecture to the references it is compared
// with: the corpus models (LLaMA), testdata/arch's tiny checkpoints and
// testdata/arch-hf's, told by the architecture their converter file names.
func testedArchs(t *testing.T, root string) map[string][]string {
	t.Helper()
	out := map[string][]string{"llama": {"corpus `tiny-llama-spm`, `tiny-llama-bpe` (+ logits)"}}
	refs, err := filepath.Glob(filepath.Join(root, "testdata", "arch", "*-ref", "*-f16.gguf.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, ref := range refs {
		name := strings.TrimSuffix(filepath.Base(filepath.Dir(ref)), "-ref")
		arch := refArch(t, ref)
		out[arch] = append(out[arch], "`testdata/arch/"+name+"`")
	}
	hf, err := filepath.Glob(filepath.Join(root, "testdata", "arch-hf", "*-ref", "reference_logits.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range hf {
		name := strings.TrimSuffix(filepath.Base(filepath.Dir(l)), "-ref")
		ref := filepath.Join(filepath.Dir(l), name+"-f16.gguf.json")
		var arch string
		if _, err := os.Stat(ref); err == nil {
			arch = refArch(t, ref)
		} else {
			// the converter refused transformers' file: the table its
			// config.json selects
			arch = configArch(t, filepath.Join(root, "testdata", "arch-hf", name, "config.json"))
		}
		out[arch] = append(out[arch], "`testdata/arch-hf/"+name+"` (transformers)")
	}
	for _, l := range out {
		sort.Strings(l)
	}
	return out
}

// configArch is the table a config.json selects.
func configArch(t *testing.T, path string) string {
	t.Helper()
	var cfg map[string]any
	b, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(b, &cfg)
	}
	if err != nil {
		t.Fatal(err)
	}
	a, err := detectConfig(cfg)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return a.Arch
}

// refArch is general.architecture in a *.gguf.json reference.
func refArch(t *testing.T, ref string) string {
	t.Helper()
	b, err := os.ReadFile(ref)
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		KV map[string]struct {
			Value any `json:"value"`
		} `json:"kv"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v", ref, err)
	}
	arch, _ := r.KV["general.architecture"].Value.(string)
	return arch
}
