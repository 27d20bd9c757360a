package corpus

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"sort"

	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

// Reference is a corpus *.gguf.json: a GGUF as llama.cpp's gguf-py sees it.
type Reference struct {
	KV          map[string]RefKey    `json:"kv"`
	Tensors     map[string]RefTensor `json:"tensors"`
	TensorOrder []string             `json:"tensor_order"`
}

// RefKey is one metadata key of a reference.
type RefKey struct {
	Type   []string `json:"type"`
	Value  any      `json:"value"`
	Len    int      `json:"len"`
	Head   []any    `json:"head"`
	Digest string   `json:"digest"`
}

// RefTensor is one tensor of a reference.
type RefTensor struct {
	Type   string  `json:"type"`
	Shape  []int64 `json:"shape"`
	NBytes int64   `json:"nbytes"`
	Digest string  `json:"digest"`
}

// LoadReference reads a *.gguf.json.
func LoadReference(path string) (*Reference, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Reference
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// DiffGGUF compares the GGUF file at path with a reference: every key (but
// those in ignore) with its type and value, and every tensor's type, shape,
// size and data digest. It returns one line per difference.
func DiffGGUF(path string, ref *Reference, ignore ...string) ([]string, error) {
	f, c, err := gguf.Open(path)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	in, err := gguf.Describe(f, true)
	if err != nil {
		return nil, err
	}
	skip := map[string]bool{}
	for _, k := range ignore {
		skip[k] = true
	}
	var diffs []string
	got := map[string]gguf.KeyInfo{}
	for _, k := range in.Metadata {
		got[k.Key] = k
	}
	for _, name := range sortedKeys(ref.KV) {
		want := ref.KV[name]
		g, ok := got[name]
		switch {
		case skip[name]:
		case !ok:
			diffs = append(diffs, "missing key "+name)
		case !reflect.DeepEqual(g.Type, want.Type):
			diffs = append(diffs, fmt.Sprintf("key %s: type %v, want %v", name, g.Type, want.Type))
		case len(want.Type) > 0 && want.Type[0] == "ARRAY":
			if g.Len != want.Len || g.Digest != want.Digest || !sameJSON(g.Head, want.Head) {
				diffs = append(diffs, fmt.Sprintf("key %s: array len %d digest %s head %v, want len %d digest %s head %v",
					name, g.Len, g.Digest, g.Head, want.Len, want.Digest, want.Head))
			}
		case !sameJSON(g.Value, want.Value):
			diffs = append(diffs, fmt.Sprintf("key %s: %v, want %v", name, g.Value, want.Value))
		}
		delete(got, name)
	}
	for name := range got {
		if !skip[name] {
			diffs = append(diffs, "extra key "+name)
		}
	}
	return append(diffs, diffTensors(in.Tensors, ref)...), nil
}

func diffTensors(ts []gguf.TensorInfo, ref *Reference) []string {
	var diffs []string
	seen := map[string]bool{}
	for _, t := range ts {
		seen[t.Name] = true
		w, ok := ref.Tensors[t.Name]
		switch {
		case !ok:
			diffs = append(diffs, "extra tensor "+t.Name)
		case t.DType != w.Type || !reflect.DeepEqual(t.Shape, w.Shape) || t.NBytes != w.NBytes:
			diffs = append(diffs, fmt.Sprintf("tensor %s: %s %v %d bytes, want %s %v %d", t.Name, t.DType, t.Shape, t.NBytes, w.Type, w.Shape, w.NBytes))
		case len(t.SHA256) < 16 || t.SHA256[:16] != w.Digest:
			diffs = append(diffs, fmt.Sprintf("tensor %s (%s): data differs", t.Name, t.DType))
		}
	}
	for _, name := range sortedKeys(ref.Tensors) {
		if !seen[name] {
			diffs = append(diffs, "missing tensor "+name)
		}
	}
	return diffs
}

// sameJSON compares values through their JSON form, so that int, uint32
// and float64 holding the same number agree, as they do in the reference.
func sameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	if err1 != nil || err2 != nil {
		return false
	}
	var u, v any
	json.Unmarshal(x, &u)
	json.Unmarshal(y, &v)
	return reflect.DeepEqual(u, v)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
