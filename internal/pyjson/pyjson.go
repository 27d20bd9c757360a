// Package pyjson reproduces the text Python's json.dumps writes with its
// default arguments, and the short digests the conformance corpus takes of it.
//
// The corpus describes every reference GGUF array as
// sha256(json.dumps(list))[:16]; matching those digests from Go needs
// byte-identical JSON: ", " between items, ensure_ascii string escaping, and
// floats written the way Python's repr writes them.
package pyjson

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Dumps returns json.dumps(v) for v built from nil, bool, the Go integer and
// float types, string, []any, typed slices of those, and [][]any-like nests.
// float32 values are widened to float64 first, as numpy's tolist() does.
func Dumps(v any) (string, error) {
	b, err := Append(nil, v)
	return string(b), err
}

// Digest is the corpus array digest: the first 16 hex digits of
// sha256(json.dumps(v)).
func Digest(v any) (string, error) {
	s, err := Dumps(v)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:16], nil
}

// Append appends json.dumps(v) to b.
func Append(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		if x {
			return append(b, "true"...), nil
		}
		return append(b, "false"...), nil
	case string:
		return AppendString(b, x), nil
	case float64:
		return append(b, FloatRepr(x)...), nil
	case float32:
		return append(b, FloatRepr(float64(x))...), nil
	case int:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int8:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int16:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int32:
		return strconv.AppendInt(b, int64(x), 10), nil
	case int64:
		return strconv.AppendInt(b, x, 10), nil
	case uint:
		return strconv.AppendUint(b, uint64(x), 10), nil
	case uint8:
		return strconv.AppendUint(b, uint64(x), 10), nil
	case uint16:
		return strconv.AppendUint(b, uint64(x), 10), nil
	case uint32:
		return strconv.AppendUint(b, uint64(x), 10), nil
	case uint64:
		return strconv.AppendUint(b, x, 10), nil
	case []any:
		return appendList(b, len(x), func(b []byte, i int) ([]byte, error) { return Append(b, x[i]) })
	case []string:
		return appendList(b, len(x), func(b []byte, i int) ([]byte, error) { return AppendString(b, x[i]), nil })
	case []float32:
		return appendList(b, len(x), func(b []byte, i int) ([]byte, error) { return Append(b, x[i]) })
	case []float64:
		return appendList(b, len(x), func(b []byte, i int) ([]byte, error) { return Append(b, x[i]) })
	case []int32:
		return appendList(b, len(x), func(b []byte, i int) ([]byte, error) { return Append(b, x[i]) })
	case []int64:
		return appendList(b, len(x), func(b []byte, i int) ([]byte, error) { return Append(b, x[i]) })
	case []uint32:
		return appendList(b, len(x), func(b []byte, i int) ([]byte, error) { return Append(b, x[i]) })
	case []uint64:
		return appendList(b, len(x), func(b []byte, i int) ([]byte, error) { return Append(b, x[i]) })
	case []int:
		return appendList(b, len(x), func(b []byte, i int) ([]byte, error) { return Append(b, x[i]) })
	case []bool:
		return appendList(b, len(x), func(b []byte, i int) ([]byte, error) { return Append(b, x[i]) })
	}
	return b, fmt.Errorf("pyjson: cannot encode %T", v)
}

func appendList(b []byte, n int, item func([]byte, int) ([]byte, error)) ([]byte, error) {
	b = append(b, '[')
	for i := 0; i < n; i++ {
		if i > 0 {
			b = append(b, ", "...)
		}
		var err error
		if b, err = item(b, i); err != nil {
			return b, err
		}
	}
	return append(b, ']'), nil
}

// AppendString appends s quoted with ensure_ascii escaping: everything outside
// printable ASCII (0x20-0x7e) becomes \uXXXX in lower-case hex, code points
// above the BMP become a UTF-16 surrogate pair, and \n \r \t \b \f \" \\ use
// their short escapes. Invalid UTF-8 bytes are written as U+FFFD, since a
// Python str cannot hold them.
func AppendString(b []byte, s string) []byte {
	const hexdig = "0123456789abcdef"
	u4 := func(b []byte, r rune) []byte {
		return append(b, '\\', 'u', hexdig[r>>12&0xf], hexdig[r>>8&0xf], hexdig[r>>4&0xf], hexdig[r&0xf])
	}
	b = append(b, '"')
	for _, r := range s {
		switch {
		case r == '"':
			b = append(b, '\\', '"')
		case r == '\\':
			b = append(b, '\\', '\\')
		case r == '\n':
			b = append(b, '\\', 'n')
		case r == '\r':
			b = append(b, '\\', 'r')
		case r == '\t':
			b = append(b, '\\', 't')
		case r == '\b':
			b = append(b, '\\', 'b')
		case r == '\f':
			b = append(b, '\\', 'f')
		case r >= 0x20 && r <= 0x7e:
			b = append(b, byte(r))
		case r > 0xffff:
			r -= 0x10000
			b = u4(b, 0xd800+(r>>10))
			b = u4(b, 0xdc00+(r&0x3ff))
		default:
			if r == utf8.RuneError {
				r = 0xfffd
			}
			b = u4(b, r)
		}
	}
	return append(b, '"')
}

// FloatRepr is Python's repr of a float64 (and so json.dumps of it): the
// shortest digits that round-trip, in fixed notation with at least one
// fractional digit when the decimal exponent is in [-4, 16), otherwise
// d.ddde±XX with at least two exponent digits. NaN and the infinities are
// written as json.dumps writes them.
func FloatRepr(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	e := strconv.FormatFloat(f, 'e', -1, 64) // e.g. "-1.25e-05": shortest digits
	exp, err := strconv.Atoi(e[strings.IndexByte(e, 'e')+1:])
	if err != nil { // cannot happen for a finite float
		return e
	}
	// Python's decpt is exp+1; it switches to exponent form when
	// decpt <= -4 or decpt > 16.
	if exp < -4 || exp >= 16 {
		return e
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.ContainsRune(s, '.') {
		s += ".0"
	}
	return s
}
