package tensor

import (
	"math/bits"
	"sync"
)

// Byte buffers for row chunks, pooled by size class. A run moves gigabytes
// through a few megabytes of buffers; fresh allocations would make the
// collector run every few chunks and fault in new pages each time. One pool
// per size class matters once a chunk feeds several outputs: a single pool
// of mixed sizes hands a 1.7 MB buffer to a 3.2 MB request, which throws it
// away and allocates. (The slowness that first pointed here was writers
// contending for one file, fixed in the executor; this pooling keeps the
// buffers of a fanned-out chunk from displacing each other.) Classes are
// 2^k and 1.5 * 2^k, so a buffer is less than half again as large as asked.
var bufPools [2 * 64]sync.Pool

// bufClass is the pool index and capacity for a request of n bytes.
func bufClass(n int) (int, int) {
	if n <= 4096 {
		return 24, 4096 // 4096 = 2^12, index 2k
	}
	k := bits.Len(uint(n - 1)) // 2^k >= n > 2^(k-1)
	if c := 3 << (k - 2); c >= n {
		return 2*k - 1, c
	}
	return 2 * k, 1 << k
}

// GetBuf returns a buffer of length n from the pool; its bytes are
// whatever an earlier user left, so the caller must overwrite them all.
func GetBuf(n int) *[]byte {
	i, c := bufClass(n)
	p, _ := bufPools[i].Get().(*[]byte)
	if p == nil {
		b := make([]byte, c)
		p = &b
	}
	*p = (*p)[:n]
	return p
}

// PutBuf returns a buffer from GetBuf to its pool.
func PutBuf(p *[]byte) {
	if p == nil {
		return
	}
	i, c := bufClass(cap(*p))
	if c != cap(*p) {
		return // not one of ours
	}
	bufPools[i].Put(p)
}
