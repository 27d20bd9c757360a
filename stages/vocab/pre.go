package vocab

import (
	"encoding/json"
	"fmt"
	"strings"
)

// llama.cpp identifies a BPE pre-tokenizer by hashing how the HF tokenizer
// splits a test text, which needs the tokenizer's own code, and fails on a
// tokenizer whose hash it has not listed (a fine-tune saved by a newer
// tokenizers library). We name it from the pre_tokenizer definition instead,
// for the shapes whose llama.cpp counterpart is unambiguous:
//
//   - ByteLevel with use_regex (GPT-2's built-in regex), no prefix space: "gpt-2"
//   - Splits on the regexes of one of llama.cpp's pre-tokenizers, in its
//     order, then ByteLevel without regex: that pre-tokenizer's name
//     (splitRegexPre: the regexes as the models' tokenizer.json spell them,
//     which is how llama-vocab.cpp lists them or quotes them).
//   - LLaMA 3's regex names two of them, told apart by the BPE model's
//     ignore_merges: llama.cpp's "llama-bpe" looks a whole word up before
//     merging, as tokenizers does with ignore_merges (Llama 3's own
//     tokenizer.json), and its "dbrx" merges every word, as tokenizers does
//     without (cl100k exports such as Xenova/gpt-3.5-turbo, which the
//     converter's hash names dbrx).
//
// Anything else is an error asking for Options.Pre: a wrong name would load
// and tokenize subtly differently, which is worse than stopping.
var splitRegexPre = map[string]string{
	// Meta-Llama-3 / 3.1: llama.cpp's "llama-bpe".
	`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`: "llama-bpe",
	// Qwen1.5 to Qwen3 (LLaMA-3's with single digits): "qwen2".
	`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`: "qwen2",
	// DeepSeek-V3 / R1: digits in threes, CJK runs, then words and punctuation: "deepseek-v3".
	"\\p{N}{1,3}\x00[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+\x00" +
		`[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_` + "`" + `{|}~][A-Za-z]+|[^` + "\r\n" + `\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[` +
		"\r\n" + `]*|\s*[` + "\r\n" + `]+|\s+(?!\S)|\s+`: "deepseek-v3",
	// o200k (gpt-4o, and gpt-oss's o200k_harmony): "gpt-4o".
	`[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`: "gpt-4o",
}

// namePre returns the llama.cpp pre-tokenizer name for a tokenizer.json's
// pre_tokenizer, or an error describing the structure it could not name.
func namePre(t *HFTokenizer) (string, error) {
	pt := t.PreTokenizer
	steps := []any{pt}
	if get(pt, "type") == "Sequence" {
		steps, _ = get(pt, "pretokenizers").([]any)
	}
	switch {
	case len(steps) == 1 && isByteLevel(steps[0], true):
		return "gpt-2", nil
	case len(steps) >= 2 && isByteLevel(steps[len(steps)-1], false):
		var res []string
		for _, st := range steps[:len(steps)-1] {
			re, ok := splitRegex(st)
			if !ok {
				res = nil
				break
			}
			res = append(res, re)
		}
		if name, ok := splitRegexPre[strings.Join(res, "\x00")]; ok && res != nil {
			if name == "llama-bpe" && !t.IgnoreMerges {
				name = "dbrx"
			}
			return name, nil
		}
	}
	return "", fmt.Errorf("pre_tokenizer %s is not one whose llama.cpp name can be told from its definition; set the pre-tokenizer name explicitly (e.g. llama-bpe, qwen2, deepseek-v3, gpt-4o, gpt-2)", describePre(pt))
}

// splitRegex returns the regex of a Split step that keeps every match as
// its own piece: "Isolated", or "Removed" with invert (what is removed is
// what does not match, and the patterns here end in a catch-all \s+, so
// nothing is), as older exports of the o200k tokenizers spell it.
func splitRegex(v any) (string, bool) {
	if get(v, "type") != "Split" {
		return "", false
	}
	inv := truthy(get(v, "invert"))
	if b := get(v, "behavior"); !(b == "Isolated" && !inv) && !(b == "Removed" && inv) {
		return "", false
	}
	return str(get(get(v, "pattern"), "Regex"))
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
