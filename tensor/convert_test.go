package tensor

import (
	"encoding/binary"
	"math"
	"testing"
)

// TestConvertBF16 checks the BF16 decode fast path against the definition
// (the 16 bits are the high half of a float32), for row lengths around the
// unrolled and the AVX2 widths and every class of value, over several
// chunks per call.
func TestConvertBF16(t *testing.T) {
	patterns := []uint16{0x0000, 0x8000, 0x3f80, 0xbf80, 0x7f80, 0xff80, 0x7fc1, 0x0001, 0x7f7f, 0x4049}
	for _, rowLen := range []int64{1, 3, 4, 5, 8, 9, 15, 16, 17, 31, 32, 33, 2051} {
		const rows = 3
		src := make([]byte, 2*rowLen*rows)
		want := make([]uint32, rowLen*rows)
		for i := range want {
			b := patterns[i%len(patterns)] ^ uint16(i*0x1357)&0x00ff
			binary.LittleEndian.PutUint16(src[2*i:], b)
			want[i] = uint32(b) << 16
		}
		c, err := Convert(&Bytes{Data: src, RowBytes: 2 * rowLen, What: "test"}, BF16, F32, rowLen)
		if err != nil {
			t.Fatal(err)
		}
		for _, span := range [][2]int64{{0, rows}, {1, 2}, {2, 1}} {
			dst := make([]byte, 4*rowLen*span[1])
			if err := c.ReadRows(span[0], span[1], dst); err != nil {
				t.Fatal(err)
			}
			for i := range int(rowLen * span[1]) {
				got := binary.LittleEndian.Uint32(dst[4*i:])
				if w := want[int(span[0]*rowLen)+i]; got != w {
					t.Fatalf("rowLen %d rows %v: element %d = %#08x (%v), want %#08x", rowLen, span, i, got, math.Float32frombits(got), w)
				}
			}
		}
	}
}

// TestConvertShortSource checks that a failing source fails the conversion.
func TestConvertShortSource(t *testing.T) {
	c, err := Convert(&Bytes{Data: make([]byte, 8), RowBytes: 8, What: "short"}, BF16, F32, 4)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.ReadRows(0, 2, make([]byte, 32)); err == nil {
		t.Fatal("reading past the source: no error")
	}
}
