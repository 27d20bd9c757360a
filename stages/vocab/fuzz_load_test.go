package vocab

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// loadFiles are the files FuzzLoad writes, in the order of its arguments.
var loadFiles = []string{"tokenizer.model", "tokenizer.json", "tokenizer_config.json", "config.json", "added_tokens.json", "chat_template.json"}

// FuzzLoad runs the whole tokenizer reader on a fuzzed model folder (an empty
// argument leaves its file out): the parsers, the choice of vocabulary, the
// special tokens, added tokens and chat templates. Whatever it accepts must
// give token, score and type lists of one length; nothing may panic.
func FuzzLoad(f *testing.F) {
	spm := spmModel(Piece{"<unk>", 0, PieceUnknown}, Piece{"<s>", 0, PieceControl}, Piece{"<0x0A>", 0, PieceByte}, Piece{"▁a", -2.5, PieceNormal})
	f.Add([]byte(spm), []byte(nil), []byte(`{"add_bos_token": true, "added_tokens_decoder": {"4": {"content": "<|im|>", "special": true}}}`),
		[]byte(`{"vocab_size": 6, "bos_token_id": 1, "eos_token_id": [1, 2]}`), []byte(`{"<extra>": 5}`), []byte(nil))
	f.Add([]byte(nil), []byte(bpeJSON), []byte(`{"bos_token": "<s>", "eos_token": {"content": "<|eot|>"}, "chat_template": [{"name": "default", "template": "T"}]}`),
		[]byte(`{"vocab_size": 8, "pad_token_id": 2}`), []byte(nil), []byte(`{"chat_template": "J"}`))
	f.Add([]byte(nil), []byte(`{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "<0x0A>": 2}, "merges": ["a b"], "byte_fallback": true},
		"decoder": {"type": "Sequence", "decoders": [{"type": "Replace"}, {"type": "ByteFallback"}]}}`), []byte(nil), []byte(nil), []byte(nil), []byte(nil))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, model, tok, tc, cfg, added, tmpl []byte) {
		if vocabSizeOver(cfg, 1<<16) {
			return // a padded list of millions of tokens tests nothing more, slowly
		}
		fuzzFolder(t, dir, loadFiles, model, tok, tc, cfg, added, tmpl)
		// The tokenizer_config.json's first byte picks whether its
		// add_prefix_space is read too, config.json's length (odd) the
		// InternLM2 reader.
		opts := Options{PrefixSpaceKey: len(tc) > 0 && tc[0]%2 == 1}
		if len(cfg)%2 == 1 {
			opts.Reader = ReaderInternLM2
		}
		meta, err := Load(dir, opts)
		if err != nil {
			return
		}
		lengths := map[string]int{}
		for _, key := range []string{KeyTokens, KeyScores, KeyTokenType} {
			if v, ok := meta.Get(key); ok {
				switch l := v.V.(type) {
				case []string:
					lengths[key] = len(l)
				case []float32:
					lengths[key] = len(l)
				case []int32:
					lengths[key] = len(l)
				default:
					t.Fatalf("%s holds a %T", key, v.V)
				}
			}
		}
		n, ok := lengths[KeyTokens]
		if !ok || n == 0 {
			t.Fatalf("accepted without tokens: %v", lengths)
		}
		for key, l := range lengths {
			if l != n {
				t.Fatalf("%s has %d entries for %d tokens", key, l, n)
			}
		}
	})
}

// vocabSizeOver reports whether a config.json asks for more than limit tokens.
func vocabSizeOver(cfg []byte, limit float64) bool {
	var c struct {
		VocabSize  any `json:"vocab_size"`
		TextConfig struct {
			VocabSize any `json:"vocab_size"`
		} `json:"text_config"`
	}
	if json.Unmarshal(cfg, &c) != nil {
		return false
	}
	for _, v := range []any{c.VocabSize, c.TextConfig.VocabSize} {
		if n, ok := v.(float64); ok && n > limit {
			return true
		}
	}
	return false
}

// fuzzFolder gives dir's files (names[i]) the fuzzed contents data[i]; an
// empty one removes the file, so each input also tries its absence.
func fuzzFolder(t *testing.T, dir string, names []string, data ...[]byte) {
	t.Helper()
	for i, d := range data {
		p := filepath.Join(dir, names[i])
		if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		if len(d) == 0 {
			continue
		}
		if err := os.WriteFile(p, d, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
