package quant_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
	"github.com/mlmf-run/mlmf-run/tensor/quant"
)

// readGGUF opens a GGUF with the project's reader and returns each tensor's
// dtype and data bytes by name.
func readGGUF(t testing.TB, path string) map[string]ggufTensor {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	g, err := gguf.NewReader(f, st.Size(), path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]ggufTensor{}
	for _, d := range g.Tensors {
		data, err := tensor.ReadAll(d)
		if err != nil {
			t.Fatal(err)
		}
		out[d.Name] = ggufTensor{d.DType, data}
	}
	return out
}

type ggufTensor struct {
	typ  tensor.DType
	data []byte
}

type refTensor struct {
	Type   string  `json:"type"`
	Shape  []int64 `json:"shape"`
	NBytes int64   `json:"nbytes"`
	Digest string  `json:"digest"`
}

func readRefJSON(t testing.TB, path string) map[string]refTensor {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tensors map[string]refTensor `json:"tensors"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return doc.Tensors
}

// TestCorpusByteIdentical quantizes every tensor of the BF16 GGUF that
// llama-quantize read into the type each reference file holds it in, and
// compares the bytes with llama-quantize's output: the sha256 digest from the
// reference's .gguf.json, and on a mismatch the first differing block of the
// reference GGUF itself.
func TestCorpusByteIdentical(t *testing.T) {
	dir := filepath.Join(corpus.Dir(t), "tiny-llama-spm-ref")
	src := readGGUF(t, filepath.Join(dir, "tiny-llama-spm-bf16.gguf"))
	refs, _ := filepath.Glob(filepath.Join(dir, "tiny-llama-spm-*.gguf.json"))
	checked := map[tensor.DType]int{}
	for _, ref := range refs {
		base := strings.TrimSuffix(filepath.Base(ref), ".gguf.json")
		if strings.HasSuffix(base, "-f32") || strings.HasSuffix(base, "-f16") || strings.HasSuffix(base, "-bf16") ||
			strings.Contains(base, "lora") || strings.HasSuffix(base, "-q8_0") {
			continue // converter outputs, not llama-quantize's
		}
		t.Run(base, func(t *testing.T) {
			want := readRefJSON(t, ref)
			var refData map[string]ggufTensor
			for name, rt := range want {
				typ, err := tensor.ParseDType(rt.Type)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if !typ.Quantized() {
					continue
				}
				in, ok := src[name]
				if !ok || in.typ != tensor.BF16 {
					t.Fatalf("%s: not a BF16 tensor in the source", name)
				}
				f := make([]float32, len(in.data)/2)
				if err := tensor.ToFloat32(tensor.BF16, in.data, f); err != nil {
					t.Fatal(err)
				}
				nb := mustRowBytes(t, typ, len(f))
				out := make([]byte, nb)
				if err := quant.Quantize(typ, f, out); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				sum := sha256.Sum256(out)
				if got := hex.EncodeToString(sum[:])[:16]; got != rt.Digest {
					if refData == nil {
						refData = readGGUF(t, strings.TrimSuffix(ref, ".json"))
					}
					t.Errorf("%s (%v): digest %s, want %s; %s", name, typ, got, rt.Digest, firstDiff(typ, out, refData[name].data))
					continue
				}
				checked[typ]++
			}
		})
	}
	for _, typ := range []tensor.DType{tensor.Q8_0, tensor.Q4_0, tensor.Q4_1, tensor.Q5_0, tensor.Q5_1,
		tensor.Q2_K, tensor.Q3_K, tensor.Q4_K, tensor.Q5_K, tensor.Q6_K} {
		if checked[typ] == 0 {
			t.Errorf("no %v tensor matched the corpus", typ)
		}
	}
	t.Logf("byte-identical tensors per type: %v", checked)
}

func firstDiff(typ tensor.DType, got, want []byte) string {
	if len(got) != len(want) {
		return fmt.Sprintf("size %d, reference %d", len(got), len(want))
	}
	bb := int(typ.Info().BlockBytes)
	n := 0
	first := -1
	for i := 0; i < len(got); i += bb {
		if string(got[i:i+bb]) != string(want[i:i+bb]) {
			if first < 0 {
				first = i / bb
			}
			n++
		}
	}
	if first < 0 {
		return "bytes equal?"
	}
	o := first * bb
	return fmt.Sprintf("%d of %d blocks differ, first block %d:\n got %x\nwant %x", n, len(got)/bb, first, got[o:o+bb], want[o:o+bb])
}
