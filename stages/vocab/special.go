package vocab

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// specialVocab ports gguf-py's SpecialVocab: merges, special token ids,
// add_*_token flags and the chat template, gathered from tokenizer.json,
// tokenizer_config.json, chat_template.jinja/.json and config.json with the
// same precedence: the first source to set an id wins, tokenizer_config.json
// names resolve only through tokenizer.json's added_tokens, and config.json
// (then its text_config) fills what is left.
type specialVocab struct {
	merges       []string
	ids          ordered[int64]
	add          ordered[bool]
	chatTemplate any // nil, a string, or a list of {name, template}
	types        []string
	nVocab       int // ids must be below it; < 0: unchecked
	warn         func(string)
}

// loadSpecial runs SpecialVocab(dir, load_merges, n_vocab) over the files
// Load has already read (tok, tc and cfg may be nil when the file is absent).
func loadSpecial(dir string, tok *HFTokenizer, tc, cfg map[string]any, loadMerges bool, nVocab int, warn func(string)) (*specialVocab, error) {
	s := &specialVocab{types: []string{"bos", "eos", "unk", "sep", "pad", "cls", "mask"}, nVocab: nVocab, warn: warn}
	if tok != nil && loadMerges {
		s.merges = tok.Merges
	}
	if err := s.fromTokenizer(dir, tok, tc); err != nil {
		return nil, err
	}
	if cfg != nil {
		for _, typ := range s.types {
			id := cfg[typ+"_token_id"]
			if id == nil {
				if text, ok := cfg["text_config"]; ok {
					id = get(text, typ+"_token_id")
				}
			}
			if err := s.setID(typ, id); err != nil {
				return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "config.json"), err)
			}
		}
	}
	return s, nil
}

// setID is SpecialVocab._set_special_token.
func (s *specialVocab) setID(typ string, v any) error {
	id, ok := pyInt(v)
	if !ok {
		return nil
	}
	if id < 0 {
		return fmt.Errorf("invalid value for special token type %s: %d", typ, id)
	}
	if s.nVocab < 0 || id < int64(s.nVocab) {
		if !s.ids.has(typ) {
			s.ids.set(typ, id)
		}
		return nil
	}
	s.warn(fmt.Sprintf("special token type %s, id %d out of range, must be under %d - skipping", typ, id, s.nVocab))
	return nil
}

func (s *specialVocab) fromTokenizer(dir string, tok *HFTokenizer, tc map[string]any) error {
	var added []AddedToken
	if tok != nil {
		added = tok.Added
		// "if tokenizer:" is false only for an empty tokenizer.json object,
		// which ParseTokenizerJSON already refuses (it needs a model).
		s.postProcessor(tok.PostProcessor, tc)
	}
	if len(tc) == 0 {
		return nil
	}
	tmpl, err := s.templateFiles(dir)
	if err != nil {
		return err
	}
	if v, ok := tc["chat_template"]; ok {
		tmpl = v
	}
	switch tmpl.(type) {
	case nil, string, []any:
		s.chatTemplate = tmpl
	default:
		s.warn("bad type for chat_template field in tokenizer_config.json - ignoring")
	}
	for _, typ := range s.types {
		if b, ok := tc["add_"+typ+"_token"].(bool); ok {
			s.add.set(typ, b)
		}
		entry := tc[typ+"_token"]
		if d, ok := entry.(map[string]any); ok {
			entry = d["content"]
		}
		content, ok := str(entry)
		if !ok {
			continue
		}
		for _, a := range added {
			if a.Content == content {
				if err := s.setID(typ, a.ID); err != nil {
					return fmt.Errorf("%s: %w", filepath.Join(dir, "tokenizer_config.json"), err)
				}
				break
			}
		}
	}
	return nil
}

// readTemplate reads a chat template file, which goes into the output word
// for word: only the model folder's own (a link to /etc/passwd would publish
// it), as for the side files an HF export copies.
func readTemplate(dir, p string) ([]byte, error) {
	if err := tensor.CheckInside(dir, p); err != nil {
		return nil, err
	}
	return tensor.ReadInput(p)
}

// templateFiles reads chat_template.jinja (with additional_chat_templates/
// *.jinja as named templates) or else chat_template.json's chat_template.
func (s *specialVocab) templateFiles(dir string) (any, error) {
	jinja := filepath.Join(dir, "chat_template.jinja")
	if isFile(jinja) {
		b, err := readTemplate(dir, jinja)
		if err != nil {
			return nil, err
		}
		extra, _ := filepath.Glob(filepath.Join(dir, "additional_chat_templates", "*.jinja"))
		if len(extra) == 0 {
			return string(b), nil
		}
		sort.Strings(extra)
		list := []any{map[string]any{"name": "default", "template": string(b)}}
		for _, p := range extra {
			t, err := readTemplate(dir, p)
			if err != nil {
				return nil, err
			}
			list = append(list, map[string]any{"name": strings.TrimSuffix(filepath.Base(p), ".jinja"), "template": string(t)})
		}
		return list, nil
	}
	js := filepath.Join(dir, "chat_template.json")
	if isFile(js) {
		if err := tensor.CheckInside(dir, js); err != nil {
			return nil, err
		}
		v, err := readJSONObject(js)
		if err != nil {
			return nil, err
		}
		return v["chat_template"], nil
	}
	return nil, nil
}

// isFile reports whether p names something other than a folder. A named
// pipe or device counts, so that reading it fails with its name instead of
// the file being taken as absent (a FIFO tokenizer.json would otherwise
// fall back silently to tokenizer.model).
func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
