// Package imatrix reads importance matrices, the per-column activation
// statistics llama-imatrix computes from calibration text, in both formats
// llama-quantize --imatrix accepts: the GGUF files today's llama-imatrix
// writes (tensors NAME.in_sum2 and NAME.counts, keys imatrix.*) and the
// legacy .dat format. It turns them into the weights llama-quantize hands to
// ggml's quantizers, with the same normalisation, filtering and checks
// (common/imatrix-loader.cpp and tools/quantize/quantize.cpp upstream).
package imatrix

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
)

// ErrFormat is matched (errors.Is) by every error about a malformed file.
var ErrFormat = errors.New("imatrix: invalid format")

// FormatError locates a problem in an imatrix file.
type FormatError struct {
	File   string
	Offset int64 // -1 when the problem is not at one place (a missing key)
	Msg    string
	Err    error // the underlying cause (a GGUF or I/O error), if any
}

func (e *FormatError) Error() string {
	s := e.File + ": "
	if e.Offset >= 0 {
		s += fmt.Sprintf("offset %d: ", e.Offset)
	}
	s += e.Msg
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap lets errors.Is match ErrFormat and the cause.
func (e *FormatError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrFormat, e.Err}
	}
	return []error{ErrFormat}
}

// Entry is one tensor's statistics as stored.
type Entry struct {
	// Sums are the summed squared activations per input column, experts
	// one after another for a 3-D (MoE) tensor. Legacy files store the
	// mean times the call count instead.
	Sums []float32
	// Counts are per expert (GGUF: how many tokens each expert saw, 0 for
	// an expert the calibration never routed to), or for a legacy file the
	// single call count.
	Counts []int64
}

// Matrix is a whole importance-matrix file.
type Matrix struct {
	File       string
	Legacy     bool
	Datasets   []string // calibration files, as llama-imatrix recorded them
	ChunkCount int64    // chunks computed over, 0 if unknown
	ChunkSize  int64    // tokens per chunk (GGUF only)
	// HasMetadata: a GGUF file carries imatrix.datasets, chunk_count and
	// chunk_size. llama-quantize refuses a GGUF file without them.
	HasMetadata bool
	Entries     map[string]*Entry
}

// Open reads the imatrix file at path.
func Open(path string) (*Matrix, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return Read(f, st.Size(), path)
}

// Read parses an imatrix file of size bytes (called name in messages). A
// file that starts with GGUF's magic is read as GGUF, anything else as the
// legacy format. (llama.cpp tries GGUF and falls back to legacy on any GGUF
// error, which reports a damaged GGUF file as a bad legacy one; here the
// GGUF error is the one reported.)
func Read(r io.ReaderAt, size int64, name string) (*Matrix, error) {
	var magic [4]byte
	if size >= 4 {
		if _, err := r.ReadAt(magic[:], 0); err != nil {
			return nil, &FormatError{File: name, Offset: 0, Msg: "reading the magic", Err: err}
		}
	}
	if string(magic[:]) == "GGUF" {
		return readGGUF(r, size, name)
	}
	return readLegacy(r, size, name)
}

// Weights are the importance weights of one entry, as llama-quantize's
// load_imatrix computes them: for GGUF the mean squared activation of each
// column (sums/count per expert; 1 for every column of an expert with no
// count), for legacy files the stored values divided by the call count
// when it is positive. Each expert's slice is len/len(Counts) long (GGUF).
func (m *Matrix) Weights(e *Entry) []float32 {
	w := make([]float32, len(e.Sums))
	if m.Legacy {
		var ncall int64
		if len(e.Counts) > 0 {
			ncall = e.Counts[0]
		}
		for i, s := range e.Sums {
			if ncall > 0 {
				w[i] = s / float32(ncall)
			} else {
				w[i] = s
			}
		}
		return w
	}
	ne0 := len(e.Sums) / len(e.Counts)
	for j, c := range e.Counts {
		for i := j * ne0; i < (j+1)*ne0; i++ {
			if float32(c) > 0 {
				w[i] = e.Sums[i] / float32(c)
			} else {
				w[i] = 1
			}
		}
	}
	return w
}

// Select is llama-quantize's prepare_imatrix: the weights of every entry,
// less those whose name contains one of exclude, or (include given) only
// those whose name contains one of include. Giving both is refused, as
// llama-quantize refuses it. Every value must be finite and not negative: the
// first NaN, infinity or negative value is an error naming the entry and the
// column. llama-quantize takes a negative weight silently, and ggml's IQ
// searches then fit scales against it: a row of |x| <= 44 came back as 407
// (byte-identical in ggml, tensor/quant's FuzzQuantize found it). A mean of
// squared activations is never negative, so such a file is corrupt.
func (m *Matrix) Select(include, exclude []string) (map[string][]float32, error) {
	if len(include) > 0 && len(exclude) > 0 {
		return nil, errors.New("include_weights and exclude_weights cannot be used together (as in llama-quantize)")
	}
	out := make(map[string][]float32, len(m.Entries))
	for name, e := range m.Entries {
		if containsAny(name, exclude) || len(include) > 0 && !containsAny(name, include) {
			continue
		}
		w := m.Weights(e)
		for i, v := range w {
			if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("%s: entry %q: weight %d is %v, want a finite number (the calibration run diverged?)", m.File, name, i, v)
			}
			if v < 0 {
				return nil, fmt.Errorf("%s: entry %q: weight %d is %v, want >= 0 (an importance matrix holds means of squared activations)", m.File, name, i, v)
			}
		}
		out[name] = w
	}
	return out, nil
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
