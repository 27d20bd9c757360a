// Package tensor holds what every container and stage agrees on: element
// types, tensor descriptors and the row-oriented source contract through which
// weights are streamed without holding whole tensors in memory.
package tensor

import (
	"fmt"
	"sort"
	"strings"
)

// DType is one element encoding. It covers both the storage dtypes of
// safetensors/PyTorch and the ggml types of GGUF, because a tensor moves from
// one world to the other inside a single plan and every stage must be able to
// reason about its byte size.
type DType int

// The names are ggml's where ggml has the type, safetensors' otherwise.
const (
	Invalid DType = iota
	F32
	F16
	BF16
	F64
	F8E4M3
	F8E5M2
	I64
	I32
	I16
	I8
	U64
	U32
	U16
	U8
	Bool
	Q4_0
	Q4_1
	Q5_0
	Q5_1
	Q8_0
	Q8_1
	Q2_K
	Q3_K
	Q4_K
	Q5_K
	Q6_K
	Q8_K
	IQ2_XXS
	IQ2_XS
	IQ3_XXS
	IQ1_S
	IQ4_NL
	IQ3_S
	IQ2_S
	IQ4_XS
	IQ1_M
	TQ1_0
	TQ2_0
	MXFP4
	Q1_0
	Q2_0
	numDTypes
)

// Info describes how a dtype lays out in bytes. Quantized types store
// BlockSize elements in BlockBytes bytes; plain types have BlockSize 1.
type Info struct {
	Name        string // ggml's name (F32, Q4_K, ...) or safetensors' (F8_E4M3, BOOL, ...)
	Safetensors string // the safetensors header spelling, "" if safetensors cannot store it
	GGML        int    // ggml_type id, -1 if GGUF cannot store it
	BlockSize   int64
	BlockBytes  int64
}

var infos = [numDTypes]Info{
	Invalid: {"invalid", "", -1, 1, 0},
	F32:     {"F32", "F32", 0, 1, 4},
	F16:     {"F16", "F16", 1, 1, 2},
	BF16:    {"BF16", "BF16", 30, 1, 2},
	F64:     {"F64", "F64", 28, 1, 8},
	F8E4M3:  {"F8_E4M3", "F8_E4M3", -1, 1, 1},
	F8E5M2:  {"F8_E5M2", "F8_E5M2", -1, 1, 1},
	I64:     {"I64", "I64", 27, 1, 8},
	I32:     {"I32", "I32", 26, 1, 4},
	I16:     {"I16", "I16", 25, 1, 2},
	I8:      {"I8", "I8", 24, 1, 1},
	U64:     {"U64", "U64", -1, 1, 8},
	U32:     {"U32", "U32", -1, 1, 4},
	U16:     {"U16", "U16", -1, 1, 2},
	U8:      {"U8", "U8", -1, 1, 1},
	Bool:    {"BOOL", "BOOL", -1, 1, 1},
	Q4_0:    {"Q4_0", "", 2, 32, 18},
	Q4_1:    {"Q4_1", "", 3, 32, 20},
	Q5_0:    {"Q5_0", "", 6, 32, 22},
	Q5_1:    {"Q5_1", "", 7, 32, 24},
	Q8_0:    {"Q8_0", "", 8, 32, 34},
	Q8_1:    {"Q8_1", "", 9, 32, 36},
	Q2_K:    {"Q2_K", "", 10, 256, 84},
	Q3_K:    {"Q3_K", "", 11, 256, 110},
	Q4_K:    {"Q4_K", "", 12, 256, 144},
	Q5_K:    {"Q5_K", "", 13, 256, 176},
	Q6_K:    {"Q6_K", "", 14, 256, 210},
	Q8_K:    {"Q8_K", "", 15, 256, 292},
	IQ2_XXS: {"IQ2_XXS", "", 16, 256, 66},
	IQ2_XS:  {"IQ2_XS", "", 17, 256, 74},
	IQ3_XXS: {"IQ3_XXS", "", 18, 256, 98},
	IQ1_S:   {"IQ1_S", "", 19, 256, 50},
	IQ4_NL:  {"IQ4_NL", "", 20, 32, 18},
	IQ3_S:   {"IQ3_S", "", 21, 256, 110},
	IQ2_S:   {"IQ2_S", "", 22, 256, 82},
	IQ4_XS:  {"IQ4_XS", "", 23, 256, 136},
	IQ1_M:   {"IQ1_M", "", 29, 256, 56},
	TQ1_0:   {"TQ1_0", "", 34, 256, 54},
	TQ2_0:   {"TQ2_0", "", 35, 256, 66},
	MXFP4:   {"MXFP4", "", 39, 32, 17},
	Q1_0:    {"Q1_0", "", 41, 128, 18},
	Q2_0:    {"Q2_0", "", 42, 64, 18},
}

var (
	byName        = map[string]DType{}
	bySafetensors = map[string]DType{}
	byGGML        = map[int]DType{}
)

func init() {
	for i := DType(1); i < numDTypes; i++ {
		in := infos[i]
		byName[in.Name] = i
		if in.Safetensors != "" {
			bySafetensors[in.Safetensors] = i
		}
		if in.GGML >= 0 {
			byGGML[in.GGML] = i
		}
	}
}

// Info returns the layout of d; the zero Info for an unknown value.
func (d DType) Info() Info {
	if d < 0 || d >= numDTypes {
		return infos[Invalid]
	}
	return infos[d]
}

func (d DType) String() string { return d.Info().Name }

// Valid reports whether d is a known dtype other than Invalid.
func (d DType) Valid() bool { return d > Invalid && d < numDTypes }

// Quantized reports whether d packs elements in blocks (every ggml block type).
func (d DType) Quantized() bool { return d.Info().BlockSize > 1 }

// Float reports whether d is an unquantized floating-point encoding.
func (d DType) Float() bool {
	switch d {
	case F32, F16, BF16, F64, F8E4M3, F8E5M2:
		return true
	}
	return false
}

// RowBytes is the encoded size of n consecutive elements, or an error when n
// is not a whole number of blocks.
func (d DType) RowBytes(n int64) (int64, error) {
	in := d.Info()
	if in.BlockBytes == 0 {
		return 0, fmt.Errorf("dtype %v has no size", d)
	}
	if n%in.BlockSize != 0 {
		return 0, fmt.Errorf("%s needs rows of a multiple of %d elements, got %d", in.Name, in.BlockSize, n)
	}
	return n / in.BlockSize * in.BlockBytes, nil
}

// ParseDType accepts ggml and safetensors names, case-insensitively.
func ParseDType(s string) (DType, error) {
	u := strings.ToUpper(s)
	if d, ok := byName[u]; ok {
		return d, nil
	}
	if d, ok := bySafetensors[u]; ok {
		return d, nil
	}
	return Invalid, fmt.Errorf("unknown dtype %q (known: %s)", s, strings.Join(DTypeNames(), ", "))
}

// FromSafetensors maps a safetensors header dtype string.
func FromSafetensors(s string) (DType, bool) { d, ok := bySafetensors[s]; return d, ok }

// FromGGML maps a ggml_type id.
func FromGGML(id uint32) (DType, bool) {
	if id > 1<<16 {
		return Invalid, false
	}
	d, ok := byGGML[int(id)]
	return d, ok
}

// DTypeNames lists every known dtype name, sorted.
func DTypeNames() []string {
	out := make([]string, 0, len(byName))
	for n := range byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
