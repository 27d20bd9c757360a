package conformance

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
)

// hfArch is one entry of testdata/arch-hf (scripts/make-arch-refs-hf.py,
// run where transformers 5.17 is): a checkpoint transformers wrote with its
// own classes (or a quantized one of testdata/arch), transformers' logits
// for it, and what llama.cpp's converter and llama.cpp made of it.
type hfArch struct {
	name, model, ref string
	logits           string   // reference_logits.json: transformers
	types            []string // output types with a converter reference
	converter        string   // logits_check.py's line for the converter's F16
	refused          string   // why the converter refused transformers' own file
}

func hfArchs(t *testing.T) []hfArch {
	t.Helper()
	testdata := filepath.Join(corpus.Root(t), "testdata")
	logits, err := filepath.Glob(filepath.Join(testdata, "arch-hf", "*-ref", "reference_logits.json"))
	if err != nil || len(logits) == 0 {
		t.Fatalf("no references under %s/arch-hf (%v)", testdata, err)
	}
	var out []hfArch
	for _, l := range logits {
		ref := filepath.Dir(l)
		a := hfArch{name: strings.TrimSuffix(filepath.Base(ref), "-ref"), ref: ref, logits: l}
		var head struct {
			Model string `json:"model"`
		}
		b, err := os.ReadFile(l)
		if err == nil {
			err = json.Unmarshal(b, &head)
		}
		if err != nil || head.Model == "" {
			t.Fatalf("%s: no model named (%v)", l, err)
		}
		a.model = filepath.Join(testdata, filepath.FromSlash(head.Model))
		for _, typ := range []string{"bf16", "f16", "q8_0"} {
			if _, err := os.Stat(filepath.Join(ref, a.name+"-"+typ+".gguf.json")); err == nil {
				a.types = append(a.types, typ)
			}
		}
		var conv struct {
			Line string `json:"converter_f16"`
		}
		if b, err := os.ReadFile(filepath.Join(ref, "converter-f16-logits.json")); err == nil {
			if err := json.Unmarshal(b, &conv); err != nil {
				t.Fatalf("%s: %v", ref, err)
			}
		}
		a.converter = conv.Line
		if b, err := os.ReadFile(filepath.Join(ref, "converter-error.txt")); err == nil {
			a.refused = string(b)
		}
		out = append(out, a)
	}
	return out
}

// TestArchitecturesFromTransformers converts each checkpoint transformers
// wrote at BF16, F16 and Q8_0 and compares keys, values and tensor bytes
// with the converter's files; then runs our F16 in llama.cpp and holds its
// logits to transformers' at least as closely as the converter's own F16
// (same bytes compute the same logits, so this also catches a reference
// that drifted from its inputs).
func TestArchitecturesFromTransformers(t *testing.T) {
	bin, script := harness(t)
	for _, a := range hfArchs(t) {
		t.Run(a.name, func(t *testing.T) {
			if a.refused != "" {
				beyondConverter(t, bin, script, a)
				return
			}
			if len(a.types) == 0 {
				t.Fatalf("no converter reference in %s", a.ref)
			}
			dir := t.TempDir()
			var f16 string
			var beyond bool
			for _, typ := range a.types {
				out := filepath.Join(dir, typ+".gguf")
				runRecipe(t, "hf-to-gguf.yaml", map[string]string{"model": a.model, "out": out, "type": strings.ToUpper(typ)})
				ref := filepath.Join(a.ref, a.name+"-"+typ+".gguf.json")
				beyond = matchesConverter(t, out, ref, a.model, "general.name")
				if typ == "f16" {
					f16 = out
				}
			}
			if f16 == "" || a.converter == "" {
				t.Fatalf("%s: no F16 reference or no converter logits figures", a.ref)
			}
			ours := logitsLine(t, bin, script, f16, a.logits)
			if strings.HasPrefix(a.converter, "LOAD-OR-RUN-FAILED") {
				// llama.cpp refuses the converter's own file (notRunnable says why).
				if !strings.HasPrefix(ours, "LOAD-OR-RUN-FAILED") {
					t.Errorf("llama.cpp runs ours but not the converter's: %s", ours)
				}
				return
			}
			o, c := parseLogitsLine(t, ours), parseLogitsLine(t, a.converter)
			if swaWritten[a.name] != beyond {
				t.Errorf("sliding pattern written: %v, want %v", beyond, swaWritten[a.name])
			}
			if beyond && (o.rel > 0.002 || o.agree != o.total) {
				// With the layers' pattern written, llama.cpp must compute
				// what transformers does, to the corpus' F16 tolerance.
				t.Errorf("llama.cpp on ours (pattern written): rel %.5f (max 0.002), argmax %d/%d", o.rel, o.agree, o.total)
			}
			if o.rel > c.rel+1e-5 || o.agree < c.agree {
				t.Errorf("llama.cpp on ours: rel %.5f, argmax %d/%d; on the converter's: rel %.5f, argmax %d/%d",
					o.rel, o.agree, o.total, c.rel, c.agree, c.total)
			}
			t.Logf("vs transformers: ours rel %.5f argmax %d/%d; converter's rel %.5f argmax %d/%d",
				o.rel, o.agree, o.total, c.rel, c.agree, c.total)
		})
	}
}

// beyondConverter checks a checkpoint the converter refuses (its
// converter-error.txt says how): with no converter file to match, our F16
// must run in llama.cpp as close to transformers as the corpus' own
// conversions do (TestConvertedLogits' F16 tolerance).
func beyondConverter(t *testing.T, bin, script string, a hfArch) {
	lines := strings.Split(strings.TrimSpace(a.refused), "\n")
	t.Logf("the converter refuses this file: %s", lines[len(lines)-1])
	out := filepath.Join(t.TempDir(), "f16.gguf")
	runRecipe(t, "hf-to-gguf.yaml", map[string]string{"model": a.model, "out": out, "type": "F16"})
	r := checkLogits(t, bin, script, out, a.logits)
	if r.rel > 0.002 || r.agree != r.total {
		t.Errorf("llama.cpp on ours vs transformers: rel %.5f (max 0.002), argmax %d/%d", r.rel, r.agree, r.total)
	}
	t.Logf("vs transformers: ours rel %.5f argmax %d/%d", r.rel, r.agree, r.total)
}

// logitsLine is logits_check.py's one line for gguf against ref.
func logitsLine(t *testing.T, bin, script, gguf, ref string) string {
	t.Helper()
	out, err := runLogitsCheck(bin, script, gguf, ref)
	if err != nil {
		t.Fatalf("logits_check: %v: %s", err, out)
	}
	return strings.TrimSpace(out)
}

func parseLogitsLine(t *testing.T, line string) logitsResult {
	t.Helper()
	var r logitsResult
	var maxd float64
	var vg, vr int
	if _, err := fmt.Sscanf(line, "maxdiff=%g rel=%g argmax_agree=%d/%d vocab_got=%d vocab_ref=%d", &maxd, &r.rel, &r.agree, &r.total, &vg, &vr); err != nil {
		t.Fatalf("logits line %q: %v", line, err)
	}
	if vg != vr {
		t.Errorf("%d logits a position, transformers has %d", vg, vr)
	}
	return r
}

// swaWritten are the checkpoints whose layer_types (one sliding layer, then
// a global one) are not the pattern llama.cpp assumes for the architecture
// (every 6th layer global for Gemma 3, every 4th for Command-R 2): the
// converter's file runs them 0.10 and 0.016 of the logit range from
// transformers; ours writes the pattern.
var swaWritten = map[string]bool{"gemma3": true, "cohere2": true}
