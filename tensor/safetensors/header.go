package safetensors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// metadataKey is the reserved header key holding the string->string metadata.
const metadataKey = "__metadata__"

// FormatError reports a malformed file the way debug/elf does: which file,
// where in it, which header key, and what was expected.
type FormatError struct {
	File   string
	Offset int64  // absolute byte offset in the file; -1 when no single place is to blame
	Key    string // tensor name or header key; "" when none
	Msg    string
}

func (e *FormatError) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Offset >= 0 {
		fmt.Fprintf(&b, ": offset %d", e.Offset)
	}
	if e.Key != "" {
		fmt.Fprintf(&b, ": key %q", e.Key)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// entry is one tensor of the header, as written, before validation.
type entry struct {
	name       string
	at         int64 // absolute offset of the entry's value, for messages
	dtype      string
	shape      []int64
	begin, end int64
}

// jsonWalker walks a JSON document token by token. encoding/json's map
// decoding silently keeps the last of duplicate keys; a token walk sees every
// key, so a header naming one tensor twice is caught instead of shadowed.
type jsonWalker struct {
	dec  *json.Decoder
	base int64 // absolute file offset of the document's first byte
	file string
}

func newWalker(doc []byte, base int64, file string) *jsonWalker {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	return &jsonWalker{dec: dec, base: base, file: file}
}

func (w *jsonWalker) pos() int64 { return w.base + w.dec.InputOffset() }

func (w *jsonWalker) errorf(key, format string, args ...any) error {
	return &FormatError{File: w.file, Offset: w.pos(), Key: key, Msg: fmt.Sprintf(format, args...)}
}

// syntax turns a decoder error into a FormatError at the offending byte.
func (w *jsonWalker) syntax(key string, err error) error {
	var se *json.SyntaxError
	off := w.pos()
	if errors.As(err, &se) {
		off = w.base + se.Offset
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return &FormatError{File: w.file, Offset: off, Key: key, Msg: "invalid JSON: " + err.Error()}
}

func (w *jsonWalker) token(key string) (json.Token, error) {
	t, err := w.dec.Token()
	if err != nil {
		return nil, w.syntax(key, err)
	}
	return t, nil
}

func (w *jsonWalker) delim(key string, want json.Delim, what string) error {
	t, err := w.token(key)
	if err != nil {
		return err
	}
	if d, ok := t.(json.Delim); !ok || d != want {
		return w.errorf(key, "expected %s, found %s", what, describe(t))
	}
	return nil
}

func (w *jsonWalker) str(key, what string) (string, error) {
	t, err := w.token(key)
	if err != nil {
		return "", err
	}
	s, ok := t.(string)
	if !ok {
		return "", w.errorf(key, "expected %s as a string, found %s", what, describe(t))
	}
	return s, nil
}

// object walks the members of an object, calling member with each key once
// the key has been read; duplicate keys are errors.
func (w *jsonWalker) object(key, what string, member func(k string) error) error {
	if err := w.delim(key, '{', what+" (a JSON object)"); err != nil {
		return err
	}
	seen := map[string]bool{}
	for w.dec.More() {
		k, err := w.str(key, "object key")
		if err != nil {
			return err
		}
		if seen[k] {
			return w.errorf(k, "duplicate key in %s", what)
		}
		seen[k] = true
		if err := member(k); err != nil {
			return err
		}
	}
	return w.delim(key, '}', "end of "+what)
}

// ints reads an array of non-negative integers (safetensors' usize), of
// length want unless want < 0.
func (w *jsonWalker) ints(key, what string, want int) ([]int64, error) {
	if err := w.delim(key, '[', what+" (a JSON array)"); err != nil {
		return nil, err
	}
	out := []int64{}
	for w.dec.More() {
		t, err := w.token(key)
		if err != nil {
			return nil, err
		}
		num, ok := t.(json.Number)
		if !ok {
			return nil, w.errorf(key, "%s: expected an integer, found %s", what, describe(t))
		}
		v, err := strconv.ParseInt(string(num), 10, 64)
		if err != nil || v < 0 {
			return nil, w.errorf(key, "%s: expected a non-negative 64-bit integer, found %s", what, num)
		}
		out = append(out, v)
	}
	if err := w.delim(key, ']', "end of "+what); err != nil {
		return nil, err
	}
	if want >= 0 && len(out) != want {
		return nil, w.errorf(key, "%s: expected %d integers, found %d", what, want, len(out))
	}
	return out, nil
}

// skip consumes one value of any kind.
func (w *jsonWalker) skip(key string) error {
	var raw json.RawMessage
	if err := w.dec.Decode(&raw); err != nil {
		return w.syntax(key, err)
	}
	return nil
}

// end checks that nothing but whitespace follows the document.
func (w *jsonWalker) end() error {
	t, err := w.dec.Token()
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return w.syntax("", err)
	}
	return w.errorf("", "expected only whitespace after the JSON header, found %s", describe(t))
}

func describe(t json.Token) string {
	switch v := t.(type) {
	case nil:
		return "null"
	case json.Delim:
		return fmt.Sprintf("%q", string(v))
	case string:
		return fmt.Sprintf("string %q", v)
	case json.Number:
		return "number " + string(v)
	case bool:
		return fmt.Sprintf("%v", v)
	}
	return fmt.Sprintf("%v", t)
}

// parseHeader walks the JSON header: the metadata (nil when absent) and the
// tensor entries in the order the header lists them.
func parseHeader(doc []byte, base int64, file string) (map[string]string, []entry, error) {
	w := newWalker(doc, base, file)
	var meta map[string]string
	var entries []entry
	err := w.object("", "header", func(k string) error {
		if k == metadataKey {
			m, err := w.metadata()
			meta = m
			return err
		}
		e, err := w.tensorInfo(k)
		entries = append(entries, e)
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	if err := w.end(); err != nil {
		return nil, nil, err
	}
	return meta, entries, nil
}

func (w *jsonWalker) metadata() (map[string]string, error) {
	m := map[string]string{}
	err := w.object(metadataKey, metadataKey, func(k string) error {
		v, err := w.str(k, metadataKey+" value")
		m[k] = v
		return err
	})
	return m, err
}

// tensorInfo reads {"dtype":..., "shape":[...], "data_offsets":[b,e]}.
// Unknown members are skipped, as the safetensors crate does.
func (w *jsonWalker) tensorInfo(name string) (entry, error) {
	e := entry{name: name, at: w.pos()}
	var have struct{ dtype, shape, offsets bool }
	err := w.object(name, "tensor info", func(k string) error {
		var err error
		switch k {
		case "dtype":
			e.dtype, err = w.str(name, "dtype")
			have.dtype = true
		case "shape":
			e.shape, err = w.ints(name, "shape", -1)
			have.shape = true
		case "data_offsets":
			var offs []int64
			offs, err = w.ints(name, "data_offsets", 2)
			if err == nil {
				e.begin, e.end = offs[0], offs[1]
			}
			have.offsets = true
		default:
			err = w.skip(name)
		}
		return err
	})
	if err != nil {
		return e, err
	}
	for _, m := range []struct {
		ok   bool
		name string
	}{{have.dtype, "dtype"}, {have.shape, "shape"}, {have.offsets, "data_offsets"}} {
		if !m.ok {
			return e, &FormatError{File: w.file, Offset: e.at, Key: name, Msg: "tensor info lacks " + m.name}
		}
	}
	return e, nil
}
