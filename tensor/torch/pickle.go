package torch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
)

// Limits that keep a hostile pickle from exhausting memory. A real state dict
// of a large model uses a few hundred thousand objects and a nesting depth
// below ten.
const (
	maxStack   = 1 << 16 // values on the stack (pickle batches items by 1000)
	maxMarks   = 1 << 12 // open MARKs, i.e. container nesting while building
	maxMemo    = 1 << 20 // memo entries
	maxObjects = 1 << 22 // element slots allocated over the whole run
	maxLine    = 1 << 10 // text-opcode arguments (GLOBAL names, PUT/GET indexes)
)

// pickleError is a failure at a byte offset of the pickle stream.
type pickleError struct {
	off int
	err error
}

func (e *pickleError) Error() string { return fmt.Sprintf("offset %d: %v", e.off, e.err) }
func (e *pickleError) Unwrap() error { return e.err }

// machine is a pickle VM for protocols 0-5 that builds only the values of
// values.go. It never calls Python: the few whitelisted callables are
// interpreted here, and every other global is refused when it is named.
type machine struct {
	data    []byte
	pos     int
	stack   []any
	marks   []int
	memo    map[uint32]any
	objects int
	// persistent resolves a BINPERSID/PERSID id (torch's storage tuples).
	persistent func(pid any) (any, error)
}

// unpickle runs data to its STOP and returns the value left on top.
func unpickle(data []byte, persistent func(any) (any, error)) (any, error) {
	m := &machine{data: data, memo: map[uint32]any{}, persistent: persistent}
	for {
		start := m.pos
		if m.pos >= len(m.data) {
			return nil, &pickleError{start, errors.New("stream ends before STOP")}
		}
		op := m.data[m.pos]
		m.pos++
		done, err := m.step(op)
		if err != nil {
			return nil, &pickleError{start, err}
		}
		if done {
			v, err := m.pop()
			if err != nil {
				return nil, &pickleError{start, err}
			}
			return v, nil
		}
	}
}

// count charges n element slots against maxObjects.
func (m *machine) count(n int) error {
	if n < 0 || n > maxObjects-m.objects {
		return fmt.Errorf("more than %d objects", maxObjects)
	}
	m.objects += n
	return nil
}

func (m *machine) push(v any) error {
	if len(m.stack) >= maxStack {
		return fmt.Errorf("stack deeper than %d", maxStack)
	}
	m.stack = append(m.stack, v)
	return nil
}

func (m *machine) pop() (any, error) {
	if len(m.stack) == 0 || len(m.marks) > 0 && len(m.stack) <= m.marks[len(m.marks)-1] {
		return nil, errors.New("stack underflow")
	}
	v := m.stack[len(m.stack)-1]
	m.stack = m.stack[:len(m.stack)-1]
	return v, nil
}

func (m *machine) top() (any, error) {
	if len(m.stack) == 0 || len(m.marks) > 0 && len(m.stack) <= m.marks[len(m.marks)-1] {
		return nil, errors.New("stack underflow")
	}
	return m.stack[len(m.stack)-1], nil
}

func (m *machine) mark() error {
	if len(m.marks) >= maxMarks {
		return fmt.Errorf("more than %d nested MARKs", maxMarks)
	}
	m.marks = append(m.marks, len(m.stack))
	return nil
}

// popMark returns the values above the innermost MARK and removes them.
func (m *machine) popMark() ([]any, error) {
	if len(m.marks) == 0 {
		return nil, errors.New("no MARK on the stack")
	}
	k := m.marks[len(m.marks)-1]
	m.marks = m.marks[:len(m.marks)-1]
	items := make([]any, len(m.stack)-k)
	copy(items, m.stack[k:])
	m.stack = m.stack[:k]
	return items, m.count(len(items))
}

// take consumes n raw bytes, checking n against what is left first.
func (m *machine) take(n uint64) ([]byte, error) {
	if left := uint64(len(m.data) - m.pos); n > left {
		return nil, fmt.Errorf("length %d exceeds the %d bytes left", n, left)
	}
	b := m.data[m.pos : m.pos+int(n)]
	m.pos += int(n)
	return b, nil
}

// sized reads a length with size, then that many bytes: a length-prefixed
// argument.
func (m *machine) sized(size func() (uint64, error)) ([]byte, error) {
	n, err := size()
	if err != nil {
		return nil, err
	}
	return m.take(n)
}

func (m *machine) u8() (uint64, error) {
	b, err := m.take(1)
	if err != nil {
		return 0, err
	}
	return uint64(b[0]), nil
}

func (m *machine) u16() (uint64, error) {
	b, err := m.take(2)
	if err != nil {
		return 0, err
	}
	return uint64(binary.LittleEndian.Uint16(b)), nil
}

func (m *machine) u32() (uint64, error) {
	b, err := m.take(4)
	if err != nil {
		return 0, err
	}
	return uint64(binary.LittleEndian.Uint32(b)), nil
}

func (m *machine) u64() (uint64, error) {
	b, err := m.take(8)
	if err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b), nil
}

// line reads a newline-terminated argument of a text opcode.
func (m *machine) line() (string, error) {
	rest := m.data[m.pos:]
	for i, c := range rest {
		if c == '\n' {
			m.pos += i + 1
			return string(rest[:i]), nil
		}
		if i >= maxLine {
			break
		}
	}
	return "", fmt.Errorf("no newline within %d bytes", maxLine)
}

// text reads a length-prefixed string or bytes argument.
func (m *machine) text(size func() (uint64, error), asString bool) error {
	b, err := m.sized(size)
	if err != nil {
		return err
	}
	if err := m.count(1 + len(b)/64); err != nil {
		return err
	}
	if !asString {
		return m.push(append([]byte(nil), b...))
	}
	if !utf8.Valid(b) {
		return fmt.Errorf("string of %d bytes is not valid UTF-8", len(b))
	}
	return m.push(string(b))
}

// long decodes a little-endian two's-complement integer of up to 8 bytes.
func long(b []byte) (int64, error) {
	if len(b) == 0 {
		return 0, nil
	}
	if len(b) > 8 {
		return 0, fmt.Errorf("integer of %d bytes does not fit in 64 bits", len(b))
	}
	var u uint64
	for i := len(b) - 1; i >= 0; i-- {
		u = u<<8 | uint64(b[i])
	}
	if n := uint(len(b)); n < 8 && b[n-1]&0x80 != 0 {
		u |= math.MaxUint64 << (8 * n) // sign-extend
	}
	return int64(u), nil
}
