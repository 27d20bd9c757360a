package main

import (
	"fmt"
	"path/filepath"
)

// writeTokenizer writes a byte-level BPE tokenizer (GPT-2's pre-tokenizer)
// of exactly vocab tokens: the 256 byte symbols, merges of letter pairs,
// and two special tokens at the end used as bos and eos.
func writeTokenizer(dir string, vocab int) error {
	if vocab < 260 {
		return fmt.Errorf("vocab %d: need at least 260 tokens", vocab)
	}
	sym := byteSymbols()
	v := map[string]int{}
	var order []string
	for b := 0; b < 256; b++ {
		v[sym[b]] = b
		order = append(order, sym[b])
	}
	// Merges grow words letter by letter, breadth first: every new token is
	// an existing token plus one letter, so each is unique and each merge
	// names two tokens already in the vocabulary.
	var merges []string
	queue := []string{}
	for _, c := range "etaoinshrdlucmfwypvbgkjqxz" {
		queue = append(queue, string(c))
	}
	for len(order) < vocab-2 {
		head := queue[0]
		queue = queue[1:]
		for _, c := range "etaoinshrdlucmfwypvbgkjqxz" {
			if len(order) >= vocab-2 {
				break
			}
			tok := head + string(c)
			v[tok] = len(order)
			order = append(order, tok)
			merges = append(merges, head+" "+string(c))
			queue = append(queue, tok)
		}
	}
	bos, eos := "<|begin_of_text|>", "<|end_of_text|>"
	v[bos], v[eos] = vocab-2, vocab-1
	added := []map[string]any{
		{"id": vocab - 2, "content": bos, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
		{"id": vocab - 1, "content": eos, "single_word": false, "lstrip": false, "rstrip": false, "normalized": false, "special": true},
	}
	tok := map[string]any{
		"version": "1.0", "truncation": nil, "padding": nil, "added_tokens": added, "normalizer": nil,
		"pre_tokenizer":  map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true},
		"post_processor": nil,
		"decoder":        map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
		"model": map[string]any{"type": "BPE", "dropout": nil, "unk_token": nil, "continuing_subword_prefix": nil,
			"end_of_word_suffix": nil, "fuse_unk": false, "byte_fallback": false, "ignore_merges": false, "vocab": v, "merges": merges},
	}
	if err := writeJSON(filepath.Join(dir, "tokenizer.json"), tok); err != nil {
		return err
	}
	cfg := map[string]any{
		"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": bos, "eos_token": eos,
		"add_bos_token": true, "model_max_length": 2048,
		"chat_template": "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}",
	}
	return writeJSON(filepath.Join(dir, "tokenizer_config.json"), cfg)
}

// byteSymbols is GPT-2's reversible byte -> printable rune table.
func byteSymbols() [256]string {
	var out [256]string
	n := 0
	for b := 0; b < 256; b++ {
		if (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF) {
			out[b] = string(rune(b))
		} else {
			out[b] = string(rune(256 + n))
			n++
		}
	}
	return out
}
