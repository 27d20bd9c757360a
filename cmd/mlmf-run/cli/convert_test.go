package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConvertSeveralTypes: one convert with --type A,B writes the files two
// single-type converts write, and a path without {type} is a usage error.
func TestConvertSeveralTypes(t *testing.T) {
	model := filepath.Join("..", "..", "..", "testdata", "tiny-llama")
	dir := t.TempDir()
	if code, _, errs := runCLI("convert", model, "-q", "--type", "Q8_0,Q4_K_M", "-o", filepath.Join(dir, "m-{type}.gguf")); code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, ty := range []string{"Q8_0", "Q4_K_M"} {
		one := filepath.Join(dir, "one-"+ty+".gguf")
		if code, _, errs := runCLI("convert", model, "-q", "--no-manifest", "--type", ty, "-o", one); code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		a, err := os.ReadFile(filepath.Join(dir, "m-"+ty+".gguf"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(one)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s: the several-type run wrote %d bytes that differ from the single run's %d", ty, len(a), len(b))
		}
	}
	code, _, errs := runCLI("convert", model, "--type", "Q8_0,Q4_K_M", "-o", filepath.Join(dir, "m.gguf"))
	if code != 2 || !strings.Contains(errs, "needs {type}") {
		t.Fatalf("exit %d, %q; want 2 and a word about {type}", code, errs)
	}
}

// TestConvertDollarType: the matrix recipe's own spelling, -o
// 'm-${type}.gguf', names the files as {type} does; it wrote m-$Q8_0.gguf.
func TestConvertDollarType(t *testing.T) {
	for _, tc := range []struct{ types, out, recipe, want string }{
		{"Q8_0,F16", "d/m-${type}.gguf", "hf-to-gguf-matrix.yaml", "d/m-${type}.gguf"},
		{"Q8_0", "d/m-${type}.gguf", "hf-to-gguf.yaml", "d/m-Q8_0.gguf"},
		{"Q8_0", "d/m-{type}.gguf", "hf-to-gguf.yaml", "d/m-Q8_0.gguf"},
	} {
		vals := map[string]string{}
		name, err := ggufRecipe(tc.types, tc.out, vals)
		if err != nil || name != tc.recipe || vals["out"] != tc.want {
			t.Errorf("--type %s -o %s: recipe %s, out %q, %v; want %s, %q", tc.types, tc.out, name, vals["out"], err, tc.recipe, tc.want)
		}
	}
}
