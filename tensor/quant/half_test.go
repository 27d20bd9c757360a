package quant

import (
	"math"
	"testing"

	"github.com/x448/float16"
)

// TestFP16MatchesFloat16 compares the half rounding against the float16
// package's (round to nearest even) over a sweep of float32 bit patterns,
// densely around the subnormal and overflow edges.
func TestFP16MatchesFloat16(t *testing.T) {
	check := func(b uint32) {
		f := math.Float32frombits(b)
		got := fp16(f)
		if f != f {
			if got&0x7fff != 0x7e00 || got>>15 != uint16(b>>31) {
				t.Fatalf("fp16(NaN %#x) = %#04x", b, got)
			}
			return
		}
		if want := float16.Fromfloat32(f).Bits(); got != want {
			t.Fatalf("fp16(%g = %#x) = %#04x, want %#04x", f, b, got, want)
		}
	}
	for b := uint64(0); b < 1<<32; b += 997 {
		check(uint32(b))
	}
	for _, base := range []uint32{0x33000000, 0x38800000, 0x477fe000, 0x47800000, 0} {
		for d := uint32(0); d < 1<<16; d++ {
			check(base + d)
			check(base - d)
			check(base + d | 0x80000000)
		}
	}
}

func TestFP16To32(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		got := fp16to32(uint16(h))
		want := float16.Frombits(uint16(h)).Float32()
		if got != got && want != want {
			continue
		}
		if math.Float32bits(got) != math.Float32bits(want) {
			t.Fatalf("fp16to32(%#04x) = %g, want %g", h, got, want)
		}
	}
}

// TestNearestInt checks the magic-number rounding against math.RoundToEven in
// its valid range, and its wrap-around outside it against the arithmetic the
// trick performs.
func TestNearestInt(t *testing.T) {
	for _, tc := range []struct {
		in   float32
		want int32
	}{
		{0.5, 0}, {1.5, 2}, {2.5, 2}, {-0.5, 0}, {-1.5, -2}, {-2.5, -2}, {0.49999997, 0},
		{4194303, 4194303}, {-4194303, -4194303}, {3.7, 4}, {-3.7, -4},
		// 2^22 + 2^23 + 1.5*2^23 = 2^24 + 2^23 (exact); low bits 0x400000 - 0x400000 = 0.
		{float32(1 << 22), -4194304},
		{float32(math.Inf(1)), -4194304},
	} {
		if got := nearestInt(tc.in); got != tc.want {
			t.Errorf("nearestInt(%v) = %d, want %d", tc.in, got, tc.want)
		}
	}
	for i := -100000; i <= 100000; i++ {
		f := float32(i) / 64
		if got, want := nearestInt(f), int32(math.RoundToEven(float64(f))); got != want {
			t.Fatalf("nearestInt(%v) = %d, want %d", f, got, want)
		}
	}
}
