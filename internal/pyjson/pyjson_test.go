package pyjson

import (
	"math"
	"testing"
)

// Expected strings below were printed by CPython 3's json.dumps.

func TestFloatRepr(t *testing.T) {
	f32 := func(x float64) float64 { return float64(float32(x)) }
	tests := []struct {
		in   float64
		want string
	}{
		{0, "0.0"},
		{math.Copysign(0, -1), "-0.0"},
		{1, "1.0"},
		{-1.5, "-1.5"},
		{1e-05, "1e-05"},
		{0.0001, "0.0001"},
		{0.00012345, "0.00012345"},
		{1e15, "1000000000000000.0"},
		{1e16, "1e+16"},
		{1.5e16, "1.5e+16"},
		{123456789012345678.0, "1.2345678901234568e+17"},
		{1e300, "1e+300"},
		{5e-324, "5e-324"},
		{f32(0.1), "0.10000000149011612"},
		{f32(1e-5), "9.999999747378752e-06"},
		{-10000, "-10000.0"},
		{f32(3.4e38), "3.3999999521443642e+38"},
		{0.1, "0.1"},
		{1 << 53, "9007199254740992.0"},
		{1.0 / 3, "0.3333333333333333"},
		{math.NaN(), "NaN"},
		{math.Inf(1), "Infinity"},
		{math.Inf(-1), "-Infinity"},
		{123.456, "123.456"},
		{9.999e-05, "9.999e-05"},
	}
	for _, tt := range tests {
		if got := FloatRepr(tt.in); got != tt.want {
			t.Errorf("FloatRepr(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDumps(t *testing.T) {
	tests := []struct {
		in   any
		want string
	}{
		{"", `""`},
		{"a\"b\\c", `"a\"b\\c"`},
		{"\n\r\t\b\f\x00\x1f\x7f", `"\n\r\t\b\f\u0000\u001f\u007f"`},
		{"é€", `"\u00e9\u20ac"`},
		{"🦙x", `"\ud83e\udd99x"`},
		{"Ġ Ġ", `"\u0120 \u0120"`},
		{"▁the", `"\u2581the"`},
		{"<0x0A>", `"<0x0A>"`},
		{[]any{[]any{1}, []any{2}}, `[[1], [2]]`},
		{[]string{"a", "b"}, `["a", "b"]`},
		{[]any{true, nil, 3, -2.5}, `[true, null, 3, -2.5]`},
		{[]float32{0.1, -10000}, `[0.10000000149011612, -10000.0]`},
		{[]int32{}, `[]`},
	}
	for _, tt := range tests {
		got, err := Dumps(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("Dumps(%#v) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if _, err := Dumps(struct{}{}); err == nil {
		t.Error("Dumps(struct{}{}) succeeded; want an error")
	}
}

func TestDigest(t *testing.T) {
	const wantAB = "3554d2b8a1e34099"
	// sha256(b'["a", "b"]').hexdigest()[:16], computed with Python's hashlib.
	got, err := Digest([]string{"a", "b"})
	if err != nil || got != wantAB {
		t.Errorf("Digest = %q, %v; want %q", got, err, wantAB)
	}
}
