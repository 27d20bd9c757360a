package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
)

// refCase reads one llama-quantize output description recorded by
// scripts/make-imatrix-refs.sh.
func refCase(t *testing.T, name string) *corpus.Reference {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "testdata", "imatrix", "refs.json"))
	must(t, err)
	var cases map[string]struct {
		GGUF corpus.Reference `json:"gguf"`
	}
	must(t, json.Unmarshal(b, &cases))
	c, ok := cases[name]
	if !ok {
		t.Fatalf("no reference %s", name)
	}
	return &c.GGUF
}

// TestConvertImatrixFlags converts the corpus checkpoint in one pass with
// llama-quantize's flags on convert: the tensors and keys must be what
// llama-quantize wrote from the converter's BF16 file with the same flags.
// (The general.name differs: convert derives it from the folder.)
func TestConvertImatrixFlags(t *testing.T) {
	im := filepath.Join("..", "..", "..", "testdata", "imatrix", "tiny-llama-spm.imatrix.gguf")
	for _, c := range []struct {
		ref  string
		args []string
	}{
		{"spm-Q2_K_S", []string{"--type", "Q2_K_S", "--imatrix", im}},
		{"spm-tensor-type-Q4_K_M", []string{"--type", "Q4_K_M", "--imatrix", im,
			"--tensor-type", "attn_v=q4_k", "--tensor-type", "ffn_.*=Q5_0", "--tensor-type", "blk.1=q8_0"}},
		{"spm-override-kv-Q6_K", []string{"--type", "Q6_K", "--override-kv", "general.name=str:Renamed",
			"--override-kv", "llama.context_length=int:128", "--override-kv", "tokenizer.ggml.add_eos_token=bool:true",
			"--override-kv", "llama.rope.freq_base=float:5000.5"}},
		{"spm-prune-Q4_K_M", []string{"--type", "Q4_K_M", "--imatrix", im, "--prune-layers", "0"}},
	} {
		t.Run(c.ref, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "m.gguf")
			args := append([]string{"convert", corpus.Path(t, "tiny-llama-spm"), "-q", "--no-manifest", "-o", out}, c.args...)
			if code, _, errs := runCLI(args...); code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			ignore := []string{"quantize.imatrix.file"}
			if !strings.Contains(c.ref, "override-kv") {
				ignore = append(ignore, "general.name")
			}
			diffs, err := corpus.DiffGGUF(out, refCase(t, c.ref), ignore...)
			must(t, err)
			for _, d := range diffs {
				t.Error(d)
			}
		})
	}
}

// TestConvertQ2_K_SWithoutImatrix: llama-quantize refuses Q2_K_S without an
// importance matrix, and so does convert, naming the tensor and the flag.
func TestConvertQ2_K_SWithoutImatrix(t *testing.T) {
	out := filepath.Join(t.TempDir(), "m.gguf")
	code, _, errs := runCLI("convert", corpus.Path(t, "tiny-llama-spm"), "-q", "--type", "Q2_K_S", "-o", out)
	if code == 0 || !strings.Contains(errs, "needs an importance matrix") || !strings.Contains(errs, "imatrix") || !strings.Contains(errs, "blk.0.") {
		t.Fatalf("exit %d: %s; want a refusal naming a tensor and imatrix", code, errs)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("an output was written")
	}
}

// TestConvertSeveralTypesWithImatrix: one read, several types, each with the
// importance matrix, each what llama-quantize wrote.
func TestConvertSeveralTypesWithImatrix(t *testing.T) {
	im := filepath.Join("..", "..", "..", "testdata", "imatrix", "tiny-llama-spm.imatrix.gguf")
	dir := t.TempDir()
	code, _, errs := runCLI("convert", corpus.Path(t, "tiny-llama-spm"), "-q", "--no-manifest", "--type", "Q2_K_S,Q4_K_M,Q5_0",
		"--imatrix", im, "-o", filepath.Join(dir, "m-{type}.gguf"))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	for _, ty := range []string{"Q2_K_S", "Q4_K_M", "Q5_0"} {
		diffs, err := corpus.DiffGGUF(filepath.Join(dir, "m-"+ty+".gguf"), refCase(t, "spm-"+ty), "quantize.imatrix.file", "general.name")
		must(t, err)
		for _, d := range diffs {
			t.Errorf("%s: %s", ty, d)
		}
	}
}
