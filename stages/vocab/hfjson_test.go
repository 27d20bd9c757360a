package vocab

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
)

func TestParseTokenizerJSONMerges(t *testing.T) {
	tests := []struct {
		name, merges string
		want         []string
	}{
		{"strings", `["a b", "ab c"]`, []string{"a b", "ab c"}},
		{"pairs", `[["a", "b"], ["ab", "c"]]`, []string{"a b", "ab c"}},
		// Spaces inside a part become U+0120 so the "a b" form stays splittable.
		{"pair with space", `[[" a", "b c"]]`, []string{"\u0120a b\u0120c"}},
		{"empty", `[]`, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := `{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ` + tt.merges + `}}`
			tok, err := ParseTokenizerJSON([]byte(doc), "tokenizer.json")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(tok.Merges, tt.want) {
				t.Errorf("merges %q, want %q", tok.Merges, tt.want)
			}
		})
	}
}

func TestParseTokenizerJSONErrors(t *testing.T) {
	tests := []struct{ name, doc, want string }{
		{"not json", `{`, "not a JSON object"},
		{"no model", `{}`, "model: missing"},
		{"float id", `{"model": {"type": "BPE", "vocab": {"a": 1.5}}}`, `vocab["a"]: id 1.5 is not an integer`},
		{"negative id", `{"model": {"type": "BPE", "vocab": {"a": -1}}}`, "outside"},
		{"huge id", `{"model": {"type": "BPE", "vocab": {"a": 99999999999}}}`, "outside"},
		{"mixed merges", `{"model": {"type": "BPE", "vocab": {}, "merges": ["a b", ["c", "d"]]}}`, "entry 1: want a string"},
		{"triple merge", `{"model": {"type": "BPE", "vocab": {}, "merges": [["a", "b", "c"]]}}`, "entry 0: want a pair"},
		{"added without id", `{"model": {"type": "BPE", "vocab": {}}, "added_tokens": [{"content": "x"}]}`, `added_tokens: entry 0: want "id"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTokenizerJSON([]byte(tt.doc), "dir/tokenizer.json")
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "dir/tokenizer.json: ") {
				t.Errorf("err = %v; want one naming dir/tokenizer.json and %q", err, tt.want)
			}
		})
	}
}

func TestNamePre(t *testing.T) {
	llama3 := `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`
	qwen2 := strings.Replace(llama3, `{1,3}`, ``, 1)
	split := func(re string) string {
		return `{"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "` + re + `"}, "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false}]}`
	}
	falcon := func(punct string, single bool) string {
		return `{"type": "Sequence", "pretokenizers": [{"type": "Punctuation", "behavior": "` + punct + `"}, {"type": "ByteLevel", "add_prefix_space": false}, ` +
			`{"type": "Digits", "individual_digits": ` + strconv.FormatBool(single) + `}, {"type": "Split", "pattern": {"Regex": "[0-9][0-9][0-9]"}, "behavior": "Isolated", "invert": false}]}`
	}
	tests := []struct{ name, pre, want string }{
		{"gpt-2 byte level", `{"type": "ByteLevel", "add_prefix_space": false, "use_regex": true}`, "gpt-2"},
		{"byte level default regex", `{"type": "ByteLevel"}`, "gpt-2"},
		{"llama 3", split(llama3), "llama-bpe"},
		{"llama 3 regex, merging every word", split(llama3), "dbrx"},
		{"qwen2", split(qwen2), "qwen2"},
		{"prefix space", `{"type": "ByteLevel", "add_prefix_space": true}`, ""},
		{"byte level without regex", `{"type": "ByteLevel", "use_regex": false}`, ""},
		{"other regex", split(`\\d+`), ""},
		{"metaspace", `{"type": "Metaspace"}`, ""},
		{"none", `null`, ""},
		// Removed with invert keeps only what matches: the same as
		// Isolated for a regex matching every character (and only then:
		// TestNamePreInvertedPartial).
		{"inverted catch-all", strings.Replace(split(qwen2), `"Isolated", "invert": false`, `"Removed", "invert": true`, 1), "qwen2"},
		{"falcon", falcon("Contiguous", false), "falcon"},
		// tokenizers' Punctuation defaults to Isolated, which is not Falcon's.
		{"falcon, isolated punctuation", strings.Replace(falcon("Contiguous", false), `, "behavior": "Contiguous"`, ``, 1), ""},
		{"falcon, single digits", falcon("Contiguous", true), ""},
		{"digits then gpt-2, shared by starcoder and others", `{"type": "Sequence", "pretokenizers": [{"type": "Digits", "individual_digits": true}, {"type": "ByteLevel"}]}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Only LLaMA 3's own tokenizer.json sets ignore_merges.
			im := strconv.FormatBool(tt.name == "llama 3")
			tok, err := ParseTokenizerJSON([]byte(`{"model": {"type": "BPE", "vocab": {}, "ignore_merges": `+im+`}, "pre_tokenizer": `+tt.pre+`}`), "tokenizer.json")
			if err != nil {
				t.Fatal(err)
			}
			got, err := namePre(tok, "")
			if got != tt.want || (tt.want == "") != (err != nil) {
				t.Errorf("namePre = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func FuzzParseTokenizerJSON(f *testing.F) {
	f.Add([]byte(`{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": [["a", "b"]]}, "added_tokens": [{"id": 2, "content": "<s>", "special": true}]}`))
	if dir, ok := corpus.Find(); ok {
		if b, err := os.ReadFile(filepath.Join(dir, "tiny-llama-bpe", "tokenizer.json")); err == nil {
			f.Add(b)
		}
	}
	// The pre-tokenizers of testdata/pre (Split, Digits, Punctuation, ByteLevel steps).
	fixtures, _ := filepath.Glob(filepath.Join("testdata", "pre", "*.json"))
	for _, p := range fixtures {
		var fx struct {
			Pre json.RawMessage `json:"pre_tokenizer"`
		}
		if b, err := os.ReadFile(p); err == nil && json.Unmarshal(b, &fx) == nil {
			f.Add([]byte(`{"model": {"type": "BPE", "vocab": {"a": 0}}, "pre_tokenizer": ` + string(fx.Pre) + `}`))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		tok, err := ParseTokenizerJSON(data, "fuzz.json")
		if err != nil {
			return
		}
		// Whatever parses must build a vocabulary or fail cleanly.
		if tok.ModelType == "BPE" && len(tok.Vocab)+len(tok.Added) < 1<<16 {
			_, _, _ = bpeVocab(tok, 0, "fuzz.json")
		}
		_, _ = namePre(tok, "")
		s := &specialVocab{types: []string{"bos", "eos", "sep"}, nVocab: -1, warn: func(string) {}}
		s.postProcessor(tok.PostProcessor, map[string]any{"bos_token": "<s>"})
	})
}

// TestNamePreInvertedPartial: a Split written as Removed with invert drops
// what its regex does not match, so deepseek-coder's definition with one
// such step is not deepseek-coder's.
func TestNamePreInvertedPartial(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "pre", "deepseek-coder.json"))
	if err != nil {
		t.Fatal(err)
	}
	var fx struct {
		Pre map[string]any `json:"pre_tokenizer"`
	}
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	for _, inverted := range []bool{false, true} {
		steps := fx.Pre["pretokenizers"].([]any)
		step := steps[1].(map[string]any)
		step["behavior"], step["invert"] = map[bool]string{false: "Isolated", true: "Removed"}[inverted], inverted
		pre, _ := json.Marshal(fx.Pre)
		tok, err := ParseTokenizerJSON([]byte(`{"model": {"type": "BPE", "vocab": {}}, "pre_tokenizer": `+string(pre)+`}`), "tokenizer.json")
		if err != nil {
			t.Fatal(err)
		}
		got, err := namePre(tok, "")
		if want := map[bool]string{false: "deepseek-coder", true: ""}[inverted]; got != want {
			t.Errorf("inverted %v: namePre = %q, %v; want %q", inverted, got, err, want)
		}
	}
}

// TestNamePreOfRealTokenizers names the pre-tokenizers of real tokenizers
// (testdata/pre: their tokenizer.json's pre_tokenizer, extracted by
// scripts/extract-pretokenizers.py and scripts/make-pre-fixtures.py) as
// llama.cpp's converter does by hash. Where llama.cpp gives the definition
// several names (shared_with), it must be refused with an error naming them;
// where it is written as another name that llama.cpp tokenizes the same way
// (written), that name.
func TestNamePreOfRealTokenizers(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "pre", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 25 {
		t.Fatalf("%d fixtures under testdata/pre, want the 25 the scripts write", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var fx struct {
				Want         string          `json:"llama_cpp_pre"`
				Shared       []string        `json:"shared_with"`
				Written      string          `json:"written"`
				Pre          json.RawMessage `json:"pre_tokenizer"`
				IgnoreMerges bool            `json:"ignore_merges"`
			}
			if err := json.Unmarshal(b, &fx); err != nil {
				t.Fatal(err)
			}
			model := `{"type": "BPE", "vocab": {}, "ignore_merges": ` + strconv.FormatBool(fx.IgnoreMerges) + `}`
			tok, err := ParseTokenizerJSON([]byte(`{"model": `+model+`, "pre_tokenizer": `+string(fx.Pre)+`}`), f)
			if err != nil {
				t.Fatal(err)
			}
			got, err := namePre(tok, "")
			if fx.Shared != nil {
				if err == nil || !strings.Contains(err.Error(), strings.Join(fx.Shared, ", ")) {
					t.Errorf("namePre = %q, %v; want an error naming %v, which llama.cpp gives this definition (the converter: %q)", got, err, fx.Shared, fx.Want)
				}
				return
			}
			if fx.Written != "" { // a name llama.cpp tokenizes as it does fx.Want
				fx.Want = fx.Written
			}
			if got != fx.Want {
				t.Errorf("namePre = %q, %v; want llama.cpp's %q", got, err, fx.Want)
			}
		})
	}
}
