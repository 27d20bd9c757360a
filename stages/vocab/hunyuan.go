package vocab

import (
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

// ReaderHunyuan selects HunYuanMoEModel.set_vocab (Options.Reader) for a
// folder whose only vocabulary is hy.tiktoken, as tencent/Hunyuan-A13B
// ships it (with remote code, tokenization_hy.py's HYTokenizer, in place of
// a tokenizer.json). The converter takes the tokenizer's mergeable ranks
// and its special tokens, rebuilds each merge as for Kimi-K2, writes the
// "hunyuan" pre-tokenizer and, after SpecialVocab's keys, BOS id 127959
// ("<|bos|>") whatever config.json says. The dense Hunyuan's converter
// class reads its vocabulary otherwise and is not this reader.
const ReaderHunyuan = "hunyuan"

// HYTokenizer's special tokens: fixed at import time to ids from
// hySpecialStart on, whatever hy.tiktoken holds, so its vocab_size (the
// highest id + 1) is hySpecialStart + len(hySpecial).
const (
	hySpecialStart = 127957
	hyExtras       = 205
	hyBOS          = 127959
)

var hySpecial = func() []string {
	s := []string{"<|endoftext|>", "<|startoftext|>", "<|bos|>", "<|eos|>", "<|pad|>"}
	for i := 0; i < hyExtras; i++ {
		s = append(s, "<|extra_"+strconv.Itoa(i)+"|>")
	}
	return s
}()

// hyTiktokenPath is the folder's hy.tiktoken.
func hyTiktokenPath(dir string) string { return filepath.Join(dir, "hy.tiktoken") }

// ParseHYTiktoken reads hy.tiktoken as HYTokenizer does: "base64-token
// rank" lines whose rank column is not read; each new token takes the next
// rank from 0 and a repeated one is skipped.
func ParseHYTiktoken(b []byte, name string) (*TiktokenRanks, error) {
	return parseTiktoken(b, name, true)
}

// loadHunyuan is HunYuanMoEModel.set_vocab; n is the model's vocab size,
// what names where it came from. The converter asserts that n is
// HYTokenizer's vocab_size. HYTokenizer itself asserts that hy.tiktoken
// holds exactly the hySpecialStart tokens below its special ids; fewer are
// taken here (the ids between become [PADi] entries, as the converter
// writes them) so that a small vocabulary can be tested, more are refused.
func loadHunyuan(src *sources, path string, n int, what string) (*gguf.Meta, error) {
	want := hySpecialStart + len(hySpecial)
	if n != want {
		if n == 0 {
			return nil, fmt.Errorf("%s: no vocab_size: HYTokenizer (%s) has %d tokens, and the converter asserts config.json's vocab_size is that",
				filepath.Join(src.dir, "config.json"), path, want)
		}
		return nil, fmt.Errorf("%s %d, but HYTokenizer (%s) has %d tokens (%d special ones from id %d on, whatever the file holds): "+
			"the converter asserts they are equal", what, n, path, want, len(hySpecial), hySpecialStart)
	}
	b, err := readFile(path)
	if err != nil {
		return nil, err
	}
	t, err := ParseHYTiktoken(b, path)
	if err != nil {
		return nil, err
	}
	if len(t.Tokens) > hySpecialStart {
		return nil, fmt.Errorf("%s: %d distinct tokens, more than the %d below HYTokenizer's special ids", path, len(t.Tokens), hySpecialStart)
	}
	special := make([]namedID, len(hySpecial))
	for i, s := range hySpecial {
		special[i] = namedID{s, hySpecialStart + i}
	}
	meta, err := tiktokenMeta(src, t, special, n, "hunyuan")
	if err != nil {
		return nil, err
	}
	meta.Set(idKeys["bos"], gguf.Uint32(hyBOS))
	return meta, nil
}
