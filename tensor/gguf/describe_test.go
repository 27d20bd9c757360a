package gguf

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// refKey and refTensor are entries of a corpus *.gguf.json, written by a
// script over llama.cpp's gguf-py reader.
type refKey struct {
	Type   []string
	Value  json.RawMessage
	Len    int
	Digest string
	Head   json.RawMessage
}

type refTensor struct {
	Type   string
	Shape  []int64
	Nbytes int64
	Digest string
}

type reference struct {
	keys        []string // kv keys in the order the JSON lists them
	kv          map[string]refKey
	tensors     map[string]refTensor
	tensorOrder []string
}

func loadReference(t *testing.T, path string) reference {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var top struct {
		KV          json.RawMessage
		Tensors     map[string]refTensor
		TensorOrder []string `json:"tensor_order"`
	}
	if err := json.Unmarshal(raw, &top); err != nil {
		t.Fatal(err)
	}
	ref := reference{kv: map[string]refKey{}, tensors: top.Tensors, tensorOrder: top.TensorOrder}
	dec := json.NewDecoder(bytes.NewReader(top.KV))
	if _, err := dec.Token(); err != nil { // {
		t.Fatal(err)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var k refKey
		if err := dec.Decode(&k); err != nil {
			t.Fatal(err)
		}
		ref.keys = append(ref.keys, tok.(string))
		ref.kv[tok.(string)] = k
	}
	return ref
}

func compact(t *testing.T, b []byte) string {
	t.Helper()
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		t.Fatalf("compacting %s: %v", b, err)
	}
	return out.String()
}

// TestDescribeCorpus checks Describe against gguf-py's view of every corpus
// GGUF: each key's type and value (byte-exact Python JSON text), each
// array's length, head and digest, each tensor's type, shape, size and data
// digest, and the tensor order.
func TestDescribeCorpus(t *testing.T) {
	for _, path := range corpusFiles(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			ref := loadReference(t, path+".json")
			f, closer, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer closer.Close()
			got, err := Describe(f, true)
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, k := range got.Metadata {
				keys = append(keys, k.Key)
				checkKey(t, k, ref.kv[k.Key])
			}
			if !slices.Equal(keys, ref.keys) {
				t.Errorf("keys\n got %q\nwant %q", keys, ref.keys)
			}
			var order []string
			for _, ti := range got.Tensors {
				order = append(order, ti.Name)
				want, ok := ref.tensors[ti.Name]
				switch {
				case !ok:
					t.Errorf("tensor %q not in the reference", ti.Name)
				case ti.DType != want.Type || !slices.Equal(ti.Shape, want.Shape) || ti.NBytes != want.Nbytes:
					t.Errorf("tensor %q: %s %v %d bytes, want %s %v %d", ti.Name, ti.DType, ti.Shape, ti.NBytes, want.Type, want.Shape, want.Nbytes)
				case ti.SHA256[:16] != want.Digest:
					t.Errorf("tensor %q: digest %s, want %s", ti.Name, ti.SHA256[:16], want.Digest)
				}
			}
			if !slices.Equal(order, ref.tensorOrder) {
				t.Errorf("tensor order\n got %q\nwant %q", order, ref.tensorOrder)
			}
			js, err := json.Marshal(got)
			if err != nil || !json.Valid(js) {
				t.Errorf("marshal: %v", err)
			}
		})
	}
}

func checkKey(t *testing.T, got KeyInfo, want refKey) {
	t.Helper()
	if !slices.Equal(got.Type, want.Type) {
		t.Errorf("key %q: type %q, want %q", got.Key, got.Type, want.Type)
		return
	}
	var b bytes.Buffer
	if got.Type[0] != "ARRAY" {
		if err := appendJSON(&b, got.Value); err != nil {
			t.Fatal(err)
		}
		if g, w := compact(t, b.Bytes()), compact(t, want.Value); g != w {
			t.Errorf("key %q: value %s, want %s", got.Key, g, w)
		}
		return
	}
	if got.Len != want.Len || got.Digest != want.Digest {
		t.Errorf("key %q: len %d digest %s, want len %d digest %s", got.Key, got.Len, got.Digest, want.Len, want.Digest)
	}
	if err := appendJSON(&b, got.Head); err != nil {
		t.Fatal(err)
	}
	if g, w := compact(t, b.Bytes()), compact(t, want.Head); g != w {
		t.Errorf("key %q: head %s, want %s", got.Key, g, w)
	}
}
