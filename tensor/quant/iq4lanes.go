package quant

// IQ4_NL and IQ4_XS search 15 trial scales per 32-weight group (iq4Group),
// each trial a chain of dependent float32 sums in ggml's order. iq4Eight
// runs eight groups at once, one per lane of an AVX2 register
// (iq4lanes_amd64.s), every lane doing exactly iq4Group's float32
// operations in its order, unfused, with bestIndexInt8's choice made from a
// table of bracketing codebook values (iq4Pairs) and an improving trial
// taken by a per-lane select; the lanes compute iq4Weights' weights and the
// signed maxima too. iq4Pack writes a group's codes (bestIndexInt8 by the
// same table) with AVX2. Built with -tags purego, or without AVX2, every
// group takes iq4Weights, iq4Group and bestIndexInt8.

// iq4Lanes is eight groups' state, element j of group g at [j][g]; the
// assembly knows its layout.
//
//lint:ignore U1000 the assembly reads and writes every field
type iq4Lanes struct {
	x, w [32][8]float32
	d    [8]float32
}

// iq4Pairs[k+127], for the integer k = floor(x) of a scaled weight x
// clamped to [val[0], val[15]], holds the codebook values bracketing x as
// two int16: the lower in the low half, the upper in the high half
// (bestIndexInt8's pair); x = val[15] gets the pair (val[15], val[15]), so
// the upper wins as ggml's bisection ends at 15.
var iq4Pairs = func() (t [int(113) - int(-127) + 1]uint32) {
	for k := range t {
		lo, hi := kvaluesIQ4NL[15], kvaluesIQ4NL[15]
		if k < len(iq4Upper) {
			mu := iq4Upper[k]
			lo, hi = kvaluesIQ4NL[mu-1], kvaluesIQ4NL[mu]
		}
		t[k] = uint32(uint16(int16(lo))) | uint32(uint16(int16(hi)))<<16
	}
	return t
}()

// iq4Mu[k+127] is iq4Upper[k+127] for val[0] <= k < val[15], 15 for k =
// val[15]: the code whose value is the upper of iq4Pairs' pair.
var iq4Mu = func() (t [len(iq4Pairs)]int32) {
	for k := range t {
		t[k] = 15
		if k < len(iq4Upper) {
			t[k] = int32(iq4Upper[k])
		}
	}
	return t
}()

// iq4Pack writes the codes of x·id (bestIndexInt8) into q, element j in
// the low nibble of q[j] and element j+16 in its high nibble.
func iq4Pack(x *[32]float32, id float32, q *[16]byte) {
	if haveLanes {
		iq4PackCodes(x, id, q)
		return
	}
	for j := range 16 {
		q[j] = bestIndexInt8(&kvaluesIQ4NL, float32(id*x[j])) | bestIndexInt8(&kvaluesIQ4NL, float32(id*x[16+j]))<<4
	}
}

// iq4Eight is iq4Weights then iq4Group for the eight groups x[32g:32g+32]
// with importances qw[32g:32g+32] (nil for none) and sigma2[g]: their
// scales into d. Codes are not returned: the callers quantize again with the
// stored scale.
func iq4Eight(x *[qkK]float32, qw []float32, sigma2 *[8]float32, d *[8]float32) {
	if !haveLanes {
		var L [32]uint8
		var weight [32]float32
		for g := range 8 {
			xb := x[32*g : 32*g+32]
			iq4Weights(xb, weightsAt(qw, 32*g, 32), weight[:], sigma2[g])
			d[g] = iq4Group(xb, weight[:], L[:])
		}
		return
	}
	var q *[qkK]float32
	if qw != nil {
		q = (*[qkK]float32)(qw)
	}
	var s iq4Lanes // the assembly moves the groups into its lanes
	iq4Steps(&s, x, q, sigma2)
	*d = s.d
}
