package quant

import (
	"math"
	"testing"
)

// TestRoundAway compares roundAway with math.Round (C's roundf) on every
// half-integer in Q8_0's range, the float32 neighbours of each, and a sweep
// of other values.
func TestRoundAway(t *testing.T) {
	var xs []float32
	for k := -130; k <= 130; k++ {
		for _, h := range []float32{0, 0.5} {
			v := float32(k) + h
			xs = append(xs, v, math.Nextafter32(v, 200), math.Nextafter32(v, -200))
		}
	}
	for v := float32(-140); v < 140; v += 0.0137 {
		xs = append(xs, v)
	}
	xs = append(xs, 0.49999997, -0.49999997, 8388607.5, -8388607.5, float32(math.Copysign(0, -1)))
	for _, v := range xs {
		if got, want := roundAway(v), int32(math.Round(float64(v))); got != want {
			t.Errorf("roundAway(%v) = %d, want %d", v, got, want)
		}
	}
}
