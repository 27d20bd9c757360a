package quant

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/mlmf-run/mlmf-run/tensor"
)

var weightedTypes = []tensor.DType{tensor.Q4_0, tensor.Q4_1, tensor.Q5_0, tensor.Q5_1,
	tensor.Q2_K, tensor.Q3_K, tensor.Q4_K, tensor.Q5_K, tensor.Q6_K}

func randRows(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x
}

// TestQuantizeRowsWithoutWeights: with no importance weights every weighted
// type is its block reference quantizer, as ggml's quantize_<type> is with
// a NULL imatrix (the block quantizers are checked against ggml elsewhere).
func TestQuantizeRowsWithoutWeights(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const n = 512
	x := randRows(r, 3*n)
	for _, ty := range weightedTypes {
		rb, _ := ty.RowBytes(n)
		a, b := make([]byte, 3*rb), make([]byte, 3*rb)
		if err := QuantizeRows(ty, x, n, nil, a); err != nil {
			t.Fatal(err)
		}
		if err := Quantize(ty, x, b); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%v: rows without weights differ from the block quantizer", ty)
		}
	}
}

// TestRowsSlicesExperts: a 3-D tensor's rows take their expert's slice of
// the importance weights (llama-quantize's imatrix + expert·n_per_row).
func TestRowsSlicesExperts(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	const cols, perExpert, experts = 256, 2, 3
	x := randRows(r, cols*perExpert*experts)
	w := make([]float32, cols*experts)
	for i := range w {
		w[i] = float32(r.ExpFloat64())
	}
	raw := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(v))
	}
	src := &tensor.Section{R: bytes.NewReader(raw), RowBytes: 4 * cols, Name: "mem"}
	for _, ty := range weightedTypes {
		s, err := Rows(src, tensor.F32, ty, cols, perExpert, w)
		if err != nil {
			t.Fatal(err)
		}
		rb, _ := ty.RowBytes(cols)
		got := make([]byte, rb*perExpert*experts)
		if err := s.ReadRows(0, perExpert*experts, got); err != nil {
			t.Fatal(err)
		}
		for e := range experts {
			want := make([]byte, rb*perExpert)
			if err := QuantizeRows(ty, x[e*cols*perExpert:(e+1)*cols*perExpert], cols, w[e*cols:(e+1)*cols], want); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[int64(e)*rb*perExpert:int64(e+1)*rb*perExpert], want) {
				t.Errorf("%v: expert %d was not quantized with its own weights", ty, e)
			}
		}
		// And the weights matter: the middle expert's weights for all
		// experts give different bytes for the others.
		same := make([]float32, len(w))
		for e := range experts {
			copy(same[e*cols:], w[cols:2*cols])
		}
		s2, _ := Rows(src, tensor.F32, ty, cols, perExpert, same)
		other := make([]byte, len(got))
		if err := s2.ReadRows(0, perExpert*experts, other); err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(other, got) {
			t.Errorf("%v: the weights change nothing", ty)
		}
	}
	if _, err := Rows(src, tensor.F32, tensor.Q4_K, cols, perExpert, w[:100]); err == nil {
		t.Error("weights that are not whole rows were accepted")
	}
}
