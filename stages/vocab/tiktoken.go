package vocab

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

// ReaderKimi selects DeepseekV2Model.set_vocab's Kimi-K2 branch
// (Options.Reader) for a folder whose only vocabulary is tiktoken.model,
// as moonshotai/Kimi-K2 ships it (with remote code, tokenization_kimi.py,
// in place of a tokenizer.json). The converter takes the tokenizer's
// mergeable ranks and its special tokens (ids from the base token count
// on, 258 of them: tokenizer_config.json's added_tokens_decoder content,
// else <|reserved_token_ID|>), rebuilds each merge by running BPE over the
// ranks below the token's own, and writes the "kimi-k2" pre-tokenizer.
const ReaderKimi = "kimi"

// kimiReserved is tokenization_kimi.py's num_reserved_special_tokens + 2.
const kimiReserved = 256 + 2

// TiktokenRanks is a tiktoken.model (or hy.tiktoken): tokens in first-seen
// order with their ranks (a repeated token keeps its first place and, from
// ParseTiktoken, its last rank, as the Python dict load_tiktoken_bpe builds;
// from ParseHYTiktoken, its first).
type TiktokenRanks struct {
	Tokens [][]byte
	Rank   map[string]int
}

// maxTiktoken bounds tiktoken.model (Kimi-K2's is 2.8 MB), and
// maxMergeWork the sum of its tokens' squared lengths, which rebuilding the
// merges costs (Kimi-K2's: about 10^7): a file of few, very long tokens
// would otherwise run for hours.
const (
	maxTiktoken  = 64 << 20
	maxMergeWork = 1 << 30
)

// ParseTiktoken reads "base64-token rank" lines; name is used in errors,
// which give the line.
func ParseTiktoken(b []byte, name string) (*TiktokenRanks, error) {
	return parseTiktoken(b, name, false)
}

// parseTiktoken reads "base64-token rank" lines. With sequential, as
// tokenization_hy.py's _load_tiktoken_bpe, the rank column is not read:
// each new token takes the next rank from 0, a repeated one is skipped,
// and a blank line (which that reader cannot split) is refused; without,
// as tiktoken's load_tiktoken_bpe, ranks are the file's and blank lines
// are skipped.
func parseTiktoken(b []byte, name string, sequential bool) (*TiktokenRanks, error) {
	if len(b) > maxTiktoken {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d this reader takes", name, len(b), maxTiktoken)
	}
	t := &TiktokenRanks{Rank: map[string]int{}}
	work := 0
	lines := bytes.Split(b, []byte("\n"))
	if len(lines[len(lines)-1]) == 0 {
		lines = lines[:len(lines)-1] // the file's last newline ends a line, it starts none
	}
	for i, line := range lines {
		f := strings.Fields(string(line))
		if len(f) == 0 && !sequential {
			continue
		}
		if len(f) != 2 {
			return nil, fmt.Errorf("%s line %d: want a base64 token and a rank, found %d fields", name, i+1, len(f))
		}
		tok, err := base64.StdEncoding.DecodeString(f[0])
		if err != nil || len(tok) == 0 {
			return nil, fmt.Errorf("%s line %d: token %q: want non-empty base64", name, i+1, f[0])
		}
		_, seen := t.Rank[string(tok)]
		rank := len(t.Tokens)
		if !sequential {
			if rank, err = strconv.Atoi(f[1]); err != nil || rank < 0 || rank > math.MaxInt32 {
				return nil, fmt.Errorf("%s line %d: rank %q: want a non-negative integer", name, i+1, f[1])
			}
		} else if seen {
			continue
		}
		if work += len(tok) * len(tok); work > maxMergeWork {
			return nil, fmt.Errorf("%s line %d: tokens this long (%d bytes) pass what rebuilding the merges can take", name, i+1, len(tok))
		}
		if !seen {
			t.Tokens = append(t.Tokens, tok)
		}
		t.Rank[string(tok)] = rank
	}
	if len(t.Tokens) == 0 {
		return nil, fmt.Errorf("%s: no tokens", name)
	}
	return t, nil
}

// merge is the converter's QwenModel.bpe: the token's bytes merged pair by
// pair, lowest rank first, while that rank is below maxRank.
func (t *TiktokenRanks) merge(token []byte, maxRank int) [][]byte {
	parts := make([][]byte, len(token))
	for i := range token {
		parts[i] = token[i : i+1]
	}
	for len(parts) > 1 {
		best, bestRank := -1, 0
		for i := 0; i+1 < len(parts); i++ {
			r, ok := t.Rank[string(parts[i])+string(parts[i+1])]
			if ok && (best < 0 || r < bestRank) {
				best, bestRank = i, r
			}
		}
		if best < 0 || bestRank >= maxRank {
			break
		}
		joined := append(append([]byte{}, parts[best]...), parts[best+1]...)
		parts = append(append(parts[:best:best], joined), parts[best+2:]...)
	}
	return parts
}

// byteLevel is GPT-2's bytes_to_unicode applied to b.
func byteLevel(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		sb.WriteRune(byteRune[c])
	}
	return sb.String()
}

var byteRune = func() (m [256]rune) {
	n := 0
	for c := 0; c < 256; c++ {
		if c >= '!' && c <= '~' || c >= 0xa1 && c <= 0xac || c >= 0xae {
			m[c] = rune(c)
		} else {
			m[c] = rune(256 + n)
			n++
		}
	}
	return m
}()

func loadKimi(src *sources, path string, n int) (*gguf.Meta, error) {
	b, err := readFile(path)
	if err != nil {
		return nil, err
	}
	t, err := ParseTiktoken(b, path)
	if err != nil {
		return nil, err
	}
	base := len(t.Tokens)
	names := map[int]string{}
	if err := src.addedTokensDecoder(math.MaxInt32, func(id int, content string, _ bool) {
		if id >= base && id < base+kimiReserved {
			names[id] = content
		}
	}); err != nil {
		return nil, err
	}
	special := make([]namedID, kimiReserved)
	for i := range special {
		id := base + i
		special[i] = namedID{"<|reserved_token_" + strconv.Itoa(id) + "|>", id}
		if s, ok := names[id]; ok {
			special[i].name = s
		}
	}
	if n == 0 {
		n = base + kimiReserved
	}
	return tiktokenMeta(src, t, special, n, "kimi-k2")
}

// namedID is a special token of a tiktoken tokenizer.
type namedID struct {
	name string
	id   int
}

// tiktokenMeta is what the converter's tiktoken readers (Kimi-K2's, Hunyuan's)
// write before SpecialVocab: the merges rebuilt by BPE over the ranks; the
// tokens of ids 0..n-1 from the ranks with the special tokens over them, by
// name as the Python {**vocab, **special_tokens} (a token spelled as a
// special one gives up its id), the later of two on one id winning;
// special ids typed control, unnamed ids [PADi], unused.
func tiktokenMeta(src *sources, t *TiktokenRanks, special []namedID, n int, pre string) (*gguf.Meta, error) {
	idOf := map[string]int{}
	var order []string
	put := func(s string, id int) {
		if _, ok := idOf[s]; !ok {
			order = append(order, s)
		}
		idOf[s] = id
	}
	var merges []string
	for _, tok := range t.Tokens {
		rank := t.Rank[string(tok)]
		put(byteLevel(tok), rank)
		if len(tok) > 1 {
			if m := t.merge(tok, rank); len(m) == 2 {
				merges = append(merges, byteLevel(m[0])+" "+byteLevel(m[1]))
			}
		}
	}
	specialID := map[string]int{}
	for _, s := range special {
		put(s.name, s.id)
		specialID[s.name] = s.id
	}
	isSpecial := map[int]bool{}
	for _, id := range specialID {
		isSpecial[id] = true
	}
	byID := map[int]string{}
	for _, s := range order {
		byID[idOf[s]] = s
	}
	tokens, types := make([]string, n), make([]int32, n)
	for i := range tokens {
		switch tok, ok := byID[i]; {
		case !ok:
			tokens[i], types[i] = "[PAD"+strconv.Itoa(i)+"]", TypeUnused
		case isSpecial[i]:
			tokens[i], types[i] = tok, TypeControl
		default:
			tokens[i], types[i] = tok, TypeNormal
		}
	}
	meta := &gguf.Meta{}
	meta.Set(KeyModel, gguf.String("gpt2"))
	meta.Set(KeyPre, gguf.String(pre))
	meta.Set(KeyTokens, gguf.Strings(tokens))
	meta.Set(KeyTokenType, gguf.Int32s(types))
	meta.Set(KeyMerges, gguf.Strings(merges))
	return meta, addSpecial(meta, src, false, -1)
}

// tiktokenPath is the folder's tiktoken.model.
func tiktokenPath(dir string) string { return filepath.Join(dir, "tiktoken.model") }
