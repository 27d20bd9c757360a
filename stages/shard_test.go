package stages

import (
	"math/rand/v2"
	"testing"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// bruteBalance tries every placement of parts-1 cuts and returns the
// smallest largest part: the independent statement of what balance does.
func bruteBalance(w []int64, first, last int64, parts int) int64 {
	best := int64(-1)
	var rec func(start, part int, worst int64)
	rec = func(start, part int, worst int64) {
		if part == parts-1 {
			var c int64
			for _, x := range w[start:] {
				c += x
			}
			if parts == 1 {
				c += first
			}
			c += last
			if worst = max(worst, c); best < 0 || worst < best {
				best = worst
			}
			return
		}
		var c int64
		if part == 0 {
			c = first
		}
		for end := start + 1; end <= len(w)-(parts-1-part); end++ {
			c += w[end-1]
			rec(end, part+1, max(worst, c))
		}
	}
	rec(0, 0, 0)
	return best
}

func TestBalanceIsOptimal(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for trial := 0; trial < 300; trial++ {
		n := 1 + r.IntN(9)
		parts := 1 + r.IntN(n)
		w := make([]int64, n)
		for i := range w {
			w[i] = 1 + r.Int64N(100)
		}
		first, last := r.Int64N(150), r.Int64N(150)
		cuts := balance(w, first, last, parts)
		if len(cuts) != parts+1 || cuts[0] != 0 || cuts[parts] != n {
			t.Fatalf("cuts %v for %d blocks in %d parts", cuts, n, parts)
		}
		var worst int64
		for i := 0; i < parts; i++ {
			if cuts[i+1] <= cuts[i] {
				t.Fatalf("empty part in %v", cuts)
			}
			var c int64
			for _, x := range w[cuts[i]:cuts[i+1]] {
				c += x
			}
			if i == 0 {
				c += first
			}
			if i == parts-1 {
				c += last
			}
			worst = max(worst, c)
		}
		if want := bruteBalance(w, first, last, parts); worst != want {
			t.Fatalf("w=%v first=%d last=%d parts=%d: largest part %d, optimum %d (cuts %v)", w, first, last, parts, worst, want, cuts)
		}
	}
}

func TestParseSplitSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"500M", 500_000_000, true}, {"2G", 2_000_000_000, true}, {"1000", 1000, true},
		{"1.5G", 0, false}, {"2GB", 0, false}, {"0M", 0, false}, {"-1G", 0, false}, {"M", 0, false}, {"", 0, false},
		{"99999999999G", 0, false},
	} {
		got, err := ParseSplitSize(c.in)
		if (err == nil) != c.ok || got != c.want {
			t.Errorf("ParseSplitSize(%q) = %d, %v; want %d ok=%v", c.in, got, err, c.want, c.ok)
		}
	}
}

func desc(name string, n int64) *tensor.Desc {
	return &tensor.Desc{Name: name, DType: tensor.U8, Shape: []int64{n}}
}

// TestSplitBySize covers the corners gguf-split's rule leaves: sizes count
// padded to 32, a tensor over the limit gets a file of its own, and
// no_tensor_first_split leaves the first file empty.
func TestSplitBySize(t *testing.T) {
	ts := []*tensor.Desc{desc("a", 40), desc("b", 20), desc("c", 200), desc("d", 10), desc("e", 10)}
	for _, c := range []struct {
		max     int64
		noFirst bool
		want    string
	}{
		{100, false, "[[a b] [c] [d e]]"}, // a+b = 64+32 padded
		{90, false, "[[a] [b] [c] [d e]]"},
		{1000, true, "[[] [a b c d e]]"},
		{10, false, "[[a] [b] [c] [d] [e]]"},
	} {
		g, err := splitBySize(ts, c.max, c.noFirst)
		if err != nil {
			t.Fatal(err)
		}
		if got := groupNames(g); got != c.want {
			t.Errorf("max %d noFirst %v: %s, want %s", c.max, c.noFirst, got, c.want)
		}
	}
	if got := groupNames(splitByCount(ts, 2, false)); got != "[[a b] [c d] [e]]" {
		t.Errorf("by count: %s", got)
	}
}

func groupNames(g [][]*tensor.Desc) string {
	s := "["
	for i, p := range g {
		if i > 0 {
			s += " "
		}
		s += "["
		for j, d := range p {
			if j > 0 {
				s += " "
			}
			s += d.Name
		}
		s += "]"
	}
	return s + "]"
}

// FuzzParseSplitSize: any input either fails or gives a positive size that
// a whole number with its unit spells again.
func FuzzParseSplitSize(f *testing.F) {
	for _, s := range []string{"500M", "2G", "1000", "1.5G", "", "G", "-3M", "9223372036854775807"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSplitSize(s)
		if err != nil {
			return
		}
		if n <= 0 {
			t.Fatalf("%q gave %d", s, n)
		}
	})
}
