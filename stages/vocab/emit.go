package vocab

import (
	"fmt"
	"math"
	"strings"

	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

// idKeys are the special token types SpecialVocab.add_to_gguf can write
// (gguf-py's GGUFWriter has add_<typ>_token_id for these; cls has none).
var idKeys = map[string]string{
	"bos":  "tokenizer.ggml.bos_token_id",
	"eos":  "tokenizer.ggml.eos_token_id",
	"unk":  "tokenizer.ggml.unknown_token_id",
	"sep":  "tokenizer.ggml.seperator_token_id", // sic, as in gguf-py
	"pad":  "tokenizer.ggml.padding_token_id",
	"mask": "tokenizer.ggml.mask_token_id",
	"eot":  "tokenizer.ggml.eot_token_id",
	"eom":  "tokenizer.ggml.eom_token_id",
}

// addKeys are the add_<typ>_token flags GGUFWriter can write.
var addKeys = map[string]string{
	"bos": "tokenizer.ggml.add_bos_token",
	"eos": "tokenizer.ggml.add_eos_token",
	"sep": "tokenizer.ggml.add_sep_token",
}

// addSpecial runs SpecialVocab and appends what add_to_gguf writes, in its
// order: merges, special ids, add flags, chat template(s).
func addSpecial(meta *gguf.Meta, src *sources, loadMerges bool, nVocab int) error {
	s, err := loadSpecial(src.dir, src.tok, src.tc, src.cfg, loadMerges, nVocab, src.warn)
	if err != nil {
		return err
	}
	if len(s.merges) > 0 {
		meta.Set(KeyMerges, gguf.Strings(s.merges))
	} else if loadMerges {
		src.warn("adding merges requested but no merges found, output may be non-functional")
	}
	for _, typ := range s.ids.keys {
		key, ok := idKeys[typ]
		if !ok {
			src.warn(fmt.Sprintf("no GGUF key for special token type %s - skipping", typ))
			continue
		}
		id := s.ids.vals[typ]
		if id > math.MaxUint32 {
			return fmt.Errorf("vocab: special token %s id %d does not fit GGUF's uint32", typ, id)
		}
		meta.Set(key, gguf.Uint32(uint32(id)))
	}
	for _, typ := range s.add.keys {
		if key, ok := addKeys[typ]; ok {
			meta.Set(key, gguf.Bool(s.add.vals[typ]))
		} else {
			src.warn(fmt.Sprintf("no GGUF key for add_%s_token - skipping", typ))
		}
	}
	return addChatTemplate(meta, s.chatTemplate, src.tcPath())
}

// addChatTemplate is GGUFWriter.add_chat_template: a string is the template;
// a list of {name, template} writes each named one as
// tokenizer.chat_template.<name> (name reduced to [A-Za-z0-9_]), their names
// as tokenizer.chat_templates, and "default" as tokenizer.chat_template.
// gguf-py lists the names from a Python set, in no fixed order; we keep
// first-seen order.
func addChatTemplate(meta *gguf.Meta, tmpl any, where string) error {
	switch t := tmpl.(type) {
	case nil:
		return nil
	case string:
		meta.Set(KeyChatTemplate, gguf.String(t))
		return nil
	}
	list, _ := tmpl.([]any)
	var names []string
	var def *string
	for i, c := range list {
		name, _ := str(get(c, "name"))
		name = strings.Map(func(r rune) rune {
			if r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return r
			}
			return '_'
		}, name)
		tv := get(c, "template")
		if name == "" || tv == nil {
			continue
		}
		text, ok := str(tv)
		if !ok {
			return fmt.Errorf("%s: chat_template[%d].template is not a string", where, i)
		}
		if name == "default" {
			def = &text
			continue
		}
		if !contains(names, name) {
			names = append(names, name)
		}
		meta.Set(KeyChatTemplate+"."+name, gguf.String(text))
	}
	if len(names) > 0 {
		meta.Set("tokenizer.chat_templates", gguf.Strings(names))
	}
	if def != nil {
		meta.Set(KeyChatTemplate, gguf.String(*def))
	}
	return nil
}
