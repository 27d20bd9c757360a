package conformance

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

// imatrixCase is one llama-quantize run recorded by
// scripts/make-imatrix-refs.sh: its flags, type, and what it wrote,
// described as the corpus *.gguf.json files are.
type imatrixCase struct {
	Model string           `json:"model"`
	Flags string           `json:"flags"`
	Type  string           `json:"type"`
	GGUF  corpus.Reference `json:"gguf"`
	// Parts are the files of a --keep-split output, instead of GGUF.
	Parts []corpus.Reference `json:"parts"`
	// NoFallback, instead of GGUF, is the tensor llama-quantize refused
	// because its rows fit neither the type's blocks nor a fallback (Q1_0
	// on 320-wide rows): the recipe must refuse it too and write nothing.
	NoFallback string `json:"no_fallback"`
}

// quantizeVars turns llama-quantize's flags into recipes/quantize-gguf.yaml
// vars, file names resolved in dir (where the script ran).
func quantizeVars(t *testing.T, flags, dir string) map[string]string {
	t.Helper()
	vars := map[string]string{}
	add := func(k, v, sep string) {
		if vars[k] != "" {
			v = vars[k] + sep + v
		}
		vars[k] = v
	}
	f := strings.Fields(flags)
	for i := 0; i < len(f); i++ {
		arg := func() string { i++; return f[i] }
		switch f[i] {
		case "--imatrix":
			vars["imatrix"] = filepath.Join(dir, arg())
		case "--include-weights":
			add("include_weights", arg(), " ")
		case "--exclude-weights":
			add("exclude_weights", arg(), " ")
		case "--tensor-type":
			add("tensor_types", arg(), " ")
		case "--tensor-type-file":
			vars["tensor_type_file"] = filepath.Join(dir, arg())
		case "--output-tensor-type":
			vars["output_tensor_type"] = arg()
		case "--token-embedding-type":
			vars["token_embedding_type"] = arg()
		case "--leave-output-tensor":
			vars["leave_output_tensor"] = "true"
		case "--pure":
			vars["pure"] = "true"
		case "--prune-layers":
			vars["prune_layers"] = arg()
		case "--keep-split":
			vars["keep_split"] = "true"
		case "--override-kv":
			add("override_kv", arg(), "\n")
		default:
			t.Fatalf("flag %q: not mapped to a recipe var", f[i])
		}
	}
	return vars
}

// derivedModel rebuilds one of the reference script's inputs made from the
// corpus model by scripts/gguf_refs.py: "odd" (a feed-forward width of 320,
// so ffn_down rows are not a multiple of 256) or "moe" (4 experts), and
// checks it is the very file llama-imatrix and llama-quantize were given.
func derivedModel(t *testing.T, root, dir, kind string) string {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		if corpus.InCI() {
			t.Fatal("python3 is needed to rebuild the derived models")
		}
		t.Skip("no python3: cannot rebuild the derived models")
	}
	out := filepath.Join(dir, "tiny-llama-"+kind+"-bf16.gguf")
	args := []string{filepath.Join(root, "scripts", "gguf_refs.py"), kind, corpus.Path(t, "tiny-llama-spm-ref", "tiny-llama-spm-bf16.gguf"), out}
	if kind == "odd" {
		args = append(args, "320")
	}
	runTool(t, py, args...)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join(root, "testdata", "imatrix", "tiny-llama-"+kind+"-bf16.gguf.sha256"))
	if err != nil {
		t.Fatal(err)
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != strings.TrimSpace(string(want)) {
		t.Fatalf("the rebuilt %s model is not the one the references were made from", kind)
	}
	return out
}

// TestImatrixMatchesLlamaQuantize quantizes the corpus model, its
// odd-width copy and its mixture-of-experts copy (with full and with
// partial expert data), to every legacy, K, IQ, ternary, Q1_0 and Q2_0 mix
// (and Q1_0's refusal of the odd copy), with
// recipes/quantize-gguf.yaml as
// scripts/make-imatrix-refs.sh ran llama-quantize (with importance
// matrices from llama-imatrix, and its per-tensor flags): every key and
// every tensor's type, shape and data digest must be llama-quantize's.
func TestImatrixMatchesLlamaQuantize(t *testing.T) {
	root, err := corpus.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "testdata", "imatrix")
	// refs.json: the legacy and K mixes and the per-tensor flags
	// (scripts/make-imatrix-refs.sh); refs-iq.json: the IQ and ternary mixes
	// (scripts/make-iq-refs.sh).
	cases := map[string]imatrixCase{}
	for _, f := range []string{"refs.json", "refs-iq.json"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		var more map[string]imatrixCase
		if err := json.Unmarshal(b, &more); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for k, c := range more {
			if _, dup := cases[k]; dup {
				t.Fatalf("%s: case %s is also in another file", f, k)
			}
			cases[k] = c
		}
	}
	if raceEnabled {
		// The IQ/ternary searches of refs-iq.json on the dense models take
		// minutes under -race; their mixture-of-experts cases (several
		// tensors quantized at once) stay, with every case of refs.json.
		n := 0
		for k := range cases {
			if strings.Contains(k, "IQ") || strings.Contains(k, "TQ") || strings.Contains(k, "Q1_0") || strings.Contains(k, "Q2_0") {
				if !strings.HasPrefix(k, "moe-") {
					delete(cases, k)
					n++
				}
			}
		}
		t.Logf("race detector: %d dense-model IQ/TQ/Q1_0/Q2_0 cases left to the run without -race", n)
	}
	models := map[string]string{"spm": corpus.Path(t, "tiny-llama-spm-ref", "tiny-llama-spm-bf16.gguf")}
	tmp := t.TempDir()
	for _, name := range slices.Sorted(maps.Keys(cases)) {
		c := cases[name]
		t.Run(name, func(t *testing.T) {
			switch {
			case models[c.Model] != "":
			case c.Model == "odd" || c.Model == "moe":
				models[c.Model] = derivedModel(t, root, tmp, c.Model)
			case c.Model == "spm-split8":
				// The script's split input, cut by llama-gguf-split again.
				runTool(t, llamaTool(t, "llama-gguf-split"), "--split", "--split-max-tensors", "8", models["spm"], filepath.Join(tmp, "in"))
				models[c.Model] = filepath.Join(tmp, "in-00001-of-00003.gguf")
			}
			out := filepath.Join(t.TempDir(), "out.gguf")
			vars := quantizeVars(t, c.Flags, dir)
			vars["model"], vars["out"], vars["type"] = models[c.Model], out, c.Type
			if c.NoFallback != "" {
				err := runRecipeFile(filepath.Join(root, "recipes", "quantize-gguf.yaml"), vars)
				if err == nil || !strings.Contains(err.Error(), "tensor "+c.NoFallback+":") {
					t.Errorf("%v; llama-quantize refused %s (no fallback for its rows)", err, c.NoFallback)
				}
				if _, err := os.Stat(out); err == nil {
					t.Error("an output was written")
				}
				return
			}
			runRecipe(t, "quantize-gguf.yaml", vars)
			if len(c.Parts) > 0 {
				for i := range c.Parts {
					diffs, err := corpus.DiffGGUF(gguf.SplitPath(strings.TrimSuffix(out, ".gguf"), i, len(c.Parts)), &c.Parts[i], "quantize.imatrix.file")
					if err != nil {
						t.Fatal(err)
					}
					for _, d := range diffs {
						t.Errorf("part %d: %s", i+1, d)
					}
				}
				return
			}
			// The file key records the imatrix path as given: the script
			// gave a relative name, this test an absolute one.
			diffs, err := corpus.DiffGGUF(out, &c.GGUF, "quantize.imatrix.file")
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range diffs {
				t.Error(d)
			}
			if _, ok := c.GGUF.KV["quantize.imatrix.file"]; ok {
				f, closer, err := gguf.Open(out)
				if err != nil {
					t.Fatal(err)
				}
				defer closer.Close()
				if got, _ := f.Meta.Str("quantize.imatrix.file"); got != vars["imatrix"] {
					t.Errorf("quantize.imatrix.file = %q, want %q", got, vars["imatrix"])
				}
			}
		})
	}
}
