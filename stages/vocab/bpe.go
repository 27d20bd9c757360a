package vocab

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// fullVocab is the HF tokenizer's get_vocab(): model.vocab with the added
// tokens merged in, as id -> text. Two texts on one id are an error.
func fullVocab(t *HFTokenizer, name string) (map[int]string, error) {
	byID := make(map[int]string, len(t.Vocab)+len(t.Added))
	byText := make(map[string]int, len(t.Vocab)+len(t.Added))
	for text, id := range t.Vocab {
		byText[text] = id
	}
	for _, a := range t.Added {
		byText[a.Content] = a.ID
	}
	// Texts in sorted order, so which clash is named does not depend on map order.
	for _, text := range slices.Sorted(maps.Keys(byText)) {
		id := byText[text]
		if other, dup := byID[id]; dup {
			if other > text {
				other, text = text, other
			}
			return nil, fmt.Errorf("%s: tokens %q and %q share id %d", name, other, text, id)
		}
		byID[id] = text
	}
	return byID, nil
}

// bpeVocab is the converter's get_vocab_base for a byte-level BPE: n tokens
// in id order, ids nobody uses written as [PADi] (UNUSED); added tokens are
// CONTROL when special or special-looking, else USER_DEFINED with ▁ written
// as a space; the rest NORMAL. n defaults to the vocabulary's size, and an id
// at or past n is an error, as the converter asserts.
func bpeVocab(t *HFTokenizer, n int, name string) ([]string, []int32, error) {
	byID, err := fullVocab(t, name)
	if err != nil {
		return nil, nil, err
	}
	if n <= 0 {
		n = len(byID)
	}
	if n == 0 {
		return nil, nil, fmt.Errorf("%s: the vocabulary has no tokens", name)
	}
	// The lowest offending id is named, so the message does not depend on map order.
	bad := -1
	for id := range byID {
		if id >= n && (bad < 0 || id < bad) {
			bad = id
		}
	}
	if bad >= 0 {
		return nil, nil, fmt.Errorf("%s: token %q has id %d, past the model's vocab_size %d", name, byID[bad], bad, n)
	}
	added := make(map[string]AddedToken, len(t.Added))
	for _, a := range t.Added {
		if _, seen := added[a.Content]; !seen {
			added[a.Content] = a
		}
	}
	tokens, types := make([]string, n), make([]int32, n)
	for i := 0; i < n; i++ {
		text, ok := byID[i]
		switch a, isAdded := added[text]; {
		case !ok:
			tokens[i], types[i] = "[PAD"+strconv.Itoa(i)+"]", TypeUnused
		case isAdded && (a.Special || looksSpecial(text)):
			tokens[i], types[i] = text, TypeControl
		case isAdded:
			tokens[i], types[i] = strings.ReplaceAll(text, "\u2581", " "), TypeUserDefined
		default:
			tokens[i], types[i] = text, TypeNormal
		}
	}
	return tokens, types, nil
}
