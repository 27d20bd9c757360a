package conformance

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
)

// llamaTool returns the path of one of llama.cpp's own tools, built by
// ../shared/tools/build-llama-tools.sh into $LLAMA_TOOLS. Without it the
// test is skipped on a developer machine and fails in CI, where a skipped
// comparison with the reference tool would be a silent pass.
func llamaTool(t *testing.T, name string) string {
	t.Helper()
	dir := os.Getenv("LLAMA_TOOLS")
	if dir == "" {
		if corpus.InCI() {
			t.Fatalf("LLAMA_TOOLS is not set: run eval \"$(../shared/tools/build-llama-tools.sh)\" first (%s is the reference)", name)
		}
		t.Skipf("LLAMA_TOOLS not set (eval \"$(../shared/tools/build-llama-tools.sh)\"): no %s to compare with", name)
	}
	bin := filepath.Join(dir, name)
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("LLAMA_TOOLS=%s: %v", dir, err)
	}
	return bin
}

// runTool runs a reference tool, failing the test with its output if it fails.
func runTool(t *testing.T, bin string, args ...string) {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(bin), args, err, out)
	}
}
