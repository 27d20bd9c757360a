package safetensors

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
	"github.com/mlmf-run/mlmf-run/tensor"
)

// corpusFiles are the safetensors files of the corpus, relative to it.
var corpusFiles = []string{
	"tiny-llama-bpe/model.safetensors",
	"tiny-llama-spm/model-00001-of-00004.safetensors",
	"tiny-llama-spm/model-00002-of-00004.safetensors",
	"tiny-llama-spm/model-00003-of-00004.safetensors",
	"tiny-llama-spm/model-00004-of-00004.safetensors",
	"tiny-llama-spm-lora/adapter_model.safetensors",
	"tiny-llama-spm-ref/tiny-llama-spm-lora-merged-f32.safetensors",
	"tiny-smolvlm/model.safetensors",
}

func openCorpusFile(t *testing.T, rel string) (*File, []byte) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(corpus.Dir(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewReader(bytes.NewReader(raw), int64(len(raw)), rel)
	if err != nil {
		t.Fatal(err)
	}
	return f, raw
}

// refTensor is a header entry as encoding/json reads it, independently of
// the token walk under test.
type refTensor struct {
	name    string
	DType   string   `json:"dtype"`
	Shape   []int64  `json:"shape"`
	Offsets [2]int64 `json:"data_offsets"`
}

func refHeader(t *testing.T, raw []byte) (map[string]string, []refTensor, int64) {
	n := int64(binary.LittleEndian.Uint64(raw))
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw[8:8+n], &m); err != nil {
		t.Fatal(err)
	}
	var meta map[string]string
	var out []refTensor
	for k, v := range m {
		if k == "__metadata__" {
			if err := json.Unmarshal(v, &meta); err != nil {
				t.Fatal(err)
			}
			continue
		}
		r := refTensor{name: k}
		if err := json.Unmarshal(v, &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Offsets[0] < out[j].Offsets[0] })
	return meta, out, 8 + n
}

func TestCorpusHeaders(t *testing.T) {
	for _, rel := range corpusFiles {
		t.Run(rel, func(t *testing.T) {
			f, raw := openCorpusFile(t, rel)
			meta, want, dataOff := refHeader(t, raw)
			if f.DataOffset != dataOff {
				t.Errorf("DataOffset = %d, want %d", f.DataOffset, dataOff)
			}
			if !reflect.DeepEqual(f.Metadata, meta) {
				t.Errorf("Metadata = %v, want %v", f.Metadata, meta)
			}
			if len(f.Tensors) != len(want) {
				t.Fatalf("%d tensors, want %d", len(f.Tensors), len(want))
			}
			for i, d := range f.Tensors {
				w := want[i]
				sec := d.Src.(*tensor.Section)
				if d.Name != w.name || d.DType.Info().Safetensors != w.DType || !reflect.DeepEqual(d.Shape, w.Shape) ||
					sec.Off != dataOff+w.Offsets[0] || d.NBytes() != w.Offsets[1]-w.Offsets[0] {
					t.Errorf("tensor %d = %v at %d (%d bytes), want %+v", i, d, sec.Off, d.NBytes(), w)
				}
			}
		})
	}
}

// TestCorpusData checks tensor bytes against the digests llama.cpp's gguf-py
// took of the same tensors converted without change of type or layout.
func TestCorpusData(t *testing.T) {
	dir := corpus.Dir(t)
	cases := []struct {
		st, gguf string
		names    map[string]string // safetensors name -> GGUF name
	}{
		{"tiny-llama-spm/model-00001-of-00004.safetensors", "tiny-llama-spm-ref/tiny-llama-spm-bf16.gguf.json", map[string]string{
			"model.embed_tokens.weight":              "token_embd.weight",
			"model.layers.0.mlp.gate_proj.weight":    "blk.0.ffn_gate.weight",
			"model.layers.0.self_attn.o_proj.weight": "blk.0.attn_output.weight",
			"model.layers.0.self_attn.v_proj.weight": "blk.0.attn_v.weight",
		}},
		{"tiny-llama-spm/model-00004-of-00004.safetensors", "tiny-llama-spm-ref/tiny-llama-spm-bf16.gguf.json", map[string]string{
			"lm_head.weight": "output.weight",
		}},
		{"tiny-llama-bpe/model.safetensors", "tiny-llama-bpe-ref/tiny-llama-bpe-f16.gguf.json", map[string]string{
			"model.embed_tokens.weight":           "token_embd.weight",
			"model.layers.1.mlp.down_proj.weight": "blk.1.ffn_down.weight",
			"lm_head.weight":                      "output.weight",
		}},
	}
	for _, c := range cases {
		f, _ := openCorpusFile(t, c.st)
		var ref struct {
			Tensors map[string]struct {
				NBytes int64  `json:"nbytes"`
				Digest string `json:"digest"`
			} `json:"tensors"`
		}
		raw, err := os.ReadFile(filepath.Join(dir, c.gguf))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &ref); err != nil {
			t.Fatal(err)
		}
		found := 0
		for _, d := range f.Tensors {
			g, ok := c.names[d.Name]
			if !ok {
				continue
			}
			found++
			data, err := tensor.ReadAll(d)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(data)
			want := ref.Tensors[g]
			if got := hex.EncodeToString(sum[:])[:16]; got != want.Digest || int64(len(data)) != want.NBytes {
				t.Errorf("%s %s: digest %s (%d bytes), want %s (%d bytes) from %s", c.st, d.Name, got, len(data), want.Digest, want.NBytes, g)
			}
		}
		if found != len(c.names) {
			t.Errorf("%s: found %d of %d tensors", c.st, found, len(c.names))
		}
	}
}
