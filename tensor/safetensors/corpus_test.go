package safetensors

import (
	"os"
	"path/filepath"
	"testing"
)

// corpus returns the conformance corpus folder: $MLMF_CORPUS, else
// ../shared/testdata/corpus from the module root. Missing, it skips the test
// (fails it under CI=true).
func corpus(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("MLMF_CORPUS")
	if dir == "" {
		root, err := filepath.Abs(".")
		if err != nil {
			t.Fatal(err)
		}
		for {
			if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
				break
			}
			parent := filepath.Dir(root)
			if parent == root {
				t.Fatal("no go.mod above the test directory")
			}
			root = parent
		}
		dir = filepath.Join(root, "..", "shared", "testdata", "corpus")
	}
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("corpus missing: %v", err)
		}
		t.Skipf("corpus missing: %v", err)
	}
	return dir
}
