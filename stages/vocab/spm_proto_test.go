package vocab

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
)

// A minimal protobuf encoder for building test models.
func pbVarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }
func pbKey(b []byte, num, wt int) []byte { return pbVarint(b, uint64(num<<3|wt)) }
func pbBytes(b []byte, num int, p []byte) []byte {
	return append(pbVarint(pbKey(b, num, 2), uint64(len(p))), p...)
}
func pbPiece(text string, score float32, typ int) []byte {
	p := pbBytes(nil, 1, []byte(text))
	p = binary.LittleEndian.AppendUint32(pbKey(p, 2, 5), math.Float32bits(score))
	if typ != 0 {
		p = pbVarint(pbKey(p, 3, 0), uint64(typ))
	}
	return p
}

func TestParseSentencePiece(t *testing.T) {
	var model []byte
	model = pbBytes(model, 1, pbPiece("<unk>", 0, 2))
	model = pbBytes(model, 1, pbPiece("▁the", -1.5, 0)) // no type: NORMAL
	model = pbBytes(model, 1, pbPiece("<0x0A>", 0, 6))
	trainer := pbVarint(pbKey(nil, 3, 0), 2)                // model_type BPE
	trainer = pbVarint(pbKey(trainer, 4, 0), 3)             // vocab_size
	trainer = pbVarint(pbKey(trainer, 35, 0), 1)            // byte_fallback
	trainer = pbBytes(trainer, 2, []byte("ignored string")) // input_format
	model = pbBytes(model, 2, trainer)
	model = pbBytes(model, 3, []byte{0x0a, 0x03, 'n', 'm', 't'}) // normalizer spec: skipped
	model = binary.LittleEndian.AppendUint64(pbKey(model, 9, 1), 7)

	got, err := ParseSentencePiece(bytes.NewReader(model), int64(len(model)), "t.model")
	if err != nil {
		t.Fatal(err)
	}
	want := &SPModel{
		Pieces:    []Piece{{"<unk>", 0, PieceUnknown}, {"▁the", -1.5, PieceNormal}, {"<0x0A>", 0, PieceByte}},
		ModelType: 2, VocabSize: 3, ByteFallback: true,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestParseSentencePieceHostile(t *testing.T) {
	good := pbBytes(nil, 1, pbPiece("a", 0, 1))
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "no pieces"},
		{"truncated length", good[:len(good)-1], "runs past the end"},
		{"huge length", pbVarint(pbKey(nil, 1, 2), 1<<62), "runs past the end"},
		{"bad varint", []byte{0x80, 0x80, 0x80}, "bad field key varint"},
		{"field zero", []byte{0x00, 0x01}, "field number 0"},
		{"group", pbKey(nil, 5, 3), "unsupported wire type 3"},
		{"truncated fixed32", pbBytes(nil, 1, []byte{0x15, 0x00}), "truncated fixed32"},
		{"truncated fixed64", []byte{0x09, 0x01}, "truncated fixed64"},
		{"bad piece type", pbBytes(nil, 1, pbPiece("a", 0, 9)), "piece type 9"},
		{"piece text wire type", pbBytes(nil, 1, pbVarint(pbKey(nil, 1, 0), 5)), "field 1 has wire type 0"},
		{"invalid utf8", pbBytes(nil, 1, pbPiece("\xff", 0, 1)), "not UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSentencePiece(bytes.NewReader(tt.data), int64(len(tt.data)), "bad.model")
			if err == nil || !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "bad.model: ") {
				t.Errorf("err = %v; want ErrFormat naming bad.model and %q", err, tt.want)
			}
		})
	}
	if _, err := ParseSentencePiece(bytes.NewReader(nil), -1, "neg.model"); err == nil {
		t.Error("negative size accepted")
	}
	// A size larger than what the reader holds is a read error, not a panic.
	if _, err := ParseSentencePiece(bytes.NewReader(good), int64(len(good))+10, "short.model"); err == nil {
		t.Error("short reader accepted")
	}
}

func FuzzParseSentencePiece(f *testing.F) {
	f.Add(pbBytes(nil, 1, pbPiece("a", 1, 3)))
	if dir, ok := corpus.Find(); ok {
		for _, m := range []string{"tiny-llama-spm", "tiny-smolvlm"} {
			if b, err := os.ReadFile(filepath.Join(dir, m, "tokenizer.model")); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseSentencePiece(bytes.NewReader(data), int64(len(data)), "fuzz.model")
		if err == nil && len(m.Pieces) == 0 {
			t.Fatal("no error and no pieces")
		}
	})
}

// eofReader returns io.EOF together with a complete read, as io.ReaderAt allows.
type eofReader struct{ b []byte }

func (r eofReader) ReadAt(p []byte, off int64) (int, error) {
	n := copy(p, r.b[off:])
	return n, io.EOF
}

func TestParseSentencePieceEOFWithData(t *testing.T) {
	b := pbBytes(nil, 1, pbPiece("a", 0, 1))
	if _, err := ParseSentencePiece(eofReader{b}, int64(len(b)), "eof.model"); err != nil {
		t.Errorf("complete read with io.EOF: %v", err)
	}
}
