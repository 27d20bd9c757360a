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
func q6StepsAVX2(s *q6Lanes)

func q6Steps(s *q6Lanes) { q6StepsAVX2(s) }
