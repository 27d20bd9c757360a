// Package vocab turns a Hugging Face model folder's tokenizer files into the
// GGUF tokenizer metadata llama.cpp's convert_hf_to_gguf.py writes for a
// LLaMA-family model: tokenizer.ggml.* keys and tokenizer.chat_template,
// with the same values, types and key order.
//
// The tokenizer is chosen as the converter's LlamaModel.set_vocab chooses it:
// a SentencePiece tokenizer.model first, then tokenizer.json — a byte-fallback
// BPE with a Sequence decoder as "llama" (LlamaHfVocab), any other BPE as
// byte-level "gpt2". Special ids, add_*_token flags and the chat template
// follow gguf-py's SpecialVocab.
package vocab

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

// Options tune Load.
type Options struct {
	// VocabSize is the model's vocabulary size (config.json vocab_size, the
	// embedding rows): the token list is padded to it with [PADi] entries.
	// 0 reads config.json's vocab_size (or its text_config's), and without
	// one takes the tokenizer's own size.
	VocabSize int
	// EmbeddingRows is the token embedding's row count, when known: a
	// vocab_size past it is refused, since the padded token list would not
	// match the embedding and llama.cpp could not load the file.
	EmbeddingRows int64
	// Pre overrides tokenizer.ggml.pre. Byte-level BPE tokenizers need it
	// unless their pre_tokenizer is one namePre recognises.
	Pre string
	// PreHint is the name llama.cpp's converter gives the architecture's own
	// tokenizer (the table's pre_for): taken when a pre_tokenizer definition
	// is shared by several names and it is one of them.
	PreHint string
	// Reader names a converter class's own vocabulary reader where it
	// differs from TextModel's: ReaderInternLM2 for a SentencePiece model,
	// ReaderKimi for a tiktoken.model without tokenizer.json,
	// ReaderHunyuan for a hy.tiktoken without tokenizer.json; "" is
	// TextModel's.
	Reader string
	// Warn receives the converter's warnings (ids out of range, dropped
	// entries); nil discards them.
	Warn func(msg string)
	// SentencePieceKeys are set after a SentencePiece vocabulary's keys:
	// what the architecture's converter class adds (Gemma's
	// add_space_prefix = false). Unused for tokenizer.json vocabularies.
	SentencePieceKeys *gguf.Meta
	// PrefixSpaceKey writes tokenizer_config.json's add_prefix_space, when
	// set, as tokenizer.ggml.add_space_prefix ahead of the other keys: what
	// the converter's LlamaModel.set_vocab does (Qwen3 and gpt-4o set it to
	// false), and its Qwen2 or DeepSeek classes do not.
	PrefixSpaceKey bool
}

// KeyAddSpacePrefix is the GGUF key of the tokenizer's leading-space flag.
const KeyAddSpacePrefix = "tokenizer.ggml.add_space_prefix"

// ErrNoTokenizer is returned (wrapped) when a folder has no tokenizer file.
var ErrNoTokenizer = errors.New("no tokenizer")

// GGUF tokenizer keys (gguf-py constants.py Keys.Tokenizer).
const (
	KeyModel        = "tokenizer.ggml.model"
	KeyPre          = "tokenizer.ggml.pre"
	KeyTokens       = "tokenizer.ggml.tokens"
	KeyScores       = "tokenizer.ggml.scores"
	KeyTokenType    = "tokenizer.ggml.token_type"
	KeyMerges       = "tokenizer.ggml.merges"
	KeyChatTemplate = "tokenizer.chat_template"
)

// sources are the folder's files as read once.
type sources struct {
	dir   string
	tok   *HFTokenizer   // tokenizer.json, nil if absent
	tcRaw []byte         // tokenizer_config.json bytes, nil if absent
	tc    map[string]any // tokenizer_config.json
	cfg   map[string]any // config.json
	warn  func(string)
}

func (s *sources) tcPath() string { return filepath.Join(s.dir, "tokenizer_config.json") }

// Load reads the tokenizer of the model folder dir and returns its GGUF
// tokenizer metadata in the converter's key order.
func Load(dir string, opts Options) (*gguf.Meta, error) {
	src, err := readSources(dir, opts)
	if err != nil {
		return nil, err
	}
	n := opts.VocabSize
	if n < 0 || n > maxTokenID+1 {
		return nil, fmt.Errorf("vocab: vocab size %d outside [0, %d]", n, maxTokenID+1)
	}
	what := "vocab size"
	if n == 0 {
		if n, err = configVocabSize(src); err != nil {
			return nil, err
		}
		what = filepath.Join(dir, "config.json") + ": vocab_size"
	}
	if opts.EmbeddingRows > 0 && int64(n) > opts.EmbeddingRows {
		return nil, fmt.Errorf("%s %d is larger than the model: its token embedding has %d rows, and llama.cpp loads a GGUF "+
			"only when the token list (padded to vocab_size with [PADi] entries) is as long as that", what, n, opts.EmbeddingRows)
	}
	spmPath := filepath.Join(dir, "tokenizer.model")
	tokPath := filepath.Join(dir, "tokenizer.json")
	var meta *gguf.Meta
	switch {
	case opts.Reader != "" && opts.Reader != ReaderInternLM2 && opts.Reader != ReaderKimi && opts.Reader != ReaderHunyuan:
		return nil, fmt.Errorf("vocabulary reader %q: unknown (known: %s, %s, %s)", opts.Reader, ReaderInternLM2, ReaderKimi, ReaderHunyuan)
	case opts.Reader == ReaderKimi && src.tok == nil && isFile(tiktokenPath(dir)):
		meta, err = loadKimi(src, tiktokenPath(dir), n)
	case opts.Reader == ReaderHunyuan && src.tok == nil && isFile(hyTiktokenPath(dir)):
		meta, err = loadHunyuan(src, hyTiktokenPath(dir), n, what)
	case isFile(spmPath):
		if opts.Reader == ReaderInternLM2 {
			meta, err = loadInternLM2(src, spmPath, n)
		} else {
			meta, err = loadSPM(src, spmPath, n)
		}
		if err == nil && opts.SentencePieceKeys != nil {
			for _, kv := range opts.SentencePieceKeys.All() {
				meta.Set(kv.Key, kv.Value)
			}
		}
	case src.tok != nil && isLlamaHF(src.tok):
		meta, err = loadLlamaHF(src, tokPath)
	case src.tok != nil:
		meta, err = loadGPT2(src, tokPath, n, opts.Pre, opts.PreHint)
	default:
		return nil, fmt.Errorf("%s: %w: looked for tokenizer.model (SentencePiece) and tokenizer.json (Hugging Face tokenizers)", dir, ErrNoTokenizer)
	}
	if err != nil {
		return nil, err
	}
	if opts.Pre != "" {
		meta.Set(KeyPre, gguf.String(opts.Pre))
	}
	if opts.PrefixSpaceKey {
		return withPrefixSpace(meta, src)
	}
	return meta, nil
}

// withPrefixSpace puts tokenizer_config.json's add_prefix_space (a bool,
// or null for none) first in meta as KeyAddSpacePrefix.
func withPrefixSpace(meta *gguf.Meta, src *sources) (*gguf.Meta, error) {
	v, ok := src.tc["add_prefix_space"]
	if !ok || v == nil {
		return meta, nil
	}
	b, ok := v.(bool)
	if !ok {
		return nil, fmt.Errorf("%s: add_prefix_space is %v, want true, false or null", src.tcPath(), v)
	}
	out := &gguf.Meta{}
	out.Set(KeyAddSpacePrefix, gguf.Bool(b))
	for _, kv := range meta.All() {
		if kv.Key != KeyAddSpacePrefix {
			out.Set(kv.Key, kv.Value)
		}
	}
	return out, nil
}

func readSources(dir string, opts Options) (*sources, error) {
	src := &sources{dir: dir, warn: opts.Warn}
	if src.warn == nil {
		src.warn = func(string) {}
	}
	if st, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("vocab: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("vocab: %s is not a folder", dir)
	}
	var err error
	if p := filepath.Join(dir, "tokenizer.json"); isFile(p) {
		b, err := readFile(p)
		if err != nil {
			return nil, err
		}
		if src.tok, err = ParseTokenizerJSON(b, p); err != nil {
			return nil, err
		}
	}
	if p := src.tcPath(); isFile(p) {
		if src.tcRaw, err = readFile(p); err != nil {
			return nil, err
		}
		if src.tc, err = readJSONObject(p); err != nil {
			return nil, err
		}
	}
	if src.cfg, err = readOptionalObject(filepath.Join(dir, "config.json")); err != nil {
		return nil, err
	}
	return src, nil
}

// configVocabSize is config.json's vocab_size, else text_config.vocab_size
// (multimodal models), else 0 (the tokenizer's own size).
func configVocabSize(src *sources) (int, error) {
	v := src.cfg["vocab_size"]
	if v == nil {
		v = get(src.cfg["text_config"], "vocab_size")
	}
	if v == nil {
		return 0, nil
	}
	n, ok := pyInt(v)
	if !ok || n <= 0 || n > maxTokenID+1 {
		return 0, fmt.Errorf("%s: vocab_size %v is not an integer in [1, %d]", filepath.Join(src.dir, "config.json"), v, maxTokenID+1)
	}
	return int(n), nil
}

func loadSPM(src *sources, path string, n int) (*gguf.Meta, error) {
	m, err := readSPM(path)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		n = len(m.Pieces)
	}
	tokens, scores, types, err := spmVocab(src, m, n)
	if err != nil {
		return nil, err
	}
	return llamaMeta(src, tokens, scores, types)
}

// readSPM parses the SentencePiece model at path.
func readSPM(path string) (*SPModel, error) {
	f, st, err := tensor.OpenInput(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ParseSentencePiece(f, st.Size(), path)
}

// llamaMeta is the keys of a SentencePiece-style ("llama") vocabulary, then
// the special tokens.
func llamaMeta(src *sources, tokens []string, scores []float32, types []int32) (*gguf.Meta, error) {
	meta := &gguf.Meta{}
	meta.Set(KeyModel, gguf.String("llama"))
	meta.Set(KeyPre, gguf.String("default"))
	meta.Set(KeyTokens, gguf.Strings(tokens))
	meta.Set(KeyScores, gguf.Float32s(scores))
	meta.Set(KeyTokenType, gguf.Int32s(types))
	return meta, addSpecial(meta, src, false, len(tokens))
}

func loadGPT2(src *sources, path string, n int, pre, hint string) (*gguf.Meta, error) {
	t := src.tok
	if t.ModelType != "BPE" {
		return nil, fmt.Errorf("%s: model type %q: only BPE tokenizer.json models are supported (and SentencePiece tokenizer.model)", path, t.ModelType)
	}
	if pre == "" {
		var err error
		if pre, err = namePre(t, hint); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	tokens, types, err := bpeVocab(t, n, path)
	if err != nil {
		return nil, err
	}
	meta := &gguf.Meta{}
	meta.Set(KeyModel, gguf.String("gpt2"))
	meta.Set(KeyPre, gguf.String(pre))
	meta.Set(KeyTokens, gguf.Strings(tokens))
	meta.Set(KeyTokenType, gguf.Int32s(types))
	return meta, addSpecial(meta, src, true, -1)
}
