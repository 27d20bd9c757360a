package vocab

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const hyFixture = "testdata/hunyuan-a13b"

// TestHunyuanA13BVocab: Hunyuan-A13B's hy.tiktoken (a small one, with one
// byte repeated) gives the tokenizer keys, values and types llama.cpp's
// converter writes for it (scripts/make-hunyuan-vocab-ref.py): ranks
// numbered in file order, 210 special tokens from id 127957, the ids
// between [PADi], BOS 127959 in place of config.json's 1.
func TestHunyuanA13BVocab(t *testing.T) {
	meta, err := Load(hyFixture, Options{Reader: ReaderHunyuan})
	if err != nil {
		t.Fatal(err)
	}
	wantKeys, ref := readRef(t, filepath.Join("testdata", "hunyuan-a13b.gguf.json"))
	if got := keys(meta); !reflect.DeepEqual(got, wantKeys) {
		t.Errorf("keys:\n got %q\nwant %q", got, wantKeys)
	}
	for _, key := range wantKeys {
		if v, ok := meta.Get(key); ok {
			checkKV(t, key, v, ref[key])
		}
	}
	// a run hashes what it reads, and never writes over it
	if files := Files(hyFixture); !slices.Contains(files, filepath.Join(hyFixture, "hy.tiktoken")) {
		t.Errorf("Files: %q, no hy.tiktoken", files)
	}
}

// hyFolder copies the fixture to a temporary folder, with files replaced.
func hyFolder(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"config.json", "tokenizer_config.json", "hy.tiktoken"} {
		b, err := os.ReadFile(filepath.Join(hyFixture, f))
		if err != nil {
			t.Fatal(err)
		}
		if s, ok := files[f]; ok {
			b = []byte(s)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestHunyuanVocabSize: the converter asserts config.json's vocab_size is
// HYTokenizer's (127957 + 210 special tokens); any other, or none, is
// refused naming both.
func TestHunyuanVocabSize(t *testing.T) {
	for _, c := range []struct{ cfg, err string }{
		{`{"vocab_size": 128000}`, "config.json: vocab_size 128000, but HYTokenizer"},
		{`{"vocab_size": 128168}`, "has 128167 tokens"},
		{`{}`, "config.json: no vocab_size: HYTokenizer"},
	} {
		_, err := Load(hyFolder(t, map[string]string{"config.json": c.cfg}), Options{Reader: ReaderHunyuan})
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%s: %v, want %q", c.cfg, err, c.err)
		}
	}
	_, err := Load(hyFixture, Options{Reader: ReaderHunyuan, VocabSize: 128166})
	if err == nil || !strings.Contains(err.Error(), "vocab size 128166, but HYTokenizer") {
		t.Errorf("VocabSize 128166: %v", err)
	}
}

// TestHunyuanTiktokenRanks: tokenization_hy.py's _load_tiktoken_bpe does
// not read the rank column: "a" repeated on line 3 keeps rank 0, and "ab"
// takes rank 2 (tiktoken's reader, Kimi's, would give "a" rank 2 and "ab"
// rank 3). A blank line, which that reader cannot split, is refused, and
// so is a file with more tokens than the ids below the special ones.
func TestHunyuanTiktokenRanks(t *testing.T) {
	dir := hyFolder(t, map[string]string{"hy.tiktoken": "YQ== 0\nYg== 1\nYQ== 2\nYWI= 3\n"})
	meta, err := Load(dir, Options{Reader: ReaderHunyuan})
	if err != nil {
		t.Fatal(err)
	}
	toks, _ := meta.Get(KeyTokens)
	got := toks.V.([]string)
	if want := []string{"a", "b", "ab", "[PAD3]"}; !reflect.DeepEqual(got[:4], want) {
		t.Errorf("tokens %q, want %q", got[:4], want)
	}
	if got[hySpecialStart+2] != "<|bos|>" || got[len(got)-1] != "<|extra_204|>" {
		t.Errorf("special tokens %q ... %q", got[hySpecialStart+2], got[len(got)-1])
	}
	merges, _ := meta.Get(KeyMerges)
	if m := merges.V.([]string); !reflect.DeepEqual(m, []string{"a b"}) {
		t.Errorf("merges %q", m)
	}

	_, err = Load(hyFolder(t, map[string]string{"hy.tiktoken": "YQ== 0\n\nYg== 1\n"}), Options{Reader: ReaderHunyuan})
	if err == nil || !strings.Contains(err.Error(), "hy.tiktoken line 2: want a base64 token and a rank, found 0 fields") {
		t.Errorf("blank line: %v", err)
	}
	var big strings.Builder
	for i := 0; i <= hySpecialStart; i++ {
		big.WriteString(base64.StdEncoding.EncodeToString([]byte("t"+strconv.Itoa(i))) + " " + strconv.Itoa(i) + "\n")
	}
	_, err = Load(hyFolder(t, map[string]string{"hy.tiktoken": big.String()}), Options{Reader: ReaderHunyuan})
	if err == nil || !strings.Contains(err.Error(), "127958 distinct tokens, more than the 127957") {
		t.Errorf("too many tokens: %v", err)
	}
}

// FuzzLoadHunyuan runs the Hunyuan reader on a fuzzed folder (hy.tiktoken,
// tokenizer_config.json, config.json): whatever it accepts has one type per
// token, 128167 of them; nothing may panic.
func FuzzLoadHunyuan(f *testing.F) {
	f.Add([]byte("YQ== 0\nYg== 1\nYWI= 2\n"), []byte(`{"eos_token": "<|eos|>", "chat_template": "x"}`),
		[]byte(`{"vocab_size": 128167, "bos_token_id": 1, "eos_token_id": 127960}`))
	f.Add([]byte("IA== 0\nICA= 1\nIA== 7\n"), []byte(nil), []byte(`{"vocab_size": 128167}`))
	if _, err := Load(hyFixture, Options{Reader: ReaderHunyuan}); err != nil {
		f.Fatal(err) // the fixture is read, or nothing below shows anything
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, tik, tc, cfg []byte) {
		fuzzFolder(t, dir, []string{"hy.tiktoken", "tokenizer_config.json", "config.json"}, tik, tc, cfg)
		meta, err := Load(dir, Options{Reader: ReaderHunyuan})
		if err != nil {
			return
		}
		toks, _ := meta.Get(KeyTokens)
		types, _ := meta.Get(KeyTokenType)
		if tl, yl := len(toks.V.([]string)), len(types.V.([]int32)); tl != yl || tl != hySpecialStart+len(hySpecial) {
			t.Fatalf("%d tokens, %d types", tl, yl)
		}
	})
}

// TestHunyuanA13BInLlamaCpp: llama.cpp loads the vocabulary we write for
// Hunyuan-A13B and tokenizes the reference's texts (ASCII words, digits,
// spaces, code, contractions, special tokens) into the ids tiktoken gives
// with HYTokenizer's ranks and pattern (scripts/make-hunyuan-vocab-ref.py).
func TestHunyuanA13BInLlamaCpp(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "hunyuan-a13b.gguf.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Texts []string `json:"texts"`
		IDs   [][]int  `json:"ids"`
	}
	if err := json.Unmarshal(b, &ref); err != nil || len(ref.Texts) == 0 || len(ref.Texts) != len(ref.IDs) {
		t.Fatalf("hunyuan-a13b.gguf.json: %d texts, %d id lists (%v)", len(ref.Texts), len(ref.IDs), err)
	}
	bin := tokenizeHarness(t)
	meta, err := Load(hyFixture, Options{Reader: ReaderHunyuan})
	if err != nil {
		t.Fatal(err)
	}
	for i, got := range tokenize(t, bin, vocabGGUF(t, meta), ref.Texts) {
		if !sameIDs(got, ref.IDs[i]) {
			t.Errorf("%q:\n llama.cpp %v\n tiktoken  %v", ref.Texts[i], got, ref.IDs[i])
		}
	}
}
