package vocab

// The pre-tokenizer definitions (tokenizer.json pre_tokenizer, step by
// step) that name one of llama.cpp's pre-tokenizers. A definition is listed
// with every llama.cpp name known to share it; more than one name is an
// ambiguity namePre reports instead of guessing. The regexes are spelled as
// the models' tokenizer.json files spell them, which is how llama-vocab.cpp
// lists them or quotes them ("original regex from tokenizer.json").
//
// A step is written as preStep renders it: "split RE" (a Split keeping each
// match as its own piece, or the same as Removed with invert for a regex of
// catchAll), "digits" and "digit-runs" (Digits with and without
// individual_digits), "punctuation" and "punctuation-isolated"
// (Punctuation, Contiguous or Isolated), "bytelevel"
// and "bytelevel+regex" (ByteLevel without prefix space, with use_regex
// false or true).

// preDef is one definition and the llama.cpp names that share it.
type preDef struct {
	steps []string
	names []string
	// merges, when set, picks the name by the BPE model's ignore_merges:
	// llama.cpp sets ignore_merges from the name alone.
	merges *struct{ ignore, keep string }
}

const (
	// LLaMA 3's regex (Meta-Llama-3 / 3.1).
	reLlama3 = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	// Qwen1.5 to Qwen3: LLaMA 3's with single digits.
	reQwen2 = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	// Qwen3.5: Qwen2's with combining marks kept in words.
	reQwen35 = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	// o200k (gpt-4o, gpt-oss's o200k_harmony).
	reO200k = `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	// Mistral's Tekken: o200k's without contractions, single digits.
	reTekken = `[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	// ByteDance Seed-Coder (literal CR and LF in two classes).
	reSeedCoder = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^` + "\r\n" + `\p{L}\p{N}]?\p{L}+|\p{N}{1}| ?[^\s\p{L}\p{N}` + "\r\n" + `]+|\s*[` + "\r\n" + `]+|\s+(?!\S)|\s+`
	// K-EXAONE (exaone-moe): words may hold single spaces between letters.
	reExaoneMoE = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?(?:\p{L}\p{M}*(?: \p{L}\p{M}*)*)+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]?|\s*[\r\n]|\s+(?!\S)|\s+`
	// Jais 2: LLaMA 3's with whitespace runs cut at powers of two.
	reJais2 = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s{512}(?!\S)|\s{256}(?!\S)|` +
		`\s{128}(?!\S)|\s{64}(?!\S)|\s{32}(?!\S)|\s{16}(?!\S)|\s{8}(?!\S)|\s{4}(?!\S)|\s{1,2}(?!\S)|\s{1}`
	// MiniCPM5, after its own split of digits in threes: LLaMA 3's with any run of digits.
	reMiniCPM5 = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}+| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	// Tiny Aya: digits grouped in threes from the right, before o200k.
	reAyaDigits = `\d{1,3}(?=(?:\d{3})*\b)`
	// Ling (bailingmoe): possessive quantifiers.
	reBailing = `'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+`
	// BLOOM: a run of anything but whitespace, ( | ) and the stops of
	// several scripts (… 。 ， 、 । ۔ ،), after an optional space.
	reBloom = " ?[^(\\s|[.,!?\u2026\u3002\uff0c\u3001\u0964\u06d4\u060c])]+"

	// DeepSeek-V3 / R1: digits in threes, CJK runs, then words and punctuation.
	reDSv3Words = `[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_` + "`" + `{|}~][A-Za-z]+|[^` + "\r\n" + `\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[` +
		"\r\n" + `]*|\s*[` + "\r\n" + `]+|\s+(?!\S)|\s+`
	reDSv3CJK = "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+"

	// DeepSeek LLM and Coder (the first models): CJK and Hangul runs.
	reDSCJK = "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+"
	// DeepSeek LLM's letters: Latin, Greek, Cyrillic and other cased scripts
	// listed range by range (escaped here: three Greek Extended endpoints
	// have canonical equivalents that an editor's normalization would swap in).
	reDSLLMLetters = "\\s?[A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af\u0370-\u0373" +
		"\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f\u0531-\u0556" +
		"\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77\u1d79-\u1d9a\u1e00-\u1f15" +
		"\u1f18-\u1f1d\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d\u1f80-\u1fb4\u1fb6-\u1fbc\u1fbe" +
		"\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec\u1ff2-\u1ff4\u1ff6-\u1ffc\u2102\u2107\u210a-\u2113" +
		"\u2115\u2119-\u211d\u2124\u2126\u2128\u212a-\u212d\u212f-\u2134\u2139\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184" +
		"\u2c00-\u2c7b\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d\ua680-\ua69b\ua722-\ua76f\ua771-\ua787\ua78b-\ua78e" +
		"\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a\uff41-\uff5a\U00010400-\U0001044f\U000104b0-\U000104d3" +
		"\U000104d8-\U000104fb\U00010c80-\U00010cb2\U00010cc0-\U00010cf2\U000118a0-\U000118df\U0001e900-\U0001e943]+"
	// Chameleon: its sentinel and image tokens, then tabs, newlines and
	// runs of two or four spaces, each kept whole.
	reChameleonSentinel = `<sentinel:[0-9]+>`
	reChameleonImage    = `(IMGIMG)((A|B|C|D|E|F|G|H|I){1,4})Z`
	reChameleonSpaces   = "([\\t\\n]|    |  )"

	reDSLLMPunct = "\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+"
)

func split(re string) string { return "split " + re }

// catchAll are the regexes above that match every character (each ends in
// \s+ after alternatives for letters, digits and everything else).
var catchAll = map[string]bool{reLlama3: true, reQwen2: true, reQwen35: true, reO200k: true, reTekken: true,
	reSeedCoder: true, reExaoneMoE: true, reBailing: true, reJais2: true}

// preDefs are the definitions namePre knows. Those with several names are
// the ambiguities: llama.cpp's converter tells them apart only by hashing
// token ids of its own check text, which takes the vocabulary and the
// tokenizer's own code, so the name must be given (Options.Pre).
//
// Some single names stand for a family that llama.cpp also knows under other
// names, given the same regexes and the same ignore_merges and add_bos, so
// that it tokenizes alike (they may differ in clean_spaces, which only
// detokenization reads): gpt-2 (mpt, olmo, jais, phi-2, exaone4, ...),
// llama-bpe (falcon3, falcon-h1, pixtral, lfm2, ...), dbrx (smaug-bpe;
// glm4 and chatglm-bpe, which also drop a BOS the GGUF does not name),
// qwen2 (deepseek-r1-qwen, grok-2, hunyuan, stablelm2, megrez, ...),
// deepseek-v3 (hunyuan-dense, joyai-llm, hy_v4), gpt-4o (llama4, kanana2,
// minimax-m2, ...). The converter writes those names for those models;
// the GGUFs differ in that key, not in how llama.cpp tokenizes. Pixtral
// (the converter's "pixtral") has Mistral's Tekken tokenizer too, which
// llama.cpp then tokenizes with LLaMA 3's regex: "tekken" is the name
// under which it splits as tokenizers does.
var preDefs = []preDef{
	{steps: []string{"bytelevel+regex"}, names: []string{"gpt-2"}},
	// LLaMA 3's regex names two: llama.cpp's "llama-bpe" looks a whole word
	// up before merging, as tokenizers does with ignore_merges (Llama 3's
	// own tokenizer.json), and its "dbrx" merges every word, as tokenizers
	// does without (cl100k exports such as Xenova/gpt-3.5-turbo, which the
	// converter's hash names dbrx).
	{steps: []string{split(reLlama3), "bytelevel"}, merges: &struct{ ignore, keep string }{"llama-bpe", "dbrx"}},
	{steps: []string{split(reQwen2), "bytelevel"}, names: []string{"qwen2"}},
	{steps: []string{split(reQwen35), "bytelevel"}, names: []string{"qwen35"}},
	{steps: []string{split("\\p{N}{1,3}"), split(reDSv3CJK), split(reDSv3Words), "bytelevel"}, names: []string{"deepseek-v3"}},
	{steps: []string{split(reO200k), "bytelevel"}, names: []string{"gpt-4o"}},
	{steps: []string{split("[\r\n]"), split(reDSLLMLetters), split(reDSLLMPunct), split("\\s+$"), split(reDSCJK), "digits", "bytelevel"},
		names: []string{"deepseek-llm"}},
	{steps: []string{split("[\r\n]"), split(`\s?\p{L}+`), split(`\s?\p{P}+`), split(reDSCJK), "digits", "bytelevel"},
		names: []string{"deepseek-coder"}},
	{steps: []string{"punctuation", "bytelevel+regex", "digit-runs", split("[0-9][0-9][0-9]")}, names: []string{"falcon"}},
	{steps: []string{split(reTekken), "bytelevel"}, names: []string{"tekken"}},
	{steps: []string{split(reSeedCoder), "bytelevel"}, names: []string{"seed-coder"}},
	{steps: []string{split(reExaoneMoE), "bytelevel"}, names: []string{"exaone-moe"}},
	{steps: []string{split(reJais2), "bytelevel"}, names: []string{"jais-2"}},
	{steps: []string{split("\\p{N}{1,3}"), split(reMiniCPM5), "bytelevel"}, names: []string{"minicpm5"}},
	{steps: []string{split(reAyaDigits), split(reO200k), "bytelevel"}, names: []string{"tiny_aya", "cohere2moe"}},
	// Single digits, then GPT-2's regex: llama.cpp lists these names (and
	// codeshell, exaone, minerva-7b, mellum2) with one regex; they differ
	// in clean_spaces, and no one of them is the family's own.
	{steps: []string{"digits", "bytelevel+regex"}, names: []string{"starcoder", "refact", "command-r", "smollm"}},
	{steps: []string{split(reBailing), "bytelevel"}, names: []string{"bailingmoe", "bailingmoe2", "llada-moe"}},
	// BLOOM's regex: llama.cpp names three models' (bigscience/bloom,
	// TurkuNLP/gpt3-finnish-small, LumiOpen/Poro-34B-chat) with it; poro-chat
	// differs in clean_spaces.
	{steps: []string{split(reBloom), "bytelevel"}, names: []string{"bloom", "gpt3-finnish", "poro-chat"}},
	// Chameleon: its special tokens and space runs, single digits, each
	// punctuation mark, then GPT-2's regex (llama-vocab.cpp spells the last
	// three as \p{N}, tokenizers' punctuation class and GPT-2's regex).
	{steps: []string{split(reChameleonSentinel), split(reChameleonImage), split(reChameleonSpaces), "digits", "punctuation-isolated",
		"bytelevel+regex"}, names: []string{"chameleon"}},
}
