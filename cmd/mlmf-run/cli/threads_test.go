package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestThreadsBounded checks that -j outside 1..1024 is a usage error (exit
// 2) naming the flag and the range, for a recipe and for convert, and that
// the bounds themselves are accepted.
func TestThreadsBounded(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "in.safetensors")
	writeSparseCheckpoint(t, src, 4, 4)
	recipe := filepath.Join(dir, "copy.yaml")
	if err := os.WriteFile(recipe, []byte(`version: 1
stages:
  - {id: src, kind: load, with: {path: "`+src+`"}}
  - {id: out, kind: export, inputs: [src], with: {path: "`+filepath.Join(dir, "copy.safetensors")+`"}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, j := range []string{"100000000", "1025", "0", "-1"} {
		code, _, errs := runCLI(recipe, "--dry-run", "-j", j)
		if want := "-j/--threads " + j + ": expected 1 to 1024"; code != exitUsage || !strings.Contains(errs, want) {
			t.Errorf("-j %s: exit %d, stderr %q; want %d and %q", j, code, errs, exitUsage, want)
		}
	}
	if code, _, errs := runCLI("convert", dir, "-o", filepath.Join(dir, "x.gguf"), "-j", "0"); code != exitUsage || !strings.Contains(errs, "-j/--threads 0: expected 1 to 1024") {
		t.Errorf("convert -j 0: exit %d, stderr %q", code, errs)
	}
	for _, j := range []string{"1", "1024"} {
		if code, _, errs := runCLI(recipe, "--dry-run", "-q", "-j", j); code != exitOK {
			t.Errorf("-j %s: exit %d: %s", j, code, errs)
		}
	}
}

// TestMemoryTooSmallIsAUsageError: a budget no row fits in is refused with
// the flag named, before anything runs, not as a failed run.
func TestMemoryTooSmallIsAUsageError(t *testing.T) {
	model := filepath.Join(moduleRoot(t), "testdata", "tiny-llama")
	out := filepath.Join(t.TempDir(), "m.gguf")
	for _, args := range [][]string{
		{"convert", model, "-o", out, "--memory", "1"},
		{"hf-to-gguf", "--set", "model=" + model, "--set", "out=" + out, "--memory", "64KiB"},
	} {
		code, _, errs := runCLI(args...)
		if code != exitUsage || !strings.Contains(errs, "--memory") || !strings.Contains(errs, "expected at least 1MiB") {
			t.Errorf("%v: exit %d, stderr %q; want %d naming --memory", args, code, errs, exitUsage)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("%s: %v, want nothing written", out, err)
	}
}
