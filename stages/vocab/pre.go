package vocab

import (
	"encoding/json"
	"fmt"
	"strings"
)

// llama.cpp identifies a BPE pre-tokenizer by hashing how the HF tokenizer
// splits a test text, which needs the tokenizer's own code. We name it from
// the pre_tokenizer definition instead, for the shapes whose llama.cpp
// counterpart is unambiguous:
//
//   - ByteLevel with use_regex (GPT-2's built-in regex), no prefix space: "gpt-2"
//   - Split on the LLaMA-3 regex, then ByteLevel without regex: "llama-bpe"
//   - Split on the Qwen2 regex (LLaMA-3's with single digits), then ByteLevel: "qwen2"
//
// Anything else is an error asking for Options.Pre: a wrong name would load
// and tokenize subtly differently, which is worse than stopping.
var splitRegexPre = map[string]string{
	`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`: "llama-bpe",
	`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`:      "qwen2",
}

// namePre returns the llama.cpp pre-tokenizer name for a tokenizer.json
// pre_tokenizer, or an error describing the structure it could not name.
func namePre(pt any) (string, error) {
	steps := []any{pt}
	if get(pt, "type") == "Sequence" {
		steps, _ = get(pt, "pretokenizers").([]any)
	}
	switch {
	case len(steps) == 1 && isByteLevel(steps[0], true):
		return "gpt-2", nil
	case len(steps) == 2 && isByteLevel(steps[1], false) && get(steps[0], "type") == "Split" &&
		get(steps[0], "behavior") == "Isolated" && !truthy(get(steps[0], "invert")):
		re, _ := str(get(get(steps[0], "pattern"), "Regex"))
		if name, ok := splitRegexPre[re]; ok {
			return name, nil
		}
	}
	return "", fmt.Errorf("pre_tokenizer %s is not one whose llama.cpp name can be told from its definition; set the pre-tokenizer name explicitly (e.g. llama-bpe, qwen2, gpt-2)", describePre(pt))
}

// isByteLevel reports a ByteLevel pre-tokenizer without prefix space whose
// use_regex (default true) equals regex.
func isByteLevel(v any, regex bool) bool {
	if get(v, "type") != "ByteLevel" || truthy(get(v, "add_prefix_space")) {
		return false
	}
	use, ok := get(v, "use_regex").(bool)
	if !ok {
		use = true
	}
	return use == regex
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
