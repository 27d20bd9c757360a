package arch

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
	"github.com/mlmf-run/mlmf-run/tensor"
	_ "github.com/mlmf-run/mlmf-run/tensor/quant" // Q8_0 codec for the q8_0 reference
	"github.com/mlmf-run/mlmf-run/tensor/safetensors"
)

type refKV struct {
	Type  []string `json:"type"`
	Value any      `json:"value"`
}

type refTensor struct {
	Type   string  `json:"type"`
	Shape  []int64 `json:"shape"`
	NBytes int64   `json:"nbytes"`
	Digest string  `json:"digest"`
}

type refGGUF struct {
	KV          map[string]refKV     `json:"kv"`
	Tensors     map[string]refTensor `json:"tensors"`
	TensorOrder []string             `json:"tensor_order"`
	keyOrder    []string
}

func loadRef(t *testing.T, path string) *refGGUF {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r refGGUF
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	// key order: decode the kv object token by token
	var raw struct {
		KV json.RawMessage `json:"kv"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(raw.KV)))
	if _, err := dec.Token(); err != nil {
		t.Fatalf("kv: %v", err)
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatalf("kv key: %v", err)
		}
		r.keyOrder = append(r.keyOrder, k.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatalf("kv %s: %v", k, err)
		}
	}
	return &r
}

func loadConfig(t *testing.T, dir string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func digest(t *testing.T, d *tensor.Desc) string {
	t.Helper()
	b, err := tensor.ReadAll(d)
	if err != nil {
		t.Fatalf("%s: %v", d.Name, err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])[:16]
}

// TestCorpusLlama converts the corpus LLaMA checkpoints exactly as the
// reference GGUFs were made and compares names, order, shapes, types, data
// digests and every non-tokenizer key with llama.cpp's converter output.
func TestCorpusLlama(t *testing.T) {
	root := corpus.Dir(t)
	cases := []struct {
		model, ref string
		out        tensor.DType
	}{
		{"tiny-llama-spm", "tiny-llama-spm-ref/tiny-llama-spm-f32.gguf.json", tensor.F32},
		{"tiny-llama-spm", "tiny-llama-spm-ref/tiny-llama-spm-f16.gguf.json", tensor.F16},
		{"tiny-llama-spm", "tiny-llama-spm-ref/tiny-llama-spm-bf16.gguf.json", tensor.BF16},
		{"tiny-llama-spm", "tiny-llama-spm-ref/tiny-llama-spm-q8_0.gguf.json", tensor.Q8_0},
		{"tiny-llama-bpe", "tiny-llama-bpe-ref/tiny-llama-bpe-f16.gguf.json", tensor.F16},
		{"tiny-llama-bpe", "tiny-llama-bpe-ref/tiny-llama-bpe-q8_0.gguf.json", tensor.Q8_0},
	}
	for _, c := range cases {
		t.Run(filepath.Base(c.ref), func(t *testing.T) {
			dir := filepath.Join(root, c.model)
			ref := loadRef(t, filepath.Join(root, c.ref))
			set, err := safetensors.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer set.Close()
			cfg := loadConfig(t, dir)
			a, err := Detect(cfg, set.Tensors)
			if err != nil {
				t.Fatal(err)
			}
			if a.Arch != "llama" {
				t.Fatalf("arch %s", a.Arch)
			}
			out, err := a.Remap(cfg, set.Tensors)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, d := range out {
				names = append(names, d.Name)
			}
			if fmt.Sprint(names) != fmt.Sprint(ref.TensorOrder) {
				t.Fatalf("order\n got %v\nwant %v", names, ref.TensorOrder)
			}
			for _, d := range out {
				rt := ref.Tensors[d.Name]
				typ := a.OutType(d.Name, d.Shape, c.out)
				if typ.String() != rt.Type {
					t.Errorf("%s: type %v, want %s", d.Name, typ, rt.Type)
					continue
				}
				ggml := make([]int64, len(d.Shape))
				for i, s := range d.Shape {
					ggml[len(d.Shape)-1-i] = s
				}
				if fmt.Sprint(ggml) != fmt.Sprint(rt.Shape) {
					t.Errorf("%s: ggml shape %v, want %v", d.Name, ggml, rt.Shape)
				}
				if !tensor.HasCodec(typ) {
					continue
				}
				src, err := tensor.Convert(d.Src, d.DType, typ, d.RowLen())
				if err != nil {
					t.Fatal(err)
				}
				conv := &tensor.Desc{Name: d.Name, DType: typ, Shape: d.Shape, Src: src}
				if conv.NBytes() != rt.NBytes {
					t.Errorf("%s: %d bytes, want %d", d.Name, conv.NBytes(), rt.NBytes)
				}
				if got := digest(t, conv); got != rt.Digest {
					t.Errorf("%s: digest %s, want %s", d.Name, got, rt.Digest)
				}
			}
			m, err := a.Header(cfg, out, HeaderOptions{Dir: dir, OutType: c.out})
			if err != nil {
				t.Fatal(err)
			}
			var wantKeys, gotKeys []string
			for _, k := range ref.keyOrder {
				if !strings.HasPrefix(k, "tokenizer.") {
					wantKeys = append(wantKeys, k)
				}
			}
			for _, kv := range m.All() {
				gotKeys = append(gotKeys, kv.Key)
			}
			if fmt.Sprint(gotKeys) != fmt.Sprint(wantKeys) {
				t.Fatalf("keys\n got %v\nwant %v", gotKeys, wantKeys)
			}
			for _, kv := range m.All() {
				want := ref.KV[kv.Key]
				if kv.Value.Type.String() != want.Type[0] {
					t.Errorf("%s: type %v, want %v", kv.Key, kv.Value.Type, want.Type)
				}
				if !sameValue(kv.Value.V, want.Value) {
					t.Errorf("%s: value %v, want %v", kv.Key, kv.Value.V, want.Value)
				}
			}
		})
	}
}

// sameValue compares a GGUF value with gguf-py's JSON rendering of it.
func sameValue(got, want any) bool {
	switch g := got.(type) {
	case float32:
		w, ok := want.(float64)
		return ok && float64(g) == w
	case string, bool:
		return got == want
	}
	gf, ok1 := num(got)
	wf, ok2 := want.(float64)
	return ok1 && ok2 && gf == wf && !math.IsNaN(gf)
}
