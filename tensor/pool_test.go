package tensor

import "testing"

// TestBufClasses: a buffer is at least as long as asked, less than half
// again as large (4 KiB at least), and goes back to the pool of its own class.
func TestBufClasses(t *testing.T) {
	for _, n := range []int{1, 4096, 4097, 6144, 6145, 8192, 8193, 3 << 20, 1<<22 + 1, 100_000_000} {
		p := GetBuf(n)
		c := cap(*p)
		if len(*p) != n || c < n || (c > 4096 && 2*c >= 3*n) {
			t.Errorf("GetBuf(%d): len %d cap %d", n, len(*p), c)
		}
		if i, cc := bufClass(c); cc != c {
			t.Errorf("GetBuf(%d): cap %d is not a class size (class %d is %d)", n, c, i, cc)
		}
		PutBuf(p)
	}
	foreign := make([]byte, 5000)
	PutBuf(&foreign) // not a class size: dropped, not pooled
	if q := GetBuf(5000); cap(*q) == 5000 {
		t.Error("a buffer of a foreign size came back from the pool")
	}
}
