package vocab

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
	"github.com/mlmf-run/mlmf-run/internal/pyjson"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

// refKV is one key of a corpus .gguf.json description.
type refKV struct {
	Type   []string        `json:"type"`
	Value  json.RawMessage `json:"value"`
	Len    int             `json:"len"`
	Digest string          `json:"digest"`
	Head   json.RawMessage `json:"head"`
}

// readRef returns the tokenizer.* keys of a reference in file order.
func readRef(t *testing.T, path string) ([]string, map[string]refKV) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		KV json.RawMessage `json:"kv"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	ms, err := orderedMembers(doc.KV)
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	kvs := map[string]refKV{}
	for _, m := range ms {
		if !strings.HasPrefix(m.Key, "tokenizer.") {
			continue
		}
		var kv refKV
		if err := json.Unmarshal(m.Value, &kv); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, m.Key)
		kvs[m.Key] = kv
	}
	return keys, kvs
}

// gguf-py's reader hands numeric array items back as one-element arrays, so
// the corpus digests and heads of numeric arrays are over [[x], [y], ...].
func refList(v gguf.Value) []any {
	rv := reflect.ValueOf(v.V)
	out := make([]any, rv.Len())
	for i := range out {
		x := rv.Index(i).Interface()
		if _, isStr := x.(string); !isStr {
			x = []any{x}
		}
		out[i] = x
	}
	return out
}

func TestCorpusTokenizers(t *testing.T) {
	dir := corpus.Dir(t)
	tests := []struct {
		model, ref string
		opts       Options
	}{
		{"tiny-llama-spm", "tiny-llama-spm-ref/tiny-llama-spm-f16.gguf.json", Options{}},
		{"tiny-llama-spm", "tiny-llama-spm-ref/tiny-llama-spm-f16.gguf.json", Options{VocabSize: 512}},
		// The reference's pre was set by hand (see the corpus README).
		{"tiny-llama-bpe", "tiny-llama-bpe-ref/tiny-llama-bpe-f16.gguf.json", Options{Pre: "llama-bpe"}},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			meta, err := Load(filepath.Join(dir, tt.model), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			wantKeys, ref := readRef(t, filepath.Join(dir, tt.ref))
			var gotKeys []string
			for _, kv := range meta.All() {
				gotKeys = append(gotKeys, kv.Key)
			}
			if !reflect.DeepEqual(gotKeys, wantKeys) {
				t.Errorf("keys:\n got %q\nwant %q", gotKeys, wantKeys)
			}
			for _, key := range wantKeys {
				if v, ok := meta.Get(key); ok {
					checkKV(t, key, v, ref[key])
				}
			}
		})
	}
}

func checkKV(t *testing.T, key string, v gguf.Value, want refKV) {
	t.Helper()
	gotType := []string{v.Type.String()}
	if v.Type == gguf.TypeArray {
		gotType = append(gotType, v.Elem.String())
	}
	if !reflect.DeepEqual(gotType, want.Type) {
		t.Errorf("%s: type %v, want %v", key, gotType, want.Type)
		return
	}
	if v.Type != gguf.TypeArray {
		got, err := pyjson.Dumps(v.V)
		if err != nil {
			t.Fatal(err)
		}
		if !jsonEqual(t, []byte(got), want.Value) {
			t.Errorf("%s = %s, want %s", key, got, want.Value)
		}
		return
	}
	list := refList(v)
	if len(list) != want.Len {
		t.Errorf("%s: len %d, want %d", key, len(list), want.Len)
	}
	var head []any
	if err := json.Unmarshal(want.Head, &head); err != nil {
		t.Fatal(err)
	}
	gotHead, err := pyjson.Dumps(list[:min(len(head), len(list))])
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	if !jsonEqual(t, []byte(gotHead), want.Head) {
		t.Errorf("%s: head %s, want %s", key, gotHead, want.Head)
	}
	d, err := pyjson.Digest(list)
	if err != nil {
		t.Fatal(err)
	}
	if d != want.Digest {
		t.Errorf("%s: digest %s, want %s", key, d, want.Digest)
	}
}

// jsonEqual compares two JSON texts as values.
func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

func TestCorpusSmolVLM(t *testing.T) {
	dir := corpus.Dir(t)
	meta, err := Load(filepath.Join(dir, "tiny-smolvlm"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	tokens, _ := meta.Get(KeyTokens)
	// text_config.vocab_size of the corpus model.
	if tokens.Len() != 512 {
		t.Errorf("%d tokens, want 512", tokens.Len())
	}
	if m, _ := meta.Str(KeyModel); m != "llama" {
		t.Errorf("model %q, want llama", m)
	}
}
