package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// moduleRoot is two folders up from this package, where go.mod is.
func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("no go.mod two folders up: %v", err)
	}
	return root
}

// TestGoModIsTidy fails when `go mod tidy` would change go.mod or go.sum,
// e.g. a direct dependency marked `// indirect`.
func TestGoModIsTidy(t *testing.T) {
	cmd := exec.Command("go", "mod", "tidy", "-diff")
	cmd.Dir = moduleRoot(t)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go mod tidy -diff: %v\n%s", err, out)
	}
}

// TestREADMEBuildsAStaticBinary runs the README's build and install lines as
// written (their output redirected into a temporary folder) and checks each
// gives a binary that needs no dynamic loader.
func TestREADMEBuildsAStaticBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	root := moduleRoot(t)
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(readme), "\n") {
		if strings.HasPrefix(l, "    ") && strings.Contains(l, "@latest") {
			t.Errorf("README tells users to run %q, which the unpublished module path refuses", strings.TrimSpace(l))
		}
		if strings.HasPrefix(l, "    CGO_ENABLED=0 go build") || strings.HasPrefix(l, "    CGO_ENABLED=0 go install") {
			lines = append(lines, strings.TrimSpace(strings.SplitN(l, "#", 2)[0]))
		}
	}
	if len(lines) != 2 {
		t.Fatalf("README has %d static build/install lines, want a `CGO_ENABLED=0 go build` and a `CGO_ENABLED=0 go install`: %q", len(lines), lines)
	}
	for _, line := range lines {
		dir := t.TempDir()
		cmd := exec.Command("sh", "-c", line)
		cmd.Dir = root
		// -o (build) and GOBIN (install) send the binary to dir, not the clone.
		cmd.Env = append(os.Environ(), "GOFLAGS=-o="+filepath.Join(dir, "mlmf-run"), "GOBIN="+dir)
		if strings.Contains(line, "go install") {
			cmd.Env = append(os.Environ(), "GOBIN="+dir)
		}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s: %v\n%s", line, err, out)
		}
		checkStatic(t, line, filepath.Join(dir, "mlmf-run"))
	}
}

func checkStatic(t *testing.T, line, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatalf("%s: %v", line, err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s: the binary asks for a dynamic loader (PT_INTERP)", line)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("%s: the binary links %v (%v)", line, libs, err)
	}
}
