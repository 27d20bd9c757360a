package vocab

import (
	"strings"
	"testing"
)

// TestParseTiktoken: bad lines are refused naming the line; a repeated
// token keeps its first place and its last rank (the Python dict that
// load_tiktoken_bpe builds).
func TestParseTiktoken(t *testing.T) {
	for _, c := range []struct{ in, err string }{
		{"", "no tokens"},
		{"YQ== 0\nYg==\n", "line 2: want a base64 token and a rank"},
		{"YQ== 0\n!!! 1\n", `line 2: token "!!!"`},
		{"YQ== -1\n", `line 1: rank "-1"`},
		{"YQ== x\n", `line 1: rank "x"`},
		{"YQ== 0\n" + strings.Repeat("YWFh", 12000) + " 1\n", "line 2: tokens this long"},
	} {
		_, err := ParseTiktoken([]byte(c.in), "tiktoken.model")
		if err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("%.40q: %.200v, want %q", c.in, err, c.err)
		}
	}
	r, err := ParseTiktoken([]byte("YQ== 0\nYg== 1\nYQ== 5\n\n"), "tiktoken.model")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Tokens) != 2 || string(r.Tokens[0]) != "a" || r.Rank["a"] != 5 || r.Rank["b"] != 1 {
		t.Errorf("tokens %q ranks %v", r.Tokens, r.Rank)
	}
}

// FuzzParseTiktoken: any input parses or is refused by both readers
// (tiktoken's, HYTokenizer's), never panics, and the merges rebuilt from
// what parses only join tokens of the file.
func FuzzParseTiktoken(f *testing.F) {
	f.Add([]byte("YQ== 0\nYg== 1\nYWI= 2\n"))
	f.Add([]byte("IA== 0\nICA= 1\nICAg 2\n"))
	f.Add([]byte("IA== 0\nICA= 1\nIA== x\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, parse := range []func([]byte, string) (*TiktokenRanks, error){ParseTiktoken, ParseHYTiktoken} {
			r, err := parse(b, "tiktoken.model")
			if err != nil {
				continue
			}
			for _, tok := range r.Tokens {
				for _, p := range r.merge(tok, r.Rank[string(tok)]) {
					if len(p) == 0 {
						t.Fatalf("empty part merging %q", tok)
					}
				}
			}
		}
	})
}

// FuzzLoadKimi runs the Kimi reader on a fuzzed folder (tiktoken.model,
// tokenizer_config.json, config.json): whatever it accepts has one type per
// token and merges only of tokens it holds; nothing may panic.
func FuzzLoadKimi(f *testing.F) {
	f.Add([]byte("YQ== 0\nYg== 1\nYWI= 2\n"), []byte(`{"added_tokens_decoder": {"3": {"content": "[BOS]", "special": true}}}`),
		[]byte(`{"vocab_size": 6, "bos_token_id": 3}`))
	f.Add([]byte("IA== 0\nICA= 1\n"), []byte(nil), []byte(`{"vocab_size": 2}`))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, tik, tc, cfg []byte) {
		if vocabSizeOver(cfg, 1<<16) {
			return
		}
		fuzzFolder(t, dir, []string{"tiktoken.model", "tokenizer_config.json", "config.json"}, tik, tc, cfg)
		meta, err := Load(dir, Options{Reader: ReaderKimi})
		if err != nil {
			return
		}
		toks, _ := meta.Get(KeyTokens)
		types, _ := meta.Get(KeyTokenType)
		if tl, yl := len(toks.V.([]string)), len(types.V.([]int32)); tl != yl || tl == 0 {
			t.Fatalf("%d tokens, %d types", tl, yl)
		}
	})
}
