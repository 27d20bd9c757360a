package gpu

import "testing"

// FuzzParseSpec: any string is accepted as a spec that prints back to
// itself and parses to the same, or refused with an error; never a panic.
func FuzzParseSpec(f *testing.F) {
	for _, s := range []string{"auto", "cpu", "cuda", "cuda:0", "cuda:0,1", "cuda:", "cuda:01", "cuda:1023", "cuda:1024", "cuda:+1", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseSpec(in)
		if err != nil {
			return
		}
		again, err := ParseSpec(s.String())
		if err != nil || again.String() != s.String() {
			t.Fatalf("%q parsed as %q, which parses as %q, %v", in, s, again, err)
		}
		for _, o := range s.Ordinals {
			if o < 0 || o > 1023 {
				t.Fatalf("%q: ordinal %d", in, o)
			}
		}
	})
}
