package vocab

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// GGUF token types (gguf-py's TokenType).
const (
	TypeNormal      int32 = 1
	TypeUnknown     int32 = 2
	TypeControl     int32 = 3
	TypeUserDefined int32 = 4
	TypeUnused      int32 = 5
	TypeByte        int32 = 6
)

// spmVocab is the converter's _create_vocab_sentencepiece: n slots named
// [PADi] (score -10000, UNUSED), filled from the model's pieces, then from
// added_tokens.json (USER_DEFINED) and tokenizer_config.json's
// added_tokens_decoder (CONTROL when special or special-looking, else
// USER_DEFINED with ▁ written as a space), those two with score -1000.
// Pieces and entries at ids >= n are dropped with a warning.
func spmVocab(src *sources, m *SPModel, n int) (tokens []string, scores []float32, types []int32, err error) {
	tokens, scores, types = make([]string, n), make([]float32, n), make([]int32, n)
	for i := range tokens {
		tokens[i], scores[i], types[i] = "[PAD"+strconv.Itoa(i)+"]", -10000, TypeUnused
	}
	for id, p := range m.Pieces {
		if id >= n {
			src.warn(fmt.Sprintf("ignore tokens from %d: id is out of range, max=%d", id, n-1))
			break
		}
		tokens[id], scores[id], types[id] = p.Text, p.Score, pieceType(p.Type)
	}
	added, err := src.addedTokensJSON()
	if err != nil {
		return nil, nil, nil, err
	}
	for _, a := range added {
		if a.id >= n {
			src.warn(fmt.Sprintf("ignore token %d: id is out of range, max=%d", a.id, n-1))
			continue
		}
		tokens[a.id], scores[a.id], types[a.id] = a.content, -1000, TypeUserDefined
	}
	if err := src.addedTokensDecoder(n, func(id int, content string, special bool) {
		if special || looksSpecial(content) {
			types[id] = TypeControl
		} else {
			content = strings.ReplaceAll(content, "\u2581", " ")
			types[id] = TypeUserDefined
		}
		tokens[id], scores[id] = content, -1000
	}); err != nil {
		return nil, nil, nil, err
	}
	return tokens, scores, types, nil
}

// addedJSON is one entry of added_tokens.json.
type addedJSON struct {
	content string
	id      int
}

// addedTokensJSON reads added_tokens.json's entries in file order (none
// when the file is absent).
func (src *sources) addedTokensJSON() ([]addedJSON, error) {
	path := filepath.Join(src.dir, "added_tokens.json")
	if !isFile(path) {
		return nil, nil
	}
	b, err := readFile(path)
	if err != nil {
		return nil, err
	}
	ms, err := orderedMembers(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	out := make([]addedJSON, 0, len(ms))
	for _, kv := range ms {
		var num json.Number
		if err := json.Unmarshal(kv.Value, &num); err != nil {
			return nil, fmt.Errorf("%s: %q: want a token id", path, kv.Key)
		}
		id, err := tokenID(num)
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %w", path, kv.Key, err)
		}
		out = append(out, addedJSON{kv.Key, id})
	}
	return out, nil
}

// pieceType maps a SentencePiece piece type the way the converter's chain of
// IsUnknown/IsControl/IsUnused/IsByte checks does: USER_DEFINED pieces are
// written as NORMAL.
func pieceType(t int32) int32 {
	switch t {
	case PieceUnknown:
		return TypeUnknown
	case PieceControl:
		return TypeControl
	case PieceUnused:
		return TypeUnused
	case PieceByte:
		return TypeByte
	}
	return TypeNormal
}

// addedTokensDecoder walks tokenizer_config.json's added_tokens_decoder in
// file order, skipping (with a warning) ids >= n.
func (src *sources) addedTokensDecoder(n int, fn func(id int, content string, special bool)) error {
	if src.tcRaw == nil {
		return nil
	}
	top, err := orderedMembers(src.tcRaw)
	if err != nil {
		return fmt.Errorf("%s: %w", src.tcPath(), err)
	}
	for _, kv := range top {
		if kv.Key != "added_tokens_decoder" {
			continue
		}
		entries, err := orderedMembers(kv.Value)
		if err != nil {
			return fmt.Errorf("%s: added_tokens_decoder: %w", src.tcPath(), err)
		}
		for _, e := range entries {
			id, err := tokenID(json.Number(e.Key))
			if err != nil {
				return fmt.Errorf("%s: added_tokens_decoder[%q]: %w", src.tcPath(), e.Key, err)
			}
			var d struct {
				Content *string `json:"content"`
				Special bool    `json:"special"`
			}
			if err := json.Unmarshal(e.Value, &d); err != nil || d.Content == nil {
				return fmt.Errorf("%s: added_tokens_decoder[%q]: want an object with a string \"content\"", src.tcPath(), e.Key)
			}
			if id >= n {
				src.warn(fmt.Sprintf("ignore token %d: id is out of range, max=%d", id, n-1))
				continue
			}
			fn(id, *d.Content, d.Special)
		}
	}
	return nil
}

// looksSpecial is the converter's does_token_look_special: added tokens some
// models forget to mark special.
func looksSpecial(t string) bool {
	switch t {
	case "<pad>", "<mask>", "<2mass>", "[@BOS@]":
		return true
	}
	return strings.HasPrefix(t, "<|") && strings.HasSuffix(t, "|>") ||
		strings.HasPrefix(t, "<\uff5c") && strings.HasSuffix(t, "\uff5c>") ||
		strings.HasPrefix(t, "<unused") && strings.HasSuffix(t, ">")
}
