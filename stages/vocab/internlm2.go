package vocab

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

// ReaderInternLM2 selects InternLM2Model.set_vocab (Options.Reader), the
// converter's own SentencePiece reader for InternLM2 / InternLM2.5, which
// differs from TextModel's in ways real checkpoints reach:
//   - a "\x00" piece is written as "\U0001f409" (a NUL would read as an
//     empty string in C);
//   - pieces starting "[UNUSED" are typed unused; the chat tokens then take
//     some of those slots through tokenizer_config.json;
//   - added_tokens.json's tokens are appended after the model's pieces in
//     file order, whatever ids it gives them;
//   - tokenizer_config.json's added_tokens_decoder and tokenizer.json's
//     added_tokens replace the token at their id (score -1000, user-defined,
//     control when marked special), an id past the list being an error;
//   - the list covers config.json's vocab_size and stops there, which must
//     not pass the model's pieces.
//
// add_space_prefix and the chat EOS come from the table's sentencepiece_keys.
const ReaderInternLM2 = "internlm2"

func loadInternLM2(src *sources, path string, n int) (*gguf.Meta, error) {
	m, err := readSPM(path)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		n = len(m.Pieces)
	}
	if n > len(m.Pieces) {
		return nil, fmt.Errorf("%s: config.json's vocab_size %d is past the model's %d pieces, which InternLM2's reader cannot look up", path, n, len(m.Pieces))
	}
	tokens, scores, types := make([]string, n), make([]float32, n), make([]int32, n)
	for id, p := range m.Pieces[:n] {
		tokens[id], scores[id], types[id] = p.Text, p.Score, pieceType(p.Type)
		if p.Text == "\x00" {
			tokens[id] = "\U0001f409"
		}
		if strings.HasPrefix(p.Text, "[UNUSED") {
			types[id] = TypeUnused
		}
	}
	if tokens, scores, types, err = appendAddedTokensJSON(src, tokens, scores, types); err != nil {
		return nil, err
	}
	set := func(where string, id int, content string, special bool) error {
		if id >= len(tokens) {
			return fmt.Errorf("%s: token %q has id %d, past the %d tokens InternLM2's reader has", where, content, id, len(tokens))
		}
		tokens[id], scores[id], types[id] = content, -1000, TypeUserDefined
		if special {
			types[id] = TypeControl
		}
		return nil
	}
	var bad error
	if err := src.addedTokensDecoder(1<<31-1, func(id int, content string, special bool) {
		if bad == nil {
			bad = set(src.tcPath()+": added_tokens_decoder", id, content, special)
		}
	}); err != nil {
		return nil, err
	}
	if bad != nil {
		return nil, bad
	}
	if src.tok != nil {
		for _, a := range src.tok.Added {
			if err := set(filepath.Join(src.dir, "tokenizer.json")+": added_tokens", a.ID, a.Content, a.Special); err != nil {
				return nil, err
			}
		}
	}
	return llamaMeta(src, tokens, scores, types)
}

// appendAddedTokensJSON appends added_tokens.json's keys in file order.
func appendAddedTokensJSON(src *sources, tokens []string, scores []float32, types []int32) ([]string, []float32, []int32, error) {
	added, err := src.addedTokensJSON()
	for _, a := range added {
		tokens, scores, types = append(tokens, a.content), append(scores, -1000), append(types, TypeUserDefined)
	}
	return tokens, scores, types, err
}
