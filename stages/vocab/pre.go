package vocab

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// llama.cpp identifies a BPE pre-tokenizer by hashing how the HF tokenizer
// splits a test text, which needs the tokenizer's own code, and fails on a
// tokenizer whose hash it has not listed (a fine-tune saved by a newer
// tokenizers library). We name it from the pre_tokenizer definition instead
// (preDefs), where that definition is one llama.cpp tokenizes under one
// name. Anything else is an error asking for Options.Pre: a wrong name
// would load and tokenize subtly differently, which is worse than stopping.

// namePre returns the llama.cpp pre-tokenizer name for a tokenizer.json's
// pre_tokenizer, or an error describing the structure it could not name.
// hint (the architecture's own name, or "") settles a definition several
// names share when it is one of them.
func namePre(t *HFTokenizer, hint string) (string, error) {
	pt := t.PreTokenizer
	steps := []any{pt}
	if get(pt, "type") == "Sequence" {
		steps, _ = get(pt, "pretokenizers").([]any)
	}
	sig := make([]string, len(steps))
	for i, st := range steps {
		sig[i] = preStep(st)
	}
	key := strings.Join(sig, "\x00")
	for _, d := range preDefs {
		if strings.Join(d.steps, "\x00") != key {
			continue
		}
		switch {
		case d.merges != nil && t.IgnoreMerges:
			return d.merges.ignore, nil
		case d.merges != nil:
			return d.merges.keep, nil
		case len(d.names) == 1:
			return d.names[0], nil
		case hint != "" && slices.Contains(d.names, hint):
			return hint, nil
		}
		return "", fmt.Errorf("pre_tokenizer %s is shared by llama.cpp's pre-tokenizers %s, which tokenizer.json does not tell apart; "+
			"set the pre-tokenizer name explicitly (the one llama.cpp's converter gives the base model)", describePre(pt), strings.Join(d.names, ", "))
	}
	return "", fmt.Errorf("pre_tokenizer %s is not one whose llama.cpp name can be told from its definition; set the pre-tokenizer name explicitly (e.g. llama-bpe, qwen2, deepseek-v3, gpt-4o, gpt-2)", describePre(pt))
}

// preStep renders one pre_tokenizer step as preDefs spell it, or "?TYPE"
// for a step no definition there uses.
func preStep(v any) string {
	typ, _ := str(get(v, "type"))
	switch typ {
	case "Split":
		re, ok := str(get(get(v, "pattern"), "Regex"))
		inv := truthy(get(v, "invert"))
		switch b := get(v, "behavior"); {
		case !ok:
		case b == "Isolated" && !inv:
			return "split " + re
		case b == "Removed" && inv && catchAll[re]:
			// What is removed is what does not match: nothing, for a
			// regex that matches every character (older exports of the
			// o200k and cl100k tokenizers spell their Split so).
			return "split " + re
		}
	case "Digits":
		if truthy(get(v, "individual_digits")) {
			return "digits"
		}
		return "digit-runs"
	case "Punctuation":
		switch get(v, "behavior") {
		case "Contiguous":
			return "punctuation"
		case "Isolated":
			return "punctuation-isolated"
		}
	case "ByteLevel":
		if truthy(get(v, "add_prefix_space")) {
			break
		}
		if use, ok := get(v, "use_regex").(bool); ok && !use {
			return "bytelevel"
		}
		return "bytelevel+regex"
	}
	return "?" + typ
}

// describePre is a short rendering of a pre_tokenizer for error messages.
func describePre(pt any) string {
	if pt == nil {
		return "null"
	}
	typ, _ := str(get(pt, "type"))
	if typ == "Sequence" {
		steps, _ := get(pt, "pretokenizers").([]any)
		parts := make([]string, len(steps))
		for i, s := range steps {
			parts[i] = describePre(s)
		}
		return "Sequence[" + strings.Join(parts, ", ") + "]"
	}
	if re, ok := str(get(get(pt, "pattern"), "Regex")); ok {
		q, _ := json.Marshal(re)
		if len(q) > 60 {
			q = append(q[:57], "..."...)
		}
		return typ + "(" + string(q) + ")"
	}
	if typ == "" {
		return "(no type)"
	}
	return typ
}
