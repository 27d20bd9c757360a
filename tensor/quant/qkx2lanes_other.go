//go:build !amd64 || purego

package quant

const haveLanes = false

func qkx2Steps(s *qkx2Lanes, x *[qkK]float32, w *[8][32]float32, nmax int32, rmin, rdelta float32, nstep int) {
	panic("quant: no eight-lane make_qkx2_quants on this platform")
}

func q8Block(x *[32]float32, q *[32]byte) (d float32, ok bool) { return 0, false }

func q6Steps(s *q6Lanes, x *[128]float32) {
	panic("quant: no eight-lane make_qx_quants on this platform")
}

func q45Requant(x *[qkK]float32, dl, ml *[8]float32, L *[qkK]uint8, nmax int32) bool { return false }

func q6Requant(x *[qkK]float32, dl *[16]float32, L *[qkK]int8) bool { return false }

func iq4Steps(s *iq4Lanes, x, qw *[qkK]float32, sigma2 *[8]float32) {
	panic("quant: no eight-lane IQ4 search on this platform")
}

func iq4PackCodes(x *[32]float32, id float32, q *[16]byte) {
	panic("quant: no AVX2 IQ4 codes on this platform")
}
