package vocab

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

// writeDir makes a model folder holding files (name -> content).
func writeDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// spmModel serializes pieces as a tokenizer.model.
func spmModel(pieces ...Piece) string {
	var b []byte
	for _, p := range pieces {
		b = pbBytes(b, 1, pbPiece(p.Text, p.Score, int(p.Type)))
	}
	return string(b)
}

// keyVals renders meta as key=value lines for compact comparisons.
func keyVals(m *gguf.Meta) map[string]any {
	out := map[string]any{}
	for _, kv := range m.All() {
		out[kv.Key] = kv.Value.V
	}
	return out
}

func keys(m *gguf.Meta) []string {
	var out []string
	for _, kv := range m.All() {
		out = append(out, kv.Key)
	}
	return out
}

func TestLoadNoTokenizer(t *testing.T) {
	dir := writeDir(t, map[string]string{"config.json": `{"vocab_size": 4}`})
	_, err := Load(dir, Options{})
	if !errors.Is(err, ErrNoTokenizer) || !strings.Contains(err.Error(), "tokenizer.model") ||
		!strings.Contains(err.Error(), "tokenizer.json") || !strings.Contains(err.Error(), dir) {
		t.Errorf("err = %v; want ErrNoTokenizer naming the folder and both files", err)
	}
}

func TestLoadSPM(t *testing.T) {
	model := spmModel(
		Piece{"<unk>", 0, PieceUnknown}, Piece{"<s>", 0, PieceControl}, Piece{"<0x0A>", 0, PieceByte},
		Piece{"<ud>", 0, PieceUserDefined}, Piece{"<x>", 0, PieceUnused}, Piece{"▁a", -2.5, PieceNormal},
	)
	dir := writeDir(t, map[string]string{
		"tokenizer.model":   model,
		"added_tokens.json": `{"<extra>": 6, "<late>": 9}`,
		"tokenizer_config.json": `{"add_bos_token": true, "add_unk_token": false,
			"added_tokens_decoder": {"7": {"content": "▁user▁tok", "special": false}, "4": {"content": "<|im|>", "special": false}}}`,
		"config.json": `{"vocab_size": 9, "bos_token_id": 1, "eos_token_id": [2, 3], "pad_token_id": 8, "unk_token_id": 12}`,
	})
	var warnings []string
	meta, err := Load(dir, Options{Warn: func(m string) { warnings = append(warnings, m) }})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		KeyModel: "llama", KeyPre: "default",
		KeyTokens: []string{"<unk>", "<s>", "<0x0A>", "<ud>", "<|im|>", "▁a", "<extra>", " user tok", "[PAD8]"},
		KeyScores: []float32{0, 0, 0, 0, -1000, -2.5, -1000, -1000, -10000},
		// USER_DEFINED pieces are written NORMAL; <|im|> looks special.
		KeyTokenType:                      []int32{2, 3, 6, 1, 3, 1, 4, 4, 5},
		"tokenizer.ggml.bos_token_id":     uint32(1),
		"tokenizer.ggml.padding_token_id": uint32(8),
		"tokenizer.ggml.add_bos_token":    true,
	}
	if got := keyVals(meta); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
	wantKeys := []string{KeyModel, KeyPre, KeyTokens, KeyScores, KeyTokenType,
		"tokenizer.ggml.bos_token_id", "tokenizer.ggml.padding_token_id", "tokenizer.ggml.add_bos_token"}
	if got := keys(meta); !reflect.DeepEqual(got, wantKeys) {
		t.Errorf("keys %q, want %q", got, wantKeys)
	}
	// <late> (id 9) and unk id 12 are past the 9 tokens; add_unk_token has no key.
	if len(warnings) != 3 {
		t.Errorf("warnings %q, want 3", warnings)
	}
}

func TestLoadSPMTruncates(t *testing.T) {
	dir := writeDir(t, map[string]string{"tokenizer.model": spmModel(Piece{"a", 0, 1}, Piece{"b", 0, 1}, Piece{"c", 0, 1})})
	meta, err := Load(dir, Options{VocabSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := meta.Get(KeyTokens); !reflect.DeepEqual(v.V, []string{"a", "b"}) {
		t.Errorf("tokens %q, want [a b]", v.V)
	}
}

const bpeJSON = `{
  "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 3}, "merges": [["a", "b"]]},
  "added_tokens": [
    {"id": 4, "content": "<s>", "special": true},
    {"id": 5, "content": "▁hi", "special": false},
    {"id": 6, "content": "<|eot|>", "special": false}
  ],
  "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
  "post_processor": {"type": "TemplateProcessing",
    "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
    "pair": [{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}, {"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "B"}}]},
  "decoder": {"type": "ByteLevel"}
}`

func TestLoadBPE(t *testing.T) {
	dir := writeDir(t, map[string]string{
		"tokenizer.json":        bpeJSON,
		"tokenizer_config.json": `{"bos_token": "<s>", "eos_token": {"content": "<|eot|>"}, "chat_template": "T"}`,
		"chat_template.jinja":   "ignored: tokenizer_config.json has one",
		"config.json":           `{"vocab_size": 8, "bos_token_id": 0, "eos_token_id": 1, "pad_token_id": 2}`,
	})
	meta, err := Load(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		KeyModel: "gpt2", KeyPre: "gpt-2",
		KeyTokens:    []string{"a", "b", "[PAD2]", "ab", "<s>", " hi", "<|eot|>", "[PAD7]"},
		KeyTokenType: []int32{1, 1, 5, 1, 3, 4, 3, 5},
		KeyMerges:    []string{"a b"},
		// tokenizer_config.json names win over config.json; pad comes from config.json.
		"tokenizer.ggml.bos_token_id":     uint32(4),
		"tokenizer.ggml.eos_token_id":     uint32(6),
		"tokenizer.ggml.padding_token_id": uint32(2),
		// TemplateProcessing: <s> leads single; the pair repeats it in the middle.
		"tokenizer.ggml.add_bos_token": true,
		"tokenizer.ggml.add_sep_token": false,
		KeyChatTemplate:                "T",
	}
	if got := keyVals(meta); !reflect.DeepEqual(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
	wantKeys := []string{KeyModel, KeyPre, KeyTokens, KeyTokenType, KeyMerges,
		"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.padding_token_id",
		"tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_sep_token", KeyChatTemplate}
	if got := keys(meta); !reflect.DeepEqual(got, wantKeys) {
		t.Errorf("keys %q\nwant %q", got, wantKeys)
	}
}

func TestLoadBPEErrors(t *testing.T) {
	unnamed := strings.Replace(bpeJSON, `"use_regex": true`, `"use_regex": false`, 1)
	// The messages are compared whole ($DIR stands for the model folder): where
	// several tokens are at fault, the message must name the same one every run.
	tests := []struct {
		name  string
		files map[string]string
		opts  Options
		want  string
	}{
		{"unnamed pre", map[string]string{"tokenizer.json": unnamed}, Options{},
			"$DIR/tokenizer.json: pre_tokenizer ByteLevel is not one whose llama.cpp name can be told from its definition; set the pre-tokenizer name explicitly (e.g. llama-bpe, qwen2, deepseek-v3, gpt-4o, gpt-2)"},
		// Ids 0-6 with a gap: the default size (6 distinct tokens) is too small, as in the converter.
		{"default size too small", map[string]string{"tokenizer.json": bpeJSON}, Options{},
			`$DIR/tokenizer.json: token "<|eot|>" has id 6, past the model's vocab_size 6`},
		// Ids 5 and 6 are both past 5: the lowest is named.
		{"id past vocab_size", map[string]string{"tokenizer.json": bpeJSON, "config.json": `{"vocab_size": 5}`}, Options{},
			`$DIR/tokenizer.json: token "▁hi" has id 5, past the model's vocab_size 5`},
		{"ids past vocab_size option", map[string]string{"tokenizer.json": bpeJSON}, Options{VocabSize: 4},
			`$DIR/tokenizer.json: token "<s>" has id 4, past the model's vocab_size 4`},
		{"shared id", map[string]string{"tokenizer.json": strings.Replace(bpeJSON, `"ab": 3`, `"ab": 1`, 1)}, Options{},
			`$DIR/tokenizer.json: tokens "ab" and "b" share id 1`},
		// Three texts on one id: the first two in sorted order are named.
		{"three share an id", map[string]string{"tokenizer.json": strings.Replace(bpeJSON, `"a": 0, "b": 1, "ab": 3`, `"a": 0, "b": 0, "ab": 0`, 1)}, Options{},
			`$DIR/tokenizer.json: tokens "a" and "ab" share id 0`},
		{"unigram", map[string]string{"tokenizer.json": `{"model": {"type": "Unigram", "vocab": [["a", 0.0]]}}`}, Options{},
			`$DIR/tokenizer.json: model type "Unigram": only BPE tokenizer.json models are supported (and SentencePiece tokenizer.model)`},
		{"bad config", map[string]string{"tokenizer.json": bpeJSON, "config.json": `[1]`}, Options{},
			"$DIR/config.json: want a JSON object"},
		{"bad vocab_size", map[string]string{"tokenizer.json": bpeJSON, "config.json": `{"vocab_size": "8"}`}, Options{},
			"$DIR/config.json: vocab_size 8 is not an integer in [1, 16777216]"},
		{"negative special id", map[string]string{"tokenizer.json": bpeJSON, "config.json": `{"eos_token_id": -1}`}, Options{VocabSize: 7},
			"$DIR/config.json: invalid value for special token type eos: -1"},
		{"huge vocab option", map[string]string{"tokenizer.json": bpeJSON}, Options{VocabSize: 1 << 40},
			"vocab: vocab size 1099511627776 outside [0, 16777216]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeDir(t, tt.files)
			want := strings.ReplaceAll(tt.want, "$DIR", dir)
			_, err := Load(dir, tt.opts)
			if err == nil || err.Error() != want {
				t.Errorf("err = %v\nwant    %s", err, want)
			}
		})
	}
	// The override names what detection cannot.
	meta, err := Load(writeDir(t, map[string]string{"tokenizer.json": unnamed}), Options{Pre: "llama-bpe", VocabSize: 7})
	if err != nil {
		t.Fatal(err)
	}
	if pre, _ := meta.Str(KeyPre); pre != "llama-bpe" {
		t.Errorf("pre %q, want llama-bpe", pre)
	}
}

func TestLoadEmptyBPE(t *testing.T) {
	dir := writeDir(t, map[string]string{"tokenizer.json": `{"model": {"type": "BPE", "vocab": {}, "merges": []}, "pre_tokenizer": {"type": "ByteLevel"}}`})
	if _, err := Load(dir, Options{}); err == nil || !strings.Contains(err.Error(), "no tokens") {
		t.Errorf("err = %v; want a no-tokens error", err)
	}
}

// TestLoadPrefixSpaceKey: with PrefixSpaceKey, tokenizer_config.json's
// add_prefix_space leads the keys (LlamaModel.set_vocab writes it before the
// vocabulary); null or absent writes nothing, and a non-bool is refused.
func TestLoadPrefixSpaceKey(t *testing.T) {
	for _, tt := range []struct {
		tc   string
		want any // nil: no key
		err  string
	}{
		{`{"add_prefix_space": false}`, false, ""},
		{`{"add_prefix_space": true}`, true, ""},
		{`{"add_prefix_space": null}`, nil, ""},
		{`{}`, nil, ""},
		{`{"add_prefix_space": "no"}`, nil, `add_prefix_space is no, want true, false or null`},
	} {
		dir := writeDir(t, map[string]string{"tokenizer.json": bpeJSON, "tokenizer_config.json": tt.tc, "config.json": `{"vocab_size": 8}`})
		meta, err := Load(dir, Options{PrefixSpaceKey: true})
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) || !strings.Contains(err.Error(), "tokenizer_config.json") {
				t.Errorf("%s: err = %v, want one naming tokenizer_config.json and %q", tt.tc, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tt.tc, err)
		}
		v, ok := meta.Get(KeyAddSpacePrefix)
		switch {
		case tt.want == nil && ok:
			t.Errorf("%s: %s = %v, want none", tt.tc, KeyAddSpacePrefix, v.V)
		case tt.want != nil && (!ok || v.V != tt.want || keys(meta)[0] != KeyAddSpacePrefix):
			t.Errorf("%s: keys %q, %s = %v; want it first, %v", tt.tc, keys(meta), KeyAddSpacePrefix, v.V, tt.want)
		}
		plain, err := Load(dir, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := plain.Get(KeyAddSpacePrefix); ok {
			t.Errorf("%s: %s written without PrefixSpaceKey", tt.tc, KeyAddSpacePrefix)
		}
	}
}
