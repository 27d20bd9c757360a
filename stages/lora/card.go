package lora

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

// CardName is the model card PEFT writes beside every adapter.
const CardName = "README.md"

// readCard parses the YAML front matter of dir/README.md, the model card
// PEFT writes beside every adapter; no card, or one without front matter,
// is an empty card.
func readCard(dir string) (map[string]any, error) {
	path := filepath.Join(dir, CardName)
	b, err := tensor.ReadInput(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
	if len(lines) == 0 || lines[0] != "---" {
		return nil, nil
	}
	var front []string
	for _, l := range lines[1:] {
		if l == "---" {
			break
		}
		front = append(front, l)
	}
	var card map[string]any
	if err := yaml.Unmarshal([]byte(strings.Join(front, "\n")+"\n"), &card); err != nil {
		return nil, fmt.Errorf("%s: front matter: %w", path, err)
	}
	return card, nil
}

var reKeepCase = regexp.MustCompile(`^(v\d+(?:\.\d+)*|\d.*)$`)

// idToTitle is gguf-py's Metadata.id_to_title: dashes become spaces and
// lowercase words are title-cased, unless they are version-like.
func idToTitle(s string) string {
	words := strings.Fields(strings.ReplaceAll(strings.TrimSpace(s), "-", " "))
	for i, w := range words {
		if w == strings.ToLower(w) && w != strings.ToUpper(w) && !reKeepCase.MatchString(w) {
			words[i] = pyTitle(w)
		}
	}
	return strings.Join(words, " ")
}

// pyTitle is Python's str.title: a letter after a non-letter is upper case.
func pyTitle(s string) string {
	var b strings.Builder
	prev := false
	for _, r := range s {
		isLetter := strings.ToLower(string(r)) != strings.ToUpper(string(r))
		if isLetter && !prev {
			b.WriteString(strings.ToUpper(string(r)))
		} else {
			b.WriteRune(r)
		}
		prev = isLetter
	}
	return b.String()
}

// baseModelKeys writes general.base_model.* the way gguf-py derives them
// from a card's base_model entries: a Hugging Face id gives a title-cased
// name, its organization and a huggingface.co repo URL; a URL is kept as
// the repo URL. Version heuristics are not reproduced.
func baseModelKeys(m *gguf.Meta, card map[string]any) {
	var ids []any
	for _, k := range []string{"base_model", "base_models", "base_model_sources"} {
		if v, ok := card[k]; ok {
			switch v := v.(type) {
			case string:
				ids = append(ids, v)
			case []any:
				ids = append(ids, v...)
			}
			break
		}
	}
	if ids == nil {
		return
	}
	m.Set("general.base_model.count", gguf.Uint32(uint32(len(ids))))
	for i, v := range ids {
		id, _ := v.(string)
		key := fmt.Sprintf("general.base_model.%d.", i)
		set := func(k, s string) {
			if s != "" {
				m.Set(key+k, gguf.String(s))
			}
		}
		if strings.HasPrefix(id, "http://") || strings.HasPrefix(id, "https://") || strings.HasPrefix(id, "ssh://") {
			set("repo_url", id)
			continue
		}
		if id == "" || strings.Contains(id, " ") {
			set("name", id)
			continue
		}
		org, full, hasOrg := strings.Cut(id, "/")
		if !hasOrg {
			org, full = "", id
		}
		if hasOrg && strings.HasPrefix(org, ".") {
			hasOrg = false
		}
		set("name", idToTitle(full))
		if hasOrg {
			set("organization", idToTitle(org))
			set("repo_url", "https://huggingface.co/"+org+"/"+full)
		}
	}
}

// cardList appends a card entry that may be one string or a list of them.
func cardList(dst []string, v any) []string {
	switch v := v.(type) {
	case string:
		return append(dst, v)
	case []any:
		for _, e := range v {
			dst = append(dst, fmt.Sprint(e))
		}
	}
	return dst
}
