package vocab

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

// TestPreNamesLlamaVocabs: for the pre-tokenizers whose vocabulary llama.cpp
// ships (models/ggml-vocab-NAME.gguf, written by its converter, with the ids
// Python transformers gave the texts of ggml-vocab-NAME.gguf.inp in .out), a
// tokenizer.json of that vocabulary and the model's own pre_tokenizer
// (testdata/pre fixtures with ggml_vocab, scripts/make-pre-fixtures.py)
// gets the converter's tokenizer.ggml.pre, and llama.cpp, loading what we
// write, gives transformers' ids. A definition llama.cpp names several ways
// is refused, and loads as transformers tokenizes once the name is given;
// mpt's is written as gpt-2, which llama.cpp tokenizes the same way.
func TestPreNamesLlamaVocabs(t *testing.T) {
	bin := tokenizeHarness(t)
	n := 0
	for _, fx := range preFixtures(t) {
		if fx.Vocab == "" {
			continue
		}
		n++
		// Under the race detector (raceBuild) one named and one shared
		// definition, the smallest vocabularies; the plain run, which CI
		// runs too, checks them all.
		if raceBuild && fx.Vocab != "deepseek-coder" && fx.Vocab != "refact" {
			continue
		}
		t.Run(fx.Vocab, func(t *testing.T) {
			base := filepath.Join(os.Getenv("LLAMA_SRC"), "models", "ggml-vocab-"+fx.Vocab+".gguf")
			dir, size, want := llamaVocabModel(t, base, fx.Norm, fx.Pre)
			meta, err := Load(dir, Options{VocabSize: size})
			if fx.Shared != nil {
				if err == nil || !strings.Contains(err.Error(), strings.Join(fx.Shared, ", ")) {
					t.Fatalf("Load: %v; want the error naming %v", err, fx.Shared)
				}
				// the architecture's own name settles it (arch tables' pre_for),
				// any other leaves it refused
				if _, err := Load(dir, Options{VocabSize: size, PreHint: "qwen2"}); err == nil {
					t.Fatal("Load with a hint outside the shared names: no error")
				}
				meta, err = Load(dir, Options{VocabSize: size, PreHint: want})
			}
			if err != nil {
				t.Fatal(err)
			}
			if fx.Written != "" { // a name llama.cpp tokenizes as it does want
				want = fx.Written
			}
			if got, _ := meta.Str(KeyPre); got != want {
				t.Errorf("tokenizer.ggml.pre %q, want the converter's %q", got, want)
			}
			checkVocabTests(t, bin, vocabGGUF(t, meta), base)
		})
	}
	if n < 9 {
		t.Fatalf("%d fixtures with ggml_vocab under testdata/pre, want 9", n)
	}
}

// preFixture is one testdata/pre fixture (README there): a pre_tokenizer
// definition, the name llama.cpp's converter gives it, and what checks it.
type preFixture struct {
	Want    string          `json:"llama_cpp_pre"`
	Vocab   string          `json:"ggml_vocab"`
	Shared  []string        `json:"shared_with"`
	Written string          `json:"written"`
	IDs     string          `json:"synthetic_ids"`
	Norm    json.RawMessage `json:"normalizer"`
	Pre     json.RawMessage `json:"pre_tokenizer"`
}

func preFixtures(t *testing.T) []preFixture {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "pre", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	out := make([]preFixture, len(files))
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &out[i]); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	return out
}

// llamaVocabModel writes a model folder whose tokenizer.json holds the
// byte-level vocabulary of the GGUF at path (control tokens as special added
// tokens, user-defined ones as added tokens) with the given normalizer and
// pre_tokenizer. It returns the folder, the token count and the GGUF's
// tokenizer.ggml.pre.
func llamaVocabModel(t *testing.T, path string, norm, pre json.RawMessage) (string, int, string) {
	t.Helper()
	f, closer, err := gguf.Open(path)
	if err != nil {
		if corpus.InCI() {
			t.Fatal(err)
		}
		t.Skipf("llama.cpp's vocabularies missing (%v): eval \"$(../shared/tools/build-llama-tools.sh)\"", err)
	}
	defer closer.Close()
	tokens, _ := f.Meta.Get(KeyTokens)
	types, _ := f.Meta.Get(KeyTokenType)
	merges, _ := f.Meta.Get(KeyMerges)
	name, _ := f.Meta.Str(KeyPre)
	toks, _ := tokens.V.([]string)
	tys, _ := types.V.([]int32)
	if len(toks) == 0 || len(toks) != len(tys) || name == "" {
		t.Fatalf("%s: %d tokens, %d types, pre %q", path, len(toks), len(tys), name)
	}
	vocab := map[string]int{}
	var added []map[string]any
	for i, tok := range toks {
		if tys[i] == 3 || tys[i] == 4 {
			added = append(added, map[string]any{"id": i, "content": tok, "single_word": false, "lstrip": false,
				"rstrip": false, "normalized": tys[i] == 4, "special": tys[i] == 3})
		}
		if tys[i] != 5 {
			vocab[tok] = i
		}
	}
	model := map[string]any{"type": "BPE", "vocab": vocab, "merges": merges.V}
	doc := map[string]any{"added_tokens": added, "normalizer": norm, "pre_tokenizer": pre, "model": model,
		"decoder": map[string]any{"type": "ByteLevel"}}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, len(toks), name
}

// checkVocabTests tokenizes the texts of llama.cpp's BASE.inp with the GGUF
// at vocab and compares the ids with BASE.out (Python transformers').
func checkVocabTests(t *testing.T, bin, vocab, base string) {
	t.Helper()
	inp, err := os.ReadFile(base + ".inp")
	if err != nil {
		t.Fatal(err)
	}
	outp, err := os.ReadFile(base + ".out")
	if err != nil {
		t.Fatal(err)
	}
	texts := strings.Split(string(inp), "\n__ggml_vocab_test__\n")
	if texts[len(texts)-1] != "" {
		t.Fatalf("%s.inp does not end with its separator", base)
	}
	texts = texts[:len(texts)-1]
	wantLines := strings.Split(strings.TrimSuffix(string(outp), "\n"), "\n")
	if len(wantLines) != len(texts) {
		t.Fatalf("%s: %d texts, %d id lines", base, len(texts), len(wantLines))
	}
	got := tokenize(t, bin, vocab, texts)
	for i, line := range wantLines {
		var want []int
		for _, f := range strings.Fields(line) {
			id, err := strconv.Atoi(f)
			if err != nil {
				t.Fatalf("%s.out line %d: %v", base, i+1, err)
			}
			want = append(want, id)
		}
		if !sameIDs(got[i], want) {
			t.Errorf("%q:\n llama.cpp    %v\n transformers %v", texts[i], got[i], want)
		}
	}
}

// TestPreNamesSyntheticVocab: for the pre-tokenizers named from a regex
// without the model's vocabulary (testdata/pre fixtures with synthetic_ids),
// the vocabulary testdata/synthetic-bpe.json, where every word of up to 4
// bytes of testdata/real/ids.json's texts is one token, with the fixture's
// pre_tokenizer: we name it as the converter does, and llama.cpp splits the
// texts into the ids transformers.js gives (scripts/make-pre-fixtures.py),
// but where tekken meets combining marks, as with gpt-4o. A definition
// llama.cpp names several ways (bloom's, bailingmoe's) is refused, then
// given its name;
// one written under another name (grok-2's as qwen2) gets that name.
func TestPreNamesSyntheticVocab(t *testing.T) {
	bin := tokenizeHarness(t)
	var syn struct {
		Tokens []string `json:"tokens"`
		Merges []string `json:"merges"`
	}
	var ref struct {
		Texts []string `json:"texts"`
	}
	for p, v := range map[string]any{filepath.Join("testdata", "synthetic-bpe.json"): &syn, filepath.Join("testdata", "real", "ids.json"): &ref} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	vocab := make(map[string]int, len(syn.Tokens))
	for i, tok := range syn.Tokens {
		vocab[tok] = i
	}
	n := 0
	for _, fx := range preFixtures(t) {
		if fx.IDs == "" {
			continue
		}
		n++
		t.Run(fx.Want, func(t *testing.T) {
			doc, err := json.Marshal(map[string]any{"pre_tokenizer": fx.Pre, "decoder": map[string]any{"type": "ByteLevel"},
				"model": map[string]any{"type": "BPE", "vocab": vocab, "merges": syn.Merges}})
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), doc, 0o644); err != nil {
				t.Fatal(err)
			}
			meta, err := Load(dir, Options{VocabSize: len(syn.Tokens)})
			if fx.Shared != nil { // refused, then settled by the converter's name as the hint
				if err == nil || !strings.Contains(err.Error(), strings.Join(fx.Shared, ", ")) {
					t.Fatalf("Load: %v; want the error naming %v", err, fx.Shared)
				}
				meta, err = Load(dir, Options{VocabSize: len(syn.Tokens), PreHint: fx.Want})
			}
			if err != nil {
				t.Fatal(err)
			}
			want := fx.Want
			if fx.Written != "" { // a name llama.cpp tokenizes as it does fx.Want
				want = fx.Written
			}
			if got, _ := meta.Str(KeyPre); got != want {
				t.Fatalf("tokenizer.ggml.pre %q, want %q (the converter's %q)", got, want, fx.Want)
			}
			wantLines := strings.Split(fx.IDs, "\n")
			if len(wantLines) != len(ref.Texts) {
				t.Fatalf("%d id lines for %d texts", len(wantLines), len(ref.Texts))
			}
			got := tokenize(t, bin, vocabGGUF(t, meta), ref.Texts)
			for i, line := range wantLines {
				var want []int
				for _, s := range strings.Fields(line) {
					id, err := strconv.Atoi(s)
					if err != nil {
						t.Fatalf("synthetic_ids line %d: %v", i+1, err)
					}
					want = append(want, id)
				}
				// llama.cpp's tekken regex, like its gpt-4o one, leaves \p{M}
				// out of the letter classes (hasMark).
				switch same, known := sameIDs(got[i], want), fx.Want == "tekken" && hasMark(ref.Texts[i]); {
				case !same && !known:
					t.Errorf("%q:\n llama.cpp       %v\n transformers.js %v", ref.Texts[i], got[i], want)
				case same && known:
					t.Errorf("%q: llama.cpp now tokenizes combining marks as transformers.js does: drop the tekken exception", ref.Texts[i])
				}
			}
		})
	}
	if n < 9 {
		t.Fatalf("%d fixtures with synthetic_ids under testdata/pre, want 9", n)
	}
}
