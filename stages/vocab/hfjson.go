package vocab

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// AddedToken is one entry of tokenizer.json's added_tokens.
type AddedToken struct {
	ID         int
	Content    string
	Special    bool
	Normalized bool
}

// HFTokenizer is what the converter reads from a Hugging Face tokenizer.json.
type HFTokenizer struct {
	ModelType    string         // model.type: "BPE", "Unigram", "WordPiece", ...
	ByteFallback bool           // model.byte_fallback
	IgnoreMerges bool           // model.ignore_merges (LLaMA 3 style BPE)
	Vocab        map[string]int // model.vocab for BPE and WordPiece models
	Merges       []string       // model.merges in the converter's "a b" form
	Added        []AddedToken
	DecoderType  string // decoder.type
	// The sections SpecialVocab and the pre-tokenizer naming inspect,
	// decoded generically (numbers as json.Number); nil when absent.
	PreTokenizer  any
	PostProcessor any
	Normalizer    any
}

// ParseTokenizerJSON decodes tokenizer.json bytes; name is used in errors.
func ParseTokenizerJSON(data []byte, name string) (*HFTokenizer, error) {
	var raw struct {
		Model         json.RawMessage `json:"model"`
		AddedTokens   json.RawMessage `json:"added_tokens"`
		Decoder       json.RawMessage `json:"decoder"`
		PreTokenizer  json.RawMessage `json:"pre_tokenizer"`
		PostProcessor json.RawMessage `json:"post_processor"`
		Normalizer    json.RawMessage `json:"normalizer"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: not a JSON object: %w", name, err)
	}
	t := &HFTokenizer{}
	var err error
	for _, sec := range []struct {
		key string
		raw json.RawMessage
		dst *any
	}{{"pre_tokenizer", raw.PreTokenizer, &t.PreTokenizer}, {"post_processor", raw.PostProcessor, &t.PostProcessor}, {"normalizer", raw.Normalizer, &t.Normalizer}} {
		if *sec.dst, err = decodeGeneric(sec.raw); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", name, sec.key, err)
		}
	}
	if len(raw.Decoder) > 0 && !isNull(raw.Decoder) {
		var d struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal(raw.Decoder, &d); err != nil {
			return nil, fmt.Errorf("%s: decoder: %w", name, err)
		}
		t.DecoderType = d.Type
	}
	if t.Added, err = parseAddedTokens(raw.AddedTokens); err != nil {
		return nil, fmt.Errorf("%s: added_tokens: %w", name, err)
	}
	if err := parseModel(raw.Model, t); err != nil {
		return nil, fmt.Errorf("%s: model: %w", name, err)
	}
	return t, nil
}

func isNull(b json.RawMessage) bool { return string(bytes.TrimSpace(b)) == "null" }

// decodeGeneric decodes JSON keeping numbers as json.Number, so integers
// stay distinguishable from floats as they are in Python.
func decodeGeneric(b json.RawMessage) (any, error) {
	if len(b) == 0 {
		return nil, nil
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

func parseAddedTokens(b json.RawMessage) ([]AddedToken, error) {
	if len(b) == 0 || isNull(b) {
		return nil, nil
	}
	var list []struct {
		ID         *json.Number `json:"id"`
		Content    *string      `json:"content"`
		Special    bool         `json:"special"`
		Normalized bool         `json:"normalized"`
	}
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, err
	}
	out := make([]AddedToken, len(list))
	for i, a := range list {
		if a.Content == nil || a.ID == nil {
			return nil, fmt.Errorf("entry %d: want \"id\" and \"content\"", i)
		}
		id, err := tokenID(*a.ID)
		if err != nil {
			return nil, fmt.Errorf("entry %d (%q): %w", i, *a.Content, err)
		}
		out[i] = AddedToken{ID: id, Content: *a.Content, Special: a.Special, Normalized: a.Normalized}
	}
	return out, nil
}

// maxTokenID bounds token ids (and so the arrays built from them); the
// largest real vocabularies have a few hundred thousand entries.
const maxTokenID = 1<<24 - 1

func tokenID(n json.Number) (int, error) {
	id, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("id %s is not an integer", n)
	}
	if id < 0 || id > maxTokenID {
		return 0, fmt.Errorf("id %d outside [0, %d]", id, maxTokenID)
	}
	return int(id), nil
}

func parseModel(b json.RawMessage, t *HFTokenizer) error {
	if len(b) == 0 || isNull(b) {
		return fmt.Errorf("missing")
	}
	var m struct {
		Type         string          `json:"type"`
		ByteFallback bool            `json:"byte_fallback"`
		IgnoreMerges bool            `json:"ignore_merges"`
		Vocab        json.RawMessage `json:"vocab"`
		Merges       json.RawMessage `json:"merges"`
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	t.ModelType, t.ByteFallback, t.IgnoreMerges = m.Type, m.ByteFallback, m.IgnoreMerges
	if m.Type != "BPE" && m.Type != "WordPiece" {
		return nil // vocab shapes of other models are not read
	}
	var vocab map[string]json.Number
	if err := json.Unmarshal(m.Vocab, &vocab); err != nil {
		return fmt.Errorf("vocab: want an object of token ids: %w", err)
	}
	t.Vocab = make(map[string]int, len(vocab))
	for tok, n := range vocab {
		id, err := tokenID(n)
		if err != nil {
			return fmt.Errorf("vocab[%q]: %w", tok, err)
		}
		t.Vocab[tok] = id
	}
	var err error
	if t.Merges, err = parseMerges(m.Merges); err != nil {
		return fmt.Errorf("merges: %w", err)
	}
	return nil
}

// parseMerges accepts both merge formats: "a b" strings, and (since
// transformers 4.45) [a, b] pairs, which the converter joins with a space
// after writing spaces inside a part as U+0120.
func parseMerges(b json.RawMessage) ([]string, error) {
	if len(b) == 0 || isNull(b) {
		return nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(b, &items); err != nil {
		return nil, fmt.Errorf("want a list: %w", err)
	}
	out := make([]string, len(items))
	pairs := len(items) > 0 && bytes.HasPrefix(bytes.TrimSpace(items[0]), []byte("["))
	for i, it := range items {
		if !pairs {
			if err := json.Unmarshal(it, &out[i]); err != nil {
				return nil, fmt.Errorf("entry %d: want a string like the first entry", i)
			}
			continue
		}
		var p []string
		if err := json.Unmarshal(it, &p); err != nil || len(p) != 2 {
			return nil, fmt.Errorf("entry %d: want a pair of strings like the first entry", i)
		}
		out[i] = strings.ReplaceAll(p[0], " ", "\u0120") + " " + strings.ReplaceAll(p[1], " ", "\u0120")
	}
	return out, nil
}
