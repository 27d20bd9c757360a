package gguf

import (
	"fmt"
	"io"
	"math/bits"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// Layout plans a GGUF v3 file the way gguf-py and llama-quantize write one:
// header, key-values in Meta order, tensor infos in the given order, zero
// padding to the alignment, then each tensor's data at an aligned offset and
// zero-padded to the alignment, the last one included. It returns the bytes
// before the data section, each tensor's absolute file offset, and the file
// size; the caller streams the data into place.
//
// alignment 0 takes general.alignment from meta, or 32; a non-zero alignment
// must agree with general.alignment when meta has it.
func Layout(meta *Meta, tensors []*tensor.Desc, alignment int64) (prefix []byte, offsets []int64, size int64, err error) {
	if alignment, err = layoutAlignment(meta, alignment); err != nil {
		return nil, nil, 0, err
	}
	b := []byte(Magic)
	b = le.AppendUint32(b, Version)
	b = le.AppendUint64(b, uint64(len(tensors)))
	b = le.AppendUint64(b, uint64(meta.Len()))
	for _, kv := range meta.All() {
		if kv.Key == "" {
			return nil, nil, 0, fmt.Errorf("gguf: empty metadata key")
		}
		b = appendString(b, kv.Key)
		if b, err = appendValue(b, kv.Value, true); err != nil {
			return nil, nil, 0, fmt.Errorf("gguf: key %q: %w", kv.Key, err)
		}
	}
	rel := make([]int64, len(tensors))
	seen := make(map[string]bool, len(tensors))
	var data int64
	for i, t := range tensors {
		nbytes, id, err := checkTensor(t, seen)
		if err != nil {
			return nil, nil, 0, err
		}
		b = appendString(b, t.Name)
		b = le.AppendUint32(b, uint32(len(t.Shape)))
		for j := len(t.Shape) - 1; j >= 0; j-- {
			b = le.AppendUint64(b, uint64(t.Shape[j]))
		}
		b = le.AppendUint32(b, uint32(id))
		b = le.AppendUint64(b, uint64(data))
		rel[i] = data
		if data, err = addPadded(data, nbytes, alignment); err != nil {
			return nil, nil, 0, fmt.Errorf("gguf: tensor %q: %w", t.Name, err)
		}
	}
	b = append(b, make([]byte, pad(int64(len(b)), alignment)-int64(len(b)))...)
	start := int64(len(b))
	for i := range rel {
		rel[i] += start
	}
	if start > (1<<63-1)-data {
		return nil, nil, 0, fmt.Errorf("gguf: file size overflows int64")
	}
	return b, rel, start + data, nil
}

func appendString(b []byte, s string) []byte {
	b = le.AppendUint64(b, uint64(len(s)))
	return append(b, s...)
}

// maxWriteAlignment bounds the padding Layout materializes in the prefix;
// llama.cpp reads any power of 2, but nothing uses more than a page or two.
const maxWriteAlignment = 1 << 20

func layoutAlignment(meta *Meta, alignment int64) (int64, error) {
	if v, ok := meta.Get(KeyAlignment); ok {
		a, isU32 := v.V.(uint32)
		if v.Type != TypeUint32 || !isU32 {
			return 0, fmt.Errorf("gguf: key %q must be a UINT32, is %v", KeyAlignment, v.Type)
		}
		if alignment == 0 {
			alignment = int64(a)
		} else if alignment != int64(a) {
			return 0, fmt.Errorf("gguf: alignment %d disagrees with %s = %d", alignment, KeyAlignment, a)
		}
	}
	if alignment == 0 {
		alignment = DefaultAlignment
	}
	if alignment < 0 || alignment > maxWriteAlignment || bits.OnesCount64(uint64(alignment)) != 1 {
		return 0, fmt.Errorf("gguf: alignment %d is not a power of 2 up to %d", alignment, maxWriteAlignment)
	}
	return alignment, nil
}

// checkTensor refuses what llama.cpp could not load: long or duplicate
// names, more than 4 dims, dtypes GGUF cannot hold, rows that are not whole
// blocks.
func checkTensor(t *tensor.Desc, seen map[string]bool) (nbytes int64, id int, err error) {
	switch {
	case len(t.Name) > maxNameLen:
		return 0, 0, fmt.Errorf("gguf: tensor name %q is %d bytes, llama.cpp allows at most %d", t.Name, len(t.Name), maxNameLen)
	case seen[t.Name]:
		return 0, 0, fmt.Errorf("gguf: duplicate tensor name %q", t.Name)
	case len(t.Shape) > maxDims:
		return 0, 0, fmt.Errorf("gguf: tensor %q has %d dimensions, GGUF allows at most %d", t.Name, len(t.Shape), maxDims)
	case t.DType.Info().GGML < 0:
		return 0, 0, fmt.Errorf("gguf: tensor %q: dtype %v has no ggml type", t.Name, t.DType)
	}
	seen[t.Name] = true
	if err := t.Check(); err != nil {
		return 0, 0, fmt.Errorf("gguf: %w", err)
	}
	return t.NBytes(), t.DType.Info().GGML, nil
}

func addPadded(data, nbytes, alignment int64) (int64, error) {
	p := pad(nbytes, alignment)
	if p < nbytes || data > (1<<63-1)-p {
		return 0, fmt.Errorf("data section size overflows int64")
	}
	return data + p, nil
}

// chunkBytes bounds the memory Write holds for one tensor at a time.
const chunkBytes = 4 << 20

// Write writes a whole GGUF file to w sequentially: Layout's prefix, then
// each tensor's rows read from its Src in chunks of at most a few MiB (or
// one row, if a row is larger), then padding. It is for tests and small
// outputs; the pipeline writes the planned layout itself.
func Write(w io.Writer, meta *Meta, tensors []*tensor.Desc) error {
	prefix, offsets, size, err := Layout(meta, tensors, 0)
	if err != nil {
		return err
	}
	if _, err := w.Write(prefix); err != nil {
		return err
	}
	pos := int64(len(prefix))
	var buf []byte
	for i, t := range tensors {
		if pos < offsets[i] {
			if _, err := w.Write(make([]byte, offsets[i]-pos)); err != nil {
				return err
			}
		}
		err := streamRows(t, &buf, func(b []byte) error { _, err := w.Write(b); return err })
		if err != nil {
			return err
		}
		pos = offsets[i] + t.NBytes()
	}
	if pos < size {
		_, err = w.Write(make([]byte, size-pos))
	}
	return err
}
