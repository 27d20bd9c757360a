package gguf

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"testing"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// f32Tensor is a small F32 tensor whose values are seed, seed+1, ...
func f32Tensor(name string, seed float32, shape ...int64) *tensor.Desc {
	d := &tensor.Desc{Name: name, DType: tensor.F32, Shape: shape}
	data := make([]byte, 4*d.Elems())
	for i := range d.Elems() {
		binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(seed+float32(i)))
	}
	d.Src = &tensor.Bytes{Data: data, RowBytes: d.RowBytes(), What: name}
	return d
}

// build writes a file with our writer, for tests whose expectations are the
// values put in, not the writer's output.
func build(t testing.TB, meta *Meta, tensors ...*tensor.Desc) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, meta, tensors); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func testMeta() *Meta {
	m := &Meta{}
	m.Set("general.architecture", String("llama"))
	m.Set("llama.block_count", Uint32(2))
	m.Set("tokenizer.ggml.scores", Float32s([]float32{-1, 0.5}))
	return m
}

func parse(data []byte) (*File, error) {
	return NewReader(bytes.NewReader(data), int64(len(data)), "x.gguf")
}

func mustParse(t testing.TB, data []byte) *File {
	t.Helper()
	f, err := parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func names(ts []*tensor.Desc) string {
	s := ""
	for _, t := range ts {
		s += fmt.Sprint(t.Name, " ")
	}
	return s
}

// must fails the test on an error from its own setup.
func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
