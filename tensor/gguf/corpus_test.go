package gguf

import (
	"os"
	"path/filepath"
	"testing"
)

// corpusFiles lists the reference GGUFs of the conformance corpus, skipping
// the test when the corpus is absent (failing it when CI is set).
// Not internal/corpus's: it imports tensor/gguf, so using it here is a cycle.
func corpusFiles(t testing.TB) []string {
	t.Helper()
	dir := os.Getenv("MLMF_CORPUS")
	if dir == "" {
		root, err := moduleRoot()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(root, "..", "shared", "testdata", "corpus")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*.gguf"))
	if len(files) == 0 {
		if os.Getenv("CI") != "" { // as corpus.InCI: any non-empty value
			t.Fatalf("no GGUF files in corpus %s", dir)
		}
		t.Skipf("no GGUF files in corpus %s (set MLMF_CORPUS)", dir)
	}
	return files
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		up := filepath.Dir(dir)
		if up == dir {
			return "", os.ErrNotExist
		}
		dir = up
	}
}
