package vocab

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"unicode/utf8"
)

// SentencePiece piece types, numbered as in sentencepiece_model.proto.
// A piece with no type field is NORMAL (the proto2 default).
const (
	PieceNormal      = 1
	PieceUnknown     = 2
	PieceControl     = 3
	PieceUserDefined = 4
	PieceUnused      = 5
	PieceByte        = 6
)

// Piece is one vocabulary entry of a SentencePiece model.
type Piece struct {
	Text  string
	Score float32
	Type  int32
}

// SPModel is the part of a SentencePiece ModelProto the converter reads:
// the pieces in id order, plus the trainer settings worth reporting.
type SPModel struct {
	Pieces       []Piece
	ModelType    int32 // TrainerSpec.model_type: 1 unigram, 2 bpe, 3 word, 4 char
	VocabSize    int32 // TrainerSpec.vocab_size as trained (informational)
	ByteFallback bool  // TrainerSpec.byte_fallback
}

// ErrFormat is wrapped by every SentencePiece decoding error.
var ErrFormat = errors.New("invalid SentencePiece model")

// maxSPMSize bounds what ParseSentencePiece reads into memory; real models
// are a few MiB.
const maxSPMSize = 1 << 30

// ParseSentencePiece decodes a tokenizer.model (a serialized ModelProto)
// read from r, of size bytes; name is used in error messages.
func ParseSentencePiece(r io.ReaderAt, size int64, name string) (*SPModel, error) {
	if size < 0 || size > maxSPMSize {
		return nil, fmt.Errorf("%s: %w: size %d outside [0, %d]", name, ErrFormat, size, maxSPMSize)
	}
	buf := make([]byte, size)
	// io.ReaderAt may report EOF along with a complete read at the end.
	if n, err := r.ReadAt(buf, 0); n < len(buf) || err != nil && !errors.Is(err, io.EOF) {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("%s: reading %d bytes: %w", name, size, err)
	}
	m := &SPModel{}
	err := walkFields(buf, 0, func(num int, wt int, v uint64, sub []byte, off int) error {
		switch {
		case num == 1 && wt == wireBytes:
			p, err := parsePiece(sub, off)
			if err != nil {
				return fmt.Errorf("piece %d: %w", len(m.Pieces), err)
			}
			m.Pieces = append(m.Pieces, p)
		case num == 2 && wt == wireBytes:
			return parseTrainerSpec(sub, off, m)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(m.Pieces) == 0 {
		return nil, fmt.Errorf("%s: %w: no pieces", name, ErrFormat)
	}
	return m, nil
}

// parsePiece decodes a SentencePiece message {piece=1, score=2, type=3}.
func parsePiece(b []byte, base int) (Piece, error) {
	p := Piece{Type: PieceNormal}
	err := walkFields(b, base, func(num int, wt int, v uint64, sub []byte, off int) error {
		switch {
		case num == 1 && wt == wireBytes:
			if !utf8.Valid(sub) {
				return fmt.Errorf("%w: offset %d: piece text is not UTF-8", ErrFormat, off)
			}
			p.Text = string(sub)
		case num == 2 && wt == wireFixed32:
			p.Score = math.Float32frombits(uint32(v))
		case num == 3 && wt == wireVarint:
			if v < PieceNormal || v > PieceByte {
				return fmt.Errorf("%w: offset %d: piece type %d outside 1..6", ErrFormat, off, v)
			}
			p.Type = int32(v)
		case num <= 3:
			return fmt.Errorf("%w: offset %d: field %d has wire type %d", ErrFormat, off, num, wt)
		}
		return nil
	})
	return p, err
}

// parseTrainerSpec picks model_type (3), vocab_size (4) and byte_fallback (35).
func parseTrainerSpec(b []byte, base int, m *SPModel) error {
	return walkFields(b, base, func(num int, wt int, v uint64, sub []byte, off int) error {
		if wt != wireVarint {
			return nil
		}
		switch num {
		case 3:
			m.ModelType = int32(v)
		case 4:
			m.VocabSize = int32(v)
		case 35:
			m.ByteFallback = v != 0
		}
		return nil
	})
}

// Protobuf wire types.
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

// walkFields calls fn for each field of the message in b: v holds varint and
// fixed values, sub the payload of length-delimited fields; off is the
// field's offset in the file (base is b's). Groups are refused.
func walkFields(b []byte, base int, fn func(num, wt int, v uint64, sub []byte, off int) error) error {
	for i := 0; i < len(b); {
		off := base + i
		key, n := binary.Uvarint(b[i:])
		if n <= 0 {
			return fmt.Errorf("%w: offset %d: bad field key varint", ErrFormat, off)
		}
		i += n
		num, wt := key>>3, int(key&7)
		if num == 0 || num > 1<<29-1 {
			return fmt.Errorf("%w: offset %d: field number %d", ErrFormat, off, num)
		}
		var v uint64
		var sub []byte
		switch wt {
		case wireVarint:
			if v, n = binary.Uvarint(b[i:]); n <= 0 {
				return fmt.Errorf("%w: offset %d: bad varint", ErrFormat, base+i)
			}
			i += n
		case wireFixed64:
			if len(b)-i < 8 {
				return fmt.Errorf("%w: offset %d: truncated fixed64", ErrFormat, base+i)
			}
			v = binary.LittleEndian.Uint64(b[i:])
			i += 8
		case wireFixed32:
			if len(b)-i < 4 {
				return fmt.Errorf("%w: offset %d: truncated fixed32", ErrFormat, base+i)
			}
			v = uint64(binary.LittleEndian.Uint32(b[i:]))
			i += 4
		case wireBytes:
			l, n := binary.Uvarint(b[i:])
			if n <= 0 {
				return fmt.Errorf("%w: offset %d: bad length varint", ErrFormat, base+i)
			}
			i += n
			if l > uint64(len(b)-i) {
				return fmt.Errorf("%w: offset %d: length %d runs past the end of its message (%d bytes left)", ErrFormat, base+i, l, len(b)-i)
			}
			sub = b[i : i+int(l)]
			i += int(l)
		default:
			return fmt.Errorf("%w: offset %d: unsupported wire type %d", ErrFormat, off, wt)
		}
		if wt == wireBytes {
			off = base + i - len(sub) // payload offset, for nested messages
		}
		if err := fn(int(num), wt, v, sub, off); err != nil {
			return err
		}
	}
	return nil
}
