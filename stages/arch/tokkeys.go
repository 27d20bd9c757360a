package arch

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

// TokenizerSource says where a sentencepiece_keys entry takes its value
// from the model folder's tokenizer files rather than config.json: what a
// converter class reads there itself (InternLM2Model's add_space_prefix
// and its chat EOS). A value that is not there is unresolved (an optional
// key is left out). Only sentencepiece_keys may use it.
type TokenizerSource struct {
	// SPM names a field of tokenizer.model's normalizer_spec:
	// add_dummy_prefix (a BOOL, true when the model leaves it unset).
	SPM string `yaml:"spm"`
	// AddedToken is the content of an added token whose id is the value:
	// the last entry with that content in tokenizer_config.json's
	// added_tokens_decoder, then in tokenizer.json's added_tokens
	// (InternLM2Model's "<|im_end|>" as the EOS of chat models).
	AddedToken string `yaml:"added_token"`
	// AddedTokenSpecial looks at tokenizer_config.json's entries marked
	// special only (InternLM3Model's loop).
	AddedTokenSpecial bool `yaml:"added_token_special"`
	// TokenizerConfig names a top-level field of tokenizer_config.json
	// (InternLM3Model writes add_prefix_space after the token types); a
	// field that is absent is unresolved, one that is null too.
	TokenizerConfig string `yaml:"tokenizer_config"`
}

func (s TokenizerSource) set() bool {
	return s.SPM != "" || s.AddedToken != "" || s.AddedTokenSpecial || s.TokenizerConfig != ""
}

func checkTokenizerSource(k Key) error {
	switch {
	case k.SPM != "" && k.SPM != "add_dummy_prefix":
		return fmt.Errorf("key %s: unknown spm field %q (known: add_dummy_prefix)", k.Key, k.SPM)
	case k.SPM != "" && k.AddedToken != "", k.TokenizerConfig != "" && (k.SPM != "" || k.AddedToken != ""):
		return fmt.Errorf("key %s: spm, added_token and tokenizer_config are separate sources; give one", k.Key)
	case k.AddedTokenSpecial && k.AddedToken == "":
		return fmt.Errorf("key %s: added_token_special without added_token", k.Key)
	}
	return nil
}

// SentencePieceMetaIn is SentencePieceMeta for the model folder dir, whose
// tokenizer files the keys with a TokenizerSource read.
func (a *Arch) SentencePieceMetaIn(cfg map[string]any, dir string) (*gguf.Meta, error) {
	if len(a.SentencePieceKeys) == 0 {
		return nil, nil
	}
	h := a.hparamsOf(cfg)
	h.dir = dir
	m := &gguf.Meta{}
	for _, k := range a.SentencePieceKeys {
		if err := a.setKey(h, m, k, nil); err != nil {
			return nil, fmt.Errorf("%s tokenizer keys: %w", a.Arch, err)
		}
	}
	return m, nil
}

// tokenizerValue resolves a key's TokenizerSource in h.dir.
func (h *hparams) tokenizerValue(k Key) (any, error) {
	if h.dir == "" {
		return nil, errors.New("read from the tokenizer files, but no model folder was given (SentencePieceMetaIn)")
	}
	if k.SPM != "" {
		return spmAddDummyPrefix(filepath.Join(h.dir, "tokenizer.model"))
	}
	if k.TokenizerConfig != "" {
		return tokenizerConfigField(h.dir, k.TokenizerConfig)
	}
	id, err := addedTokenID(h.dir, k.AddedToken, k.AddedTokenSpecial)
	if err != nil {
		return nil, err
	}
	// An id past the vocabulary (the converter drops it with a warning)
	// would name no token: refuse it.
	n, isInt := intOf(id)
	if vs, ok := intOf(h.cfg["vocab_size"]); ok && isInt && n >= vs {
		return nil, fmt.Errorf("tokenizer_config.json: %s has id %d, outside config.json's vocab_size %d", k.AddedToken, n, vs)
	}
	return id, nil
}

// maxTokFile bounds the tokenizer files read here (real ones are MiBs).
const maxTokFile = 1 << 30

func readTokFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, &errUnresolved{[]string{filepath.Base(path) + " in the model folder"}}
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxTokFile {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxTokFile)
	}
	return b, nil
}

// spmAddDummyPrefix reads ModelProto.normalizer_spec (field 3)
// .add_dummy_prefix (field 3), whose proto2 default is true.
func spmAddDummyPrefix(path string) (any, error) {
	b, err := readTokFile(path)
	if err != nil {
		return nil, err
	}
	v := true
	err = protoFields(b, func(num, wt int, x uint64, sub []byte) error {
		if num != 3 || wt != 2 {
			return nil
		}
		return protoFields(sub, func(num, wt int, x uint64, _ []byte) error {
			if num == 3 && wt == 0 {
				v = x != 0
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// protoFields walks the fields of one protobuf message: fn gets each
// field's number and wire type, a varint's value, a length-delimited
// field's bytes.
func protoFields(b []byte, fn func(num, wt int, x uint64, sub []byte) error) error {
	varint := func() (uint64, error) {
		var x uint64
		for s := 0; s < 64; s += 7 {
			if len(b) == 0 {
				return 0, errors.New("invalid SentencePiece model: truncated varint")
			}
			c := b[0]
			b = b[1:]
			x |= uint64(c&0x7f) << s
			if c < 0x80 {
				return x, nil
			}
		}
		return 0, errors.New("invalid SentencePiece model: varint too long")
	}
	for len(b) > 0 {
		tag, err := varint()
		if err != nil {
			return err
		}
		num, wt := int(tag>>3), int(tag&7)
		var x uint64
		var sub []byte
		switch wt {
		case 0:
			if x, err = varint(); err != nil {
				return err
			}
		case 1, 5:
			n := 8
			if wt == 5 {
				n = 4
			}
			if len(b) < n {
				return errors.New("invalid SentencePiece model: truncated fixed field")
			}
			b = b[n:]
		case 2:
			n, err := varint()
			if err != nil {
				return err
			}
			if n > uint64(len(b)) {
				return errors.New("invalid SentencePiece model: field past the end")
			}
			sub, b = b[:n], b[n:]
		default:
			return fmt.Errorf("invalid SentencePiece model: wire type %d", wt)
		}
		if err := fn(num, wt, x, sub); err != nil {
			return err
		}
	}
	return nil
}

// tokenizerConfigField is a top-level field of dir's tokenizer_config.json.
func tokenizerConfigField(dir, field string) (any, error) {
	path := filepath.Join(dir, "tokenizer_config.json")
	b, err := readTokFile(path)
	if err != nil {
		return nil, err
	}
	var tc map[string]any
	if err := json.Unmarshal(b, &tc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if v, ok := tc[field]; ok && v != nil {
		return v, nil
	}
	return nil, &errUnresolved{[]string{"tokenizer_config.json " + field}}
}

// addedTokenID is the id of the last added token whose content is want:
// tokenizer_config.json's added_tokens_decoder in file order (special
// entries only when specialOnly), then, unless specialOnly,
// tokenizer.json's added_tokens.
func addedTokenID(dir, want string, specialOnly bool) (any, error) {
	id := int64(-1)
	b, err := readTokFile(filepath.Join(dir, "tokenizer_config.json"))
	if err != nil && !isUnresolved(err) {
		return nil, err
	}
	if err == nil {
		var tc map[string]json.RawMessage
		if err := json.Unmarshal(b, &tc); err != nil {
			return nil, fmt.Errorf("tokenizer_config.json: %w", err)
		}
		if raw := tc["added_tokens_decoder"]; len(raw) > 0 && string(raw) != "null" {
			err := orderedObject(raw, func(key string, v json.RawMessage) error {
				var e struct {
					Content string `json:"content"`
					Special bool   `json:"special"`
				}
				if err := json.Unmarshal(v, &e); err != nil {
					return err
				}
				n, err := strconv.ParseInt(key, 10, 64)
				if err != nil || n < 0 {
					return fmt.Errorf("token id %q", key)
				}
				if e.Content == want && (e.Special || !specialOnly) {
					id = n
				}
				return nil
			})
			if err != nil {
				return nil, fmt.Errorf("tokenizer_config.json: added_tokens_decoder: %w", err)
			}
		}
	}
	if !specialOnly {
		b, err := readTokFile(filepath.Join(dir, "tokenizer.json"))
		if err != nil && !isUnresolved(err) {
			return nil, err
		}
		if err == nil {
			var tj struct {
				Added []struct {
					ID      int64  `json:"id"`
					Content string `json:"content"`
				} `json:"added_tokens"`
			}
			if err := json.Unmarshal(b, &tj); err != nil {
				return nil, fmt.Errorf("tokenizer.json: %w", err)
			}
			for _, e := range tj.Added {
				if e.Content == want && e.ID >= 0 {
					id = e.ID
				}
			}
		}
	}
	if id < 0 {
		return nil, &errUnresolved{[]string{"an added token " + strconv.Quote(want) + " in the tokenizer files"}}
	}
	return float64(id), nil
}

// orderedObject calls fn for each member of a JSON object in file order.
func orderedObject(raw json.RawMessage, fn func(key string, v json.RawMessage) error) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return fmt.Errorf("not an object")
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return err
		}
		if err := fn(key, v); err != nil {
			return err
		}
	}
	return nil
}

// PreHint is the table's pre_for name for this model's type (text_config's
// or the top level's), or "".
func (a *Arch) PreHint(cfg map[string]any) string {
	tc, _ := cfg["text_config"].(map[string]any)
	for _, v := range []any{tc["model_type"], cfg["model_type"]} {
		if s, ok := v.(string); ok && a.PreFor[s] != "" {
			return a.PreFor[s]
		}
	}
	return ""
}

// PrefixSpaceKey says whether the converter writes tokenizer_config.json's
// add_prefix_space for this model (the table's add_prefix_space_for names
// its model type, from text_config or the top level).
func (a *Arch) PrefixSpaceKey(cfg map[string]any) bool {
	tc, _ := cfg["text_config"].(map[string]any)
	for _, v := range []any{tc["model_type"], cfg["model_type"]} {
		if s, ok := v.(string); ok && contains(a.AddPrefixSpaceFor, s) {
			return true
		}
	}
	return false
}
