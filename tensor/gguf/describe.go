package gguf

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"math"

	"github.com/mlmf-run/mlmf-run/internal/pyjson"
	"github.com/mlmf-run/mlmf-run/tensor"
)

// Inspect is what `mlmf-run inspect --json` prints for a GGUF file. Metadata
// follows llama.cpp's gguf-py view of the file, the view the conformance
// corpus records: value types as gguf-py names them, arrays summarized by
// length, first items and a digest of their json.dumps text.
type Inspect struct {
	Format   string       `json:"format"` // "gguf"
	Metadata Metadata     `json:"metadata"`
	Tensors  []TensorInfo `json:"tensors"`
}

// Metadata is the key-values in file order; it marshals as one JSON object.
type Metadata []KeyInfo

// KeyInfo describes one metadata value.
type KeyInfo struct {
	Key string
	// Type is gguf-py's type list: ["UINT32"], ["ARRAY","STRING"], ...
	Type []string
	// Value of a scalar: the Go value, float32 widened to float64 as Python does.
	Value any
	// Arrays: element count, first three items as gguf-py yields them (a
	// string, or a one-item list for a number), and the first 16 hex digits
	// of sha256(json.dumps(all items)).
	Len    int
	Head   []any
	Digest string
}

// TensorInfo describes one tensor, in ggml's terms.
type TensorInfo struct {
	Name   string  `json:"name"`
	DType  string  `json:"dtype"` // ggml type name
	Shape  []int64 `json:"shape"` // ggml order: ne0 (the row) first
	Offset int64   `json:"offset"`
	NBytes int64   `json:"nbytes"`
	SHA256 string  `json:"sha256,omitempty"` // full hex digest of the data, when asked for
}

// headLen is how many array items Inspect shows.
const headLen = 3

// Describe summarizes f; with hash it reads every tensor to digest its data.
// For a split set, tensors of all parts are listed with offsets in their own
// part.
func Describe(f *File, hash bool) (Inspect, error) {
	out := Inspect{Format: "gguf", Metadata: Metadata{}, Tensors: []TensorInfo{}}
	for _, kv := range f.Meta.All() {
		ki, err := describeValue(kv.Key, kv.Value)
		if err != nil {
			return Inspect{}, err
		}
		out.Metadata = append(out.Metadata, ki)
	}
	var buf []byte
	for _, t := range f.Tensors {
		ti := TensorInfo{Name: t.Name, DType: t.DType.String(), Shape: ggmlShape(t.Shape), NBytes: t.NBytes()}
		if s, ok := t.Src.(*tensor.Section); ok {
			ti.Offset = s.Off
		}
		if hash {
			h := sha256.New()
			if err := streamRows(t, &buf, func(b []byte) error { h.Write(b); return nil }); err != nil {
				return Inspect{}, err
			}
			ti.SHA256 = hex.EncodeToString(h.Sum(nil))
		}
		out.Tensors = append(out.Tensors, ti)
	}
	return out, nil
}

func ggmlShape(shape []int64) []int64 {
	ne := make([]int64, len(shape))
	for i, s := range shape {
		ne[len(shape)-1-i] = s
	}
	return ne
}

func describeValue(key string, v Value) (KeyInfo, error) {
	ki := KeyInfo{Key: key, Type: typeList(v)}
	if v.Type != TypeArray {
		ki.Value = pyValue(v.V)
		return ki, nil
	}
	h := sha256.New()
	if err := digestArray(h, v, &ki.Head); err != nil {
		return KeyInfo{}, fmt.Errorf("gguf: key %q: %w", key, err)
	}
	ki.Len = v.Len()
	ki.Digest = hex.EncodeToString(h.Sum(nil))[:16]
	return ki, nil
}

// typeList is gguf-py's field.types: an array adds its element's types, and
// an array of arrays those of its first element.
func typeList(v Value) []string {
	out := []string{v.Type.String()}
	if v.Type != TypeArray {
		return out
	}
	if v.Elem != TypeArray {
		return append(out, v.Elem.String())
	}
	if subs, ok := v.V.([]Value); ok && len(subs) > 0 {
		return append(out, typeList(subs[0])...)
	}
	return append(out, TypeArray.String())
}

// pyValue is the value as Python holds it after gguf-py reads it.
func pyValue(x any) any {
	if f, ok := x.(float32); ok {
		return float64(f)
	}
	return x
}

// item is one array element as gguf-py yields it: a str for strings, a
// one-element list (numpy's tolist of the part) for numbers and booleans,
// the list of items for a nested array.
func item(e Value) any {
	switch e.Type {
	case TypeString:
		return e.V
	case TypeArray:
		var out []any
		for x := range e.Elems() {
			out = append(out, item(x))
		}
		return out
	}
	return []any{pyValue(e.V)}
}

// digestArray writes json.dumps of all items of v to h, streaming so that a
// large vocabulary is never held twice, and collects the head.
func digestArray(h hash.Hash, v Value, head *[]any) error {
	var b []byte
	h.Write([]byte{'['})
	i := 0
	for e := range v.Elems() {
		it := item(e)
		if i < headLen {
			*head = append(*head, it)
		}
		b = b[:0]
		if i > 0 {
			b = append(b, ", "...)
		}
		var err error
		if b, err = pyjson.Append(b, it); err != nil {
			return err
		}
		h.Write(b)
		i++
	}
	h.Write([]byte{']'})
	return nil
}

// MarshalJSON writes the metadata as one object in file order, each value
// in the text Python's json.dumps gives it (except NaN and the infinities,
// which JSON cannot hold and are written as the strings "NaN", "Infinity").
func (m Metadata) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range m {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(pyjson.AppendString(nil, k.Key))
		b.WriteString(`:{"type":`)
		t, _ := json.Marshal(k.Type)
		b.Write(t)
		if len(k.Type) > 0 && k.Type[0] == TypeArray.String() {
			fmt.Fprintf(&b, `,"len":%d,"digest":%q,"head":`, k.Len, k.Digest)
			if err := appendJSON(&b, k.Head); err != nil {
				return nil, err
			}
		} else {
			b.WriteString(`,"value":`)
			if err := appendJSON(&b, k.Value); err != nil {
				return nil, err
			}
		}
		b.WriteByte('}')
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func appendJSON(b *bytes.Buffer, v any) error {
	s, err := pyjson.Append(nil, finite(v))
	b.Write(s)
	return err
}

// finite replaces non-finite floats by their Python spelling as a string.
func finite(v any) any {
	switch x := v.(type) {
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return pyjson.FloatRepr(x)
		}
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = finite(e)
		}
		return out
	}
	return v
}

// streamRows passes the tensor's data to fn in chunks of whole rows of at
// most chunkBytes (or one row), reusing *buf.
func streamRows(t *tensor.Desc, buf *[]byte, fn func([]byte) error) error {
	rb, rows := t.RowBytes(), t.Rows()
	if rb == 0 {
		return nil
	}
	per := max(1, chunkBytes/rb)
	for r := int64(0); r < rows; r += per {
		n := min(per, rows-r)
		if int64(cap(*buf)) < n*rb {
			*buf = make([]byte, n*rb)
		}
		chunk := (*buf)[:n*rb]
		if err := t.Src.ReadRows(r, n, chunk); err != nil {
			return fmt.Errorf("gguf: tensor %q rows [%d, %d): %w", t.Name, r, r+n, err)
		}
		if err := fn(chunk); err != nil {
			return err
		}
	}
	return nil
}
