package torch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// opcode is one pickle instruction: its name for messages and its handler.
type opcode struct {
	name string
	run  func(m *machine) error
}

const opStop = '.'

// opcodes maps every opcode byte the machine knows; a zero entry is unknown.
var opcodes [256]opcode

func init() {
	ops := map[byte]opcode{
		// scalars
		'N':  {"NONE", func(m *machine) error { return m.push(nil) }},
		0x88: {"NEWTRUE", func(m *machine) error { return m.push(true) }},
		0x89: {"NEWFALSE", func(m *machine) error { return m.push(false) }},
		'K':  {"BININT1", func(m *machine) error { return m.pushUint(m.u8) }},
		'M':  {"BININT2", func(m *machine) error { return m.pushUint(m.u16) }},
		'J':  {"BININT", (*machine).binint},
		0x8a: {"LONG1", func(m *machine) error { return m.long(m.u8) }},
		0x8b: {"LONG4", func(m *machine) error { return m.long(m.u32) }},
		'I':  {"INT", (*machine).textInt},
		'L':  {"LONG", (*machine).textInt},
		'F':  {"FLOAT", (*machine).textFloat},
		'G':  {"BINFLOAT", (*machine).binfloat},
		'X':  {"BINUNICODE", func(m *machine) error { return m.text(m.u32, true) }},
		0x8c: {"SHORT_BINUNICODE", func(m *machine) error { return m.text(m.u8, true) }},
		0x8d: {"BINUNICODE8", func(m *machine) error { return m.text(m.u64, true) }},
		'T':  {"BINSTRING", func(m *machine) error { return m.text(m.u32, true) }},
		'U':  {"SHORT_BINSTRING", func(m *machine) error { return m.text(m.u8, true) }},
		'B':  {"BINBYTES", func(m *machine) error { return m.text(m.u32, false) }},
		'C':  {"SHORT_BINBYTES", func(m *machine) error { return m.text(m.u8, false) }},
		0x8e: {"BINBYTES8", func(m *machine) error { return m.text(m.u64, false) }},
		0x96: {"BYTEARRAY8", func(m *machine) error { return m.text(m.u64, false) }},
		// stack and framing
		'(':  {"MARK", (*machine).mark},
		'0':  {"POP", func(m *machine) error { _, err := m.pop(); return err }},
		'1':  {"POP_MARK", func(m *machine) error { _, err := m.popMark(); return err }},
		'2':  {"DUP", (*machine).dup},
		0x80: {"PROTO", (*machine).proto},
		0x95: {"FRAME", func(m *machine) error { _, err := m.u64(); return err }},
		// memo
		'p':  {"PUT", func(m *machine) error { return m.put(m.textIndex) }},
		'q':  {"BINPUT", func(m *machine) error { return m.put(m.u8) }},
		'r':  {"LONG_BINPUT", func(m *machine) error { return m.put(m.u32) }},
		0x94: {"MEMOIZE", func(m *machine) error { return m.put(m.memoLen) }},
		'g':  {"GET", func(m *machine) error { return m.get(m.textIndex) }},
		'h':  {"BINGET", func(m *machine) error { return m.get(m.u8) }},
		'j':  {"LONG_BINGET", func(m *machine) error { return m.get(m.u32) }},
		// containers
		')':  {"EMPTY_TUPLE", func(m *machine) error { return m.push(tuple{}) }},
		't':  {"TUPLE", (*machine).tupleMark},
		0x85: {"TUPLE1", func(m *machine) error { return m.tupleN(1) }},
		0x86: {"TUPLE2", func(m *machine) error { return m.tupleN(2) }},
		0x87: {"TUPLE3", func(m *machine) error { return m.tupleN(3) }},
		']':  {"EMPTY_LIST", func(m *machine) error { return m.pushNew(&list{}) }},
		'l':  {"LIST", (*machine).listMark},
		'a':  {"APPEND", (*machine).append1},
		'e':  {"APPENDS", (*machine).appends},
		'}':  {"EMPTY_DICT", func(m *machine) error { return m.pushNew(&dict{}) }},
		'd':  {"DICT", (*machine).dictMark},
		's':  {"SETITEM", (*machine).setitem},
		'u':  {"SETITEMS", (*machine).setitems},
		0x8f: {"EMPTY_SET", func(m *machine) error { return m.pushNew(&list{}) }},
		0x90: {"ADDITEMS", (*machine).appends},
		0x91: {"FROZENSET", (*machine).tupleMark},
		// globals, calls and objects (calls.go)
		'c':  {"GLOBAL", (*machine).globalText},
		0x93: {"STACK_GLOBAL", (*machine).stackGlobal},
		'R':  {"REDUCE", (*machine).reduce},
		0x81: {"NEWOBJ", (*machine).newobj},
		0x92: {"NEWOBJ_EX", (*machine).newobjEx},
		'i':  {"INST", (*machine).inst},
		'o':  {"OBJ", (*machine).obj},
		'b':  {"BUILD", (*machine).build},
		'P':  {"PERSID", (*machine).persid},
		'Q':  {"BINPERSID", (*machine).binpersid},
	}
	for b, o := range ops {
		opcodes[b] = o
	}
	// Known but refused: they reach outside the stream (extension registry,
	// out-of-band buffers) or need Python's string-escape decoding, and
	// torch.save never writes them.
	for b, name := range map[byte]string{
		0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x97: "NEXT_BUFFER",
		0x98: "READONLY_BUFFER", 'S': "STRING", 'V': "UNICODE",
	} {
		opcodes[b] = opcode{name, func(*machine) error { return errors.New("opcode " + name + " is not supported") }}
	}
}

// step runs one opcode; done is true at STOP.
func (m *machine) step(op byte) (done bool, err error) {
	if op == opStop {
		return true, nil
	}
	o := opcodes[op]
	if o.run == nil {
		return false, fmt.Errorf("unknown opcode 0x%02x", op)
	}
	if err := o.run(m); err != nil {
		return false, fmt.Errorf("%s: %w", o.name, err)
	}
	return false, nil
}

func (m *machine) pushNew(v any) error {
	if err := m.count(1); err != nil {
		return err
	}
	return m.push(v)
}

func (m *machine) pushUint(read func() (uint64, error)) error {
	v, err := read()
	if err != nil {
		return err
	}
	return m.push(int64(v))
}

func (m *machine) binint() error {
	v, err := m.u32()
	if err != nil {
		return err
	}
	return m.push(int64(int32(uint32(v))))
}

func (m *machine) long(size func() (uint64, error)) error {
	b, err := m.sized(size)
	if err != nil {
		return err
	}
	v, err := long(b)
	if err != nil {
		return err
	}
	return m.push(v)
}

// textInt handles protocol 0's INT ("I01\n" is True) and LONG ("5L\n").
func (m *machine) textInt() error {
	s, err := m.line()
	if err != nil {
		return err
	}
	switch s {
	case "00":
		return m.push(false)
	case "01":
		return m.push(true)
	}
	v, err := strconv.ParseInt(strings.TrimSuffix(s, "L"), 10, 64)
	if err != nil {
		return fmt.Errorf("bad integer %q", truncate(s))
	}
	return m.push(v)
}

func (m *machine) textFloat() error {
	s, err := m.line()
	if err != nil {
		return err
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("bad float %q", truncate(s))
	}
	return m.push(v)
}

func (m *machine) binfloat() error {
	b, err := m.take(8)
	if err != nil {
		return err
	}
	return m.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
}

func (m *machine) dup() error {
	v, err := m.top()
	if err != nil {
		return err
	}
	return m.push(v)
}

func (m *machine) proto() error {
	v, err := m.u8()
	if err != nil {
		return err
	}
	if v > 5 {
		return fmt.Errorf("protocol %d is newer than 5", v)
	}
	return nil
}

// truncate shortens attacker-sized strings before they go into messages.
func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
