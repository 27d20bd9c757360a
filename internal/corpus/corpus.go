// Package corpus locates the conformance corpus for tests: the directory in
// MLMF_CORPUS, else ../shared/testdata/corpus beside the module root. A
// missing corpus skips a test on a developer machine and fails it in CI
// (CI set to anything), where a skipped conformance check would be a silent pass.
package corpus

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the corpus directory, or skips/fails t when it is missing.
func Dir(t testing.TB) string {
	t.Helper()
	dir, err := locate()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
		if InCI() {
			t.Fatalf("conformance corpus missing at %s (set MLMF_CORPUS): %v", dir, err)
		}
		t.Skipf("conformance corpus missing at %s (set MLMF_CORPUS)", dir)
	}
	return dir
}

// InCI reports whether the tests run in CI: CI set to any non-empty value.
// CI systems spell it "true", "1" or "yes"; all of them must turn a missing
// corpus or reference tool into a failure rather than a silent skip.
func InCI() bool { return os.Getenv("CI") != "" }

// Find returns the corpus directory and whether it is there, neither
// skipping nor failing: for fuzz seed helpers, which add corpus seeds when
// they can and run on their synthetic seeds otherwise.
func Find() (string, bool) {
	dir, err := locate()
	if err != nil {
		return "", false
	}
	if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
		return dir, false
	}
	return dir, true
}

// locate returns where the corpus should be, whether or not it is there.
func locate() (string, error) {
	if dir := os.Getenv("MLMF_CORPUS"); dir != "" {
		return dir, nil
	}
	root, err := ModuleRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "..", "shared", "testdata", "corpus"), nil
}

// Path joins elements under the corpus directory.
func Path(t testing.TB, elem ...string) string {
	t.Helper()
	return filepath.Join(append([]string{Dir(t)}, elem...)...)
}

// Root returns the module root, failing t when there is none.
func Root(t testing.TB) string {
	t.Helper()
	root, err := ModuleRoot()
	if err != nil {
		t.Fatalf("module root from the working directory: %v", err)
	}
	return root
}

// ModuleRoot walks up from the working directory to the go.mod.
func ModuleRoot() (string, error) {
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
