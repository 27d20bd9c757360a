package imatrix

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

// Keys of a GGUF imatrix file (llama.cpp common/imatrix-loader.h).
const (
	KeyDatasets   = "imatrix.datasets"    // array of strings
	KeyChunkCount = "imatrix.chunk_count" // UINT32
	KeyChunkSize  = "imatrix.chunk_size"  // UINT32
)

const (
	sumsSuffix   = ".in_sum2"
	countsSuffix = ".counts"
)

// readGGUF reads a GGUF imatrix: for every weight NAME, an F32 tensor
// NAME.in_sum2 (columns × experts) and an F32 tensor NAME.counts (one count
// per expert). Other tensors are ignored, as llama.cpp ignores them.
func readGGUF(r io.ReaderAt, size int64, name string) (*Matrix, error) {
	f, err := gguf.NewReader(r, size, name)
	if err != nil {
		return nil, &FormatError{File: name, Offset: -1, Msg: "not a readable GGUF imatrix", Err: err}
	}
	if len(f.Tensors) < 1 {
		return nil, &FormatError{File: name, Offset: -1, Msg: "no tensors: an imatrix file holds NAME.in_sum2 and NAME.counts tensors"}
	}
	m := &Matrix{File: name, Entries: map[string]*Entry{}}
	if err := m.ggufKeys(f.Meta); err != nil {
		return nil, err
	}
	type pair struct{ sums, counts *tensor.Desc }
	pairs := map[string]*pair{}
	at := map[*tensor.Desc]int64{}
	for i, t := range f.Tensors {
		at[t] = f.DataOffset + f.Offsets[i]
		var p **tensor.Desc
		base, ok := strings.CutSuffix(t.Name, sumsSuffix)
		if ok {
			pairs[base] = orNew(pairs[base])
			p = &pairs[base].sums
		} else if base, ok = strings.CutSuffix(t.Name, countsSuffix); ok {
			pairs[base] = orNew(pairs[base])
			p = &pairs[base].counts
		} else {
			continue
		}
		*p = t
	}
	names := make([]string, 0, len(pairs))
	for n := range pairs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := pairs[n]
		if p.sums == nil || p.counts == nil {
			return nil, &FormatError{File: name, Offset: -1, Msg: fmt.Sprintf("entry %q has %s without %s", n, has(p.sums, sumsSuffix, countsSuffix), missing(p.sums, sumsSuffix, countsSuffix))}
		}
		for _, t := range []*tensor.Desc{p.sums, p.counts} {
			if t.DType != tensor.F32 {
				return nil, &FormatError{File: name, Offset: at[t], Msg: fmt.Sprintf("tensor %q is %v, want F32", t.Name, t.DType)}
			}
		}
		sums, err := readF32(p.sums, name, at[p.sums])
		if err != nil {
			return nil, err
		}
		cf, err := readF32(p.counts, name, at[p.counts])
		if err != nil {
			return nil, err
		}
		// llama-quantize divides the sums into len(counts) expert slices;
		// an empty or uneven split would divide by zero or lose columns.
		if len(cf) == 0 || len(sums)%len(cf) != 0 || len(sums) == 0 {
			return nil, &FormatError{File: name, Offset: at[p.counts], Msg: fmt.Sprintf(
				"entry %q: %d sums for %d counts, want a positive whole number of columns per count", n, len(sums), len(cf))}
		}
		e := &Entry{Sums: sums, Counts: make([]int64, len(cf))}
		for j, c := range cf {
			if math.IsNaN(float64(c)) || math.Abs(float64(c)) >= 1<<62 {
				return nil, &FormatError{File: name, Offset: at[p.counts] + 4*int64(j), Msg: fmt.Sprintf("entry %q: count %d is %v, want a token count", n, j, c)}
			}
			e.Counts[j] = int64(math.Round(float64(c))) // std::lround
		}
		m.Entries[n] = e
	}
	return m, nil
}

func orNew[T any](p *T) *T {
	if p == nil {
		return new(T)
	}
	return p
}

func has(sums *tensor.Desc, s, c string) string {
	if sums != nil {
		return s
	}
	return c
}

func missing(sums *tensor.Desc, s, c string) string {
	if sums != nil {
		return c
	}
	return s
}

// ggufKeys reads the metadata llama-quantize uses. A key of the wrong type
// is an error (llama.cpp aborts on it); the datasets key is used only when
// it is an array of strings, as there.
func (m *Matrix) ggufKeys(meta *gguf.Meta) error {
	v, hasDS := meta.Get(KeyDatasets)
	if hasDS {
		if ds, ok := v.V.([]string); ok && v.Type == gguf.TypeArray {
			m.Datasets = append(m.Datasets, ds...)
		}
	}
	hasCount, hasSize := false, false
	for _, k := range []struct {
		key  string
		dst  *int64
		seen *bool
	}{{KeyChunkCount, &m.ChunkCount, &hasCount}, {KeyChunkSize, &m.ChunkSize, &hasSize}} {
		v, ok := meta.Get(k.key)
		if !ok {
			continue
		}
		u, isU32 := v.V.(uint32)
		if v.Type != gguf.TypeUint32 || !isU32 {
			return &FormatError{File: m.File, Offset: -1, Msg: fmt.Sprintf("key %s is %v, want UINT32", k.key, v.Type)}
		}
		*k.dst, *k.seen = int64(u), true
	}
	m.HasMetadata = hasDS && hasCount && hasSize
	return nil
}

// readF32 reads a whole F32 tensor.
func readF32(t *tensor.Desc, file string, at int64) ([]float32, error) {
	n := t.Elems()
	b := make([]byte, 4*n)
	rows := t.Rows()
	if n > 0 {
		if err := t.Src.ReadRows(0, rows, b); err != nil {
			return nil, &FormatError{File: file, Offset: at, Msg: fmt.Sprintf("reading tensor %q", t.Name), Err: err}
		}
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out, nil
}
