package safetensors

import (
	"encoding/binary"
	"fmt"
	"io"
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// alignRank orders dtypes the way the safetensors crate's Dtype enum does
// (declared in increasing alignment). Its writer sorts tensors by this rank,
// descending, then by name, so that every tensor starts aligned for its
// element size; reproducing it makes our files byte-identical to the python
// library's.
var alignRank = map[tensor.DType]int{
	tensor.Bool: 0, tensor.U8: 4, tensor.I8: 5, tensor.F8E5M2: 6, tensor.F8E4M3: 7,
	tensor.I16: 11, tensor.U16: 12, tensor.F16: 13, tensor.BF16: 14,
	tensor.I32: 15, tensor.U32: 16, tensor.F32: 17, tensor.F64: 19, tensor.I64: 20, tensor.U64: 21,
}

// Layout computes a safetensors file for tensors at plan time: the bytes
// before the data (length + JSON header padded with spaces to a multiple of
// 8), each tensor's absolute offset (offsets[i] belongs to tensors[i]), and
// the file size. Tensors are placed as the python library places them; the
// header lists __metadata__ first (omitted when metadata is nil, keys sorted)
// then the tensors in data order, in serde_json's compact spelling.
func Layout(tensors []*tensor.Desc, metadata map[string]string) (prefix []byte, offsets []int64, size int64, err error) {
	order, sizes, err := writeOrder(tensors)
	if err != nil {
		return nil, nil, 0, err
	}
	h := []byte{'{'}
	if metadata != nil {
		keys := make([]string, 0, len(metadata))
		for k := range metadata {
			if !utf8.ValidString(k) || !utf8.ValidString(metadata[k]) {
				return nil, nil, 0, fmt.Errorf("safetensors: metadata key %q: not valid UTF-8", k)
			}
			keys = append(keys, k)
		}
		sort.Strings(keys)
		h = append(appendString(h, metadataKey), ":{"...)
		for i, k := range keys {
			if i > 0 {
				h = append(h, ',')
			}
			h = append(appendString(h, k), ':')
			h = appendString(h, metadata[k])
		}
		h = append(h, '}')
	}
	offsets = make([]int64, len(tensors))
	var off int64
	for _, i := range order {
		t := tensors[i]
		if len(h) > 1 {
			h = append(h, ',')
		}
		h = append(appendString(h, t.Name), `:{"dtype":`...)
		h = appendString(h, t.DType.Info().Safetensors)
		h = append(h, `,"shape":[`...)
		for j, s := range t.Shape {
			if j > 0 {
				h = append(h, ',')
			}
			h = strconv.AppendInt(h, s, 10)
		}
		h = append(h, `],"data_offsets":[`...)
		h = strconv.AppendInt(h, off, 10)
		h = append(h, ',')
		h = strconv.AppendInt(h, off+sizes[i], 10)
		h = append(h, "]}"...)
		offsets[i] = off
		off += sizes[i]
	}
	h = append(h, '}')
	for len(h)%8 != 0 {
		h = append(h, ' ')
	}
	if len(h) > MaxHeaderSize {
		return nil, nil, 0, fmt.Errorf("safetensors: header of %d bytes exceeds the limit of %d", len(h), MaxHeaderSize)
	}
	prefix = binary.LittleEndian.AppendUint64(make([]byte, 0, 8+len(h)), uint64(len(h)))
	prefix = append(prefix, h...)
	base := int64(len(prefix))
	for i := range offsets {
		offsets[i] += base
	}
	return prefix, offsets, base + off, nil
}

// writeOrder validates tensors and returns their data order and byte sizes.
func writeOrder(tensors []*tensor.Desc) ([]int, []int64, error) {
	seen := make(map[string]bool, len(tensors))
	sizes := make([]int64, len(tensors))
	order := make([]int, len(tensors))
	for i, t := range tensors {
		if t.DType.Info().Safetensors == "" {
			return nil, nil, fmt.Errorf("safetensors: tensor %q: dtype %s cannot be stored in safetensors", t.Name, t.DType)
		}
		if t.Name == metadataKey || !utf8.ValidString(t.Name) {
			return nil, nil, fmt.Errorf("safetensors: tensor name %q is reserved or not valid UTF-8", t.Name)
		}
		if seen[t.Name] {
			return nil, nil, fmt.Errorf("safetensors: tensor %q appears twice", t.Name)
		}
		seen[t.Name] = true
		n, ok := byteSize(t.Shape, t.DType)
		if !ok {
			return nil, nil, fmt.Errorf("safetensors: tensor %q: shape %v is negative or overflows", t.Name, t.Shape)
		}
		sizes[i], order[i] = n, i
	}
	sort.Slice(order, func(a, b int) bool {
		ta, tb := tensors[order[a]], tensors[order[b]]
		ra, rb := alignRank[ta.DType], alignRank[tb.DType]
		if ra != rb {
			return ra > rb
		}
		return ta.Name < tb.Name
	})
	return order, sizes, nil
}

// appendString writes s as serde_json does: only '"', '\\' and control
// characters are escaped (short forms where JSON has them, else \u00xx);
// everything else, non-ASCII included, is written raw.
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\b':
			b = append(b, '\\', 'b')
		case c == '\f':
			b = append(b, '\\', 'f')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// ChunkBytes bounds the rows Write reads at once (one row when a row is larger).
const ChunkBytes = 4 << 20

// Write streams a whole safetensors file to w: the Layout prefix, then every
// tensor's rows pulled from its Src in chunks of at most ChunkBytes, so memory
// stays bounded whatever the tensor sizes.
func Write(w io.Writer, tensors []*tensor.Desc, metadata map[string]string) error {
	prefix, offsets, _, err := Layout(tensors, metadata)
	if err != nil {
		return err
	}
	if _, err := w.Write(prefix); err != nil {
		return err
	}
	order := make([]int, len(tensors))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return offsets[order[a]] < offsets[order[b]] })
	var buf []byte
	for _, i := range order {
		if buf, err = copyRows(w, tensors[i], buf); err != nil {
			return err
		}
	}
	return nil
}

// copyRows writes t's rows to w, reusing buf across tensors.
func copyRows(w io.Writer, t *tensor.Desc, buf []byte) ([]byte, error) {
	rows, rowBytes := t.Rows(), t.RowBytes()
	if rows == 0 || rowBytes == 0 {
		return buf, nil
	}
	step := max(ChunkBytes/rowBytes, 1)
	if need := min(step, rows) * rowBytes; int64(cap(buf)) < need {
		buf = make([]byte, need)
	}
	for r := int64(0); r < rows; r += step {
		n := min(step, rows-r)
		chunk := buf[:n*rowBytes]
		if err := t.Src.ReadRows(r, n, chunk); err != nil {
			return buf, fmt.Errorf("safetensors: tensor %q rows [%d,%d): %w", t.Name, r, r+n, err)
		}
		if _, err := w.Write(chunk); err != nil {
			return buf, err
		}
	}
	return buf, nil
}
