package lora

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/safetensors"
)

// TestOpenRefusesIntegerMatrices checks that an adapter whose lora_A or
// lora_B is stored as integers is refused, not decoded as if its integers
// were weights.
func TestOpenRefusesIntegerMatrices(t *testing.T) {
	for _, dt := range []tensor.DType{tensor.I32, tensor.I8, tensor.I64} {
		for _, which := range []string{"lora_A", "lora_B"} {
			t.Run(dt.String()+"-"+which, func(t *testing.T) {
				dir := t.TempDir()
				cfg := `{"peft_type": "LORA", "r": 2, "lora_alpha": 4, "target_modules": ["q_proj"]}`
				if err := os.WriteFile(filepath.Join(dir, ConfigName), []byte(cfg), 0o644); err != nil {
					t.Fatal(err)
				}
				mat := func(name string, shape []int64) *tensor.Desc {
					d := tensor.F32
					if strings.Contains(name, which) {
						d = dt
					}
					rb, err := d.RowBytes(shape[1])
					if err != nil {
						t.Fatal(err)
					}
					return &tensor.Desc{Name: name, DType: d, Shape: shape,
						Src: &tensor.Bytes{Data: make([]byte, rb*shape[0]), RowBytes: rb, What: "zeros"}}
				}
				f, err := os.Create(filepath.Join(dir, SafetensorsName))
				if err != nil {
					t.Fatal(err)
				}
				ts := []*tensor.Desc{mat(keyPrefix+"model.layers.0.self_attn.q_proj.lora_A.weight", []int64{2, 8}),
					mat(keyPrefix+"model.layers.0.self_attn.q_proj.lora_B.weight", []int64{8, 2})}
				if err := safetensors.Write(f, ts, nil); err != nil {
					t.Fatal(err)
				}
				if err := f.Close(); err != nil {
					t.Fatal(err)
				}
				a, err := Open(dir)
				if err == nil {
					a.Close()
					t.Fatal("opened an adapter with integer matrices")
				}
				want := which + ".weight is " + dt.String() + ", expected a floating-point matrix (F32, F16, BF16)"
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			})
		}
	}
}
