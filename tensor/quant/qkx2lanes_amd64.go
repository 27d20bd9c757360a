//go:build !purego

package quant

import "golang.org/x/sys/cpu"

// haveLanes: the eight-lane step loop runs here (AVX2).
var haveLanes = cpu.X86.HasAVX2

//go:noescape
func qkx2StepsAVX2(s *qkx2Lanes, x *[qkK]float32, w *[8][32]float32, nmax int32, rmin, rdelta float32, nstep int)

func qkx2Steps(s *qkx2Lanes, x *[qkK]float32, w *[8][32]float32, nmax int32, rmin, rdelta float32, nstep int) {
	qkx2StepsAVX2(s, x, w, nmax, rmin, rdelta, nstep)
}

//go:noescape
func q6StepsAVX2(s *q6Lanes, x *[128]float32)

func q6Steps(s *q6Lanes, x *[128]float32) { q6StepsAVX2(s, x) }

//go:noescape
func q6RequantAVX2(x *[qkK]float32, dl *[16]float32, L *[qkK]int8)

// q6Requant is quantQ6_K's last loop with AVX2; false (nothing done)
// without.
func q6Requant(x *[qkK]float32, dl *[16]float32, L *[qkK]int8) bool {
	if !haveLanes {
		return false
	}
	q6RequantAVX2(x, dl, L)
	return true
}

//go:noescape
func q45RequantAVX2(x *[qkK]float32, dl, ml *[8]float32, L *[qkK]uint8, nmax int32)

// q45Requant is fitQ45's last loop with AVX2; false (nothing done) without.
func q45Requant(x *[qkK]float32, dl, ml *[8]float32, L *[qkK]uint8, nmax int32) bool {
	if !haveLanes {
		return false
	}
	q45RequantAVX2(x, dl, ml, L, nmax)
	return true
}

//go:noescape
func iq4StepsAVX2(s *iq4Lanes, x, qw *[qkK]float32, sigma2 *[8]float32)

func iq4Steps(s *iq4Lanes, x, qw *[qkK]float32, sigma2 *[8]float32) { iq4StepsAVX2(s, x, qw, sigma2) }

//go:noescape
func iq4PackAVX2(x *[32]float32, id float32, q *[16]byte)

func iq4PackCodes(x *[32]float32, id float32, q *[16]byte) { iq4PackAVX2(x, id, q) }
