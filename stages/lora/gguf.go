package lora

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

// GGUFMeta is the metadata llama.cpp's convert_lora_to_gguf.py writes for an
// adapter: architecture and type, then the model-card keys gguf-py derives
// from the adapter folder (README front matter, folder name), then
// adapter.lora.alpha. It has no hyperparameters and no general.file_type:
// the loader takes those from the base model. name overrides general.name.
func (a *Adapter) GGUFMeta(arch, name string) (*gguf.Meta, error) {
	card, err := readCard(a.Dir)
	if err != nil {
		return nil, err
	}
	m := &gguf.Meta{}
	m.Set("general.architecture", gguf.String(arch))
	m.Set("general.type", gguf.String("adapter"))
	m.Set("adapter.type", gguf.String("lora"))
	if name == "" {
		name = cardString(card, "name", "model_name")
	}
	if name == "" {
		// An adapter's parameter count is negative to gguf-py, so "lora"
		// in the folder name is a type, not a fine-tune: only the name
		// is derived.
		name = idToTitle(filepath.Base(filepath.Clean(a.Dir)))
	}
	m.Set("general.name", gguf.String(name))
	for _, kv := range [][2]string{{"general.author", cardString(card, "author", "model_author", "model_creator")},
		{"general.description", cardString(card, "description", "model_description")}} {
		if kv[1] != "" {
			m.Set(kv[0], gguf.String(kv[1]))
		}
	}
	if lic := cardList(nil, card["license"]); len(lic) > 0 {
		m.Set("general.license", gguf.String(strings.Join(lic, ",")))
	}
	baseModelKeys(m, card)
	tags := cardList(cardList(nil, card["tags"]), card["pipeline_tag"])
	if len(tags) > 0 {
		m.Set("general.tags", gguf.Strings(tags))
	}
	langs := cardList(cardList(nil, card["languages"]), card["language"])
	if len(langs) > 0 {
		m.Set("general.languages", gguf.Strings(langs))
	}
	m.Set("adapter.lora.alpha", gguf.Float32(float32(a.Config.Alpha)))
	if toks := a.Config.AloraTokens; len(toks) > 0 {
		m.Set("adapter.alora.invocation_tokens", gguf.Value{Type: gguf.TypeArray, Elem: gguf.TypeUint32, V: toks})
	}
	m.Set("general.quantization_version", gguf.Uint32(2))
	return m, nil
}

func cardString(card map[string]any, keys ...string) string {
	for _, k := range keys {
		if v, ok := card[k]; ok && v != nil {
			return fmt.Sprint(v)
		}
	}
	return ""
}
