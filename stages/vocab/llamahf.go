package vocab

import (
	"fmt"
	"regexp"
	"sort"

	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

// isLlamaHF is LlamaHfVocab's acceptance test: a BPE with byte fallback and
// a Sequence decoder (LLaMA-2 style tokenizer.json without tokenizer.model).
// A LLaMA-3 style BPE (ignore_merges, no byte fallback) goes the gpt2 way.
func isLlamaHF(t *HFTokenizer) bool {
	return t.ModelType == "BPE" && t.ByteFallback && t.DecoderType == "Sequence"
}

var byteToken = regexp.MustCompile(`^<0x[0-9A-Fa-f]{2}>$`)

// loadLlamaHF ports LlamaHfVocab: model.vocab in id order (BYTE for <0xXX>,
// CONTROL for the tokenizer's special tokens, else NORMAL), then the added
// tokens past it; every score is -1000. transformers' all_special_ids is
// approximated by the tokens tokenizer_config.json names (bos, eos, unk,
// sep, pad, cls, mask and additional_special_tokens) plus the added tokens
// marked special.
func loadLlamaHF(src *sources, path string) (*gguf.Meta, error) {
	t := src.tok
	base := len(t.Vocab)
	byID, err := fullVocab(t, path)
	if err != nil {
		return nil, err
	}
	special := src.specialIDs(byID)
	tokens := make([]string, 0, base)
	types := make([]int32, 0, base)
	for id := 0; id < base; id++ {
		text, ok := byID[id]
		if !ok {
			return nil, fmt.Errorf("%s: model.vocab has %d entries but no token with id %d", path, base, id)
		}
		typ := TypeNormal
		if byteToken.MatchString(text) {
			typ = TypeByte
		} else if special[id] {
			typ = TypeControl
		}
		tokens, types = append(tokens, text), append(types, typ)
	}
	var extra []AddedToken
	for _, a := range t.Added {
		if a.ID >= base {
			extra = append(extra, a)
		}
	}
	sort.SliceStable(extra, func(i, j int) bool { return extra[i].ID < extra[j].ID })
	for _, a := range extra {
		if a.ID != len(tokens) {
			return nil, fmt.Errorf("%s: added token %q has id %d, want %d (added ids must follow model.vocab without gaps)", path, a.Content, a.ID, len(tokens))
		}
		typ := TypeUserDefined
		if special[a.ID] {
			typ = TypeControl
		}
		tokens, types = append(tokens, a.Content), append(types, typ)
	}
	scores := make([]float32, len(tokens))
	for i := range scores {
		scores[i] = -1000
	}
	return llamaMeta(src, tokens, scores, types)
}

// specialIDs resolves the special tokens named in tokenizer_config.json to ids.
func (src *sources) specialIDs(byID map[int]string) map[int]bool {
	byText := make(map[string]int, len(byID))
	for id, text := range byID {
		byText[text] = id
	}
	out := map[int]bool{}
	mark := func(v any) {
		if d, ok := v.(map[string]any); ok {
			v = d["content"]
		}
		if s, ok := str(v); ok {
			if id, ok := byText[s]; ok {
				out[id] = true
			}
		}
	}
	for _, typ := range []string{"bos", "eos", "unk", "sep", "pad", "cls", "mask"} {
		mark(src.tc[typ+"_token"])
	}
	extra, _ := src.tc["additional_special_tokens"].([]any)
	for _, v := range extra {
		mark(v)
	}
	for _, a := range src.tok.Added {
		if a.Special {
			out[a.ID] = true
		}
	}
	return out
}
