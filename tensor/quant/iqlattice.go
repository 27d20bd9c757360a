package quant

import (
	"math"
	"sync"
)

//go:generate sh -c "go run gen_iqgrids.go $LLAMA_SRC/ggml/src > iqgrids.go"

// iqLattice is what ggml's iq2xs_init_impl / iq3xs_init_impl build for a
// grid type: the grid's points on the odd-integer lattice (2l+1 per field),
// a map from a point's packed levels to its grid index, and, for each point
// off the grid, the grid points at the nwant smallest squared distances
// (ties by grid index), in which the quantizers search the best fit.
type iqLattice struct {
	dims, bits int
	kmaxq      int32        // levels run 0..kmaxq-1
	pos        [][8]int8    // per grid index, dims values 2l+1
	posF       [][8]float32 // the same as float32, for the neighbour search
	kmap       []int32      // packed levels -> grid index, or -(offset+1) into neighbours
	neighbours []uint16     // at each offset: a count, then that many grid indices
}

// latticeSpec says how ggml builds one lattice.
type latticeSpec struct {
	points     []uint16
	dims, bits int
	kmaxq      int32
	kmapSize   int // ggml's bound on packed levels: the largest its quantizers form, plus one
	nwant      int
}

var (
	latticeOnce  [6]sync.Once
	lattices     [6]*iqLattice
	latticeSpecs = [6]latticeSpec{
		{latticeIQ2XXS[:], 8, 2, 3, 43692, 2},
		{latticeIQ2XS[:], 8, 2, 3, 43692, 2},
		{latticeIQ2S[:], 8, 2, 3, 43692, 1},
		{latticeIQ1S[:], 8, 2, 3, 43692, 3},
		{latticeIQ3XXS[:], 4, 3, 8, 4096, 2},
		{latticeIQ3S[:], 4, 3, 8, 4096, 3},
	}
)

const (
	latIQ2XXS = iota
	latIQ2XS
	latIQ2S
	latIQ1S
	latIQ3XXS
	latIQ3S
)

// lattice builds lattice i on first use: IQ1_S's takes ~0.1 s, and a run
// that writes no IQ type should not pay for it.
func lattice(i int) *iqLattice {
	latticeOnce[i].Do(func() { lattices[i] = newLattice(latticeSpecs[i]) })
	return lattices[i]
}

func newLattice(s latticeSpec) *iqLattice {
	l := &iqLattice{dims: s.dims, bits: s.bits, kmaxq: s.kmaxq, pos: make([][8]int8, len(s.points)), kmap: make([]int32, s.kmapSize)}
	mask := uint16(1)<<s.bits - 1
	for i := range l.kmap {
		l.kmap[i] = -1
	}
	l.posF = make([][8]float32, len(s.points))
	for j, p := range s.points {
		for k := 0; k < s.dims; k++ {
			l.pos[j][k] = int8(2*(p>>(s.bits*k)&mask) + 1)
			l.posF[j][k] = float32(l.pos[j][k])
		}
		l.kmap[p] = int32(j) // p packs the levels exactly as the quantizers do
	}
	// Squared distances split into two halves of the fields, so that a
	// point's distance to every grid point is two table lookups.
	half := s.dims / 2
	hbits := half * s.bits
	hsize := 1 << hbits
	dist := make([]int32, hsize*hsize)
	for a := 0; a < hsize; a++ {
		for b := 0; b < hsize; b++ {
			var d int32
			for k := 0; k < half; k++ {
				la, lb := int32(a>>(s.bits*k))&int32(mask), int32(b>>(s.bits*k))&int32(mask)
				d += 4 * (la - lb) * (la - lb)
			}
			dist[a*hsize+b] = d
		}
	}
	lo, hi := make([]int32, len(s.points)), make([]int32, len(s.points))
	for j, p := range s.points {
		lo[j], hi[j] = int32(p)&int32(hsize-1), int32(p)>>hbits
	}
	d2 := make([]int32, len(s.points))
	for i := range l.kmap {
		if l.kmap[i] >= 0 {
			continue
		}
		rl, rh := dist[(i&(hsize-1))*hsize:][:hsize], dist[(i>>hbits)*hsize:][:hsize]
		// The nwant smallest distinct distances, ascending.
		var want [3]int32
		nw := 0
		for j := range d2 {
			d := rl[lo[j]] + rh[hi[j]]
			d2[j] = d
			k := nw
			for k > 0 && want[k-1] > d {
				k--
			}
			if k < s.nwant && (k == 0 || want[k-1] != d) && (k == nw || want[k] != d) {
				copy(want[k+1:], want[k:min(nw, s.nwant-1)])
				want[k] = d
				nw = min(nw+1, s.nwant)
			}
		}
		l.kmap[i] = -int32(len(l.neighbours)) - 1
		start := len(l.neighbours)
		l.neighbours = append(l.neighbours, 0)
		for _, d := range want[:nw] {
			for j, dj := range d2 {
				if dj == d {
					l.neighbours = append(l.neighbours, uint16(j))
				}
			}
		}
		l.neighbours[start] = uint16(len(l.neighbours) - start - 1)
	}
	return l
}

// index is the grid index of the packed levels u, or -1 when u is off the grid.
func (l *iqLattice) index(u int) int {
	if g := l.kmap[u]; g >= 0 {
		return int(g)
	}
	return -1
}

// bestNeighbour is ggml's iq2_find_best_neighbour / iq3_find_best_neighbour:
// among the neighbours of the off-grid point u, the grid point that minimises
// Σ w·(scale·q − x)² (the first on ties). It writes that point's levels into
// L and returns its index. Where every distance is NaN or not below FLT_MAX
// ggml aborts; this takes the first neighbour instead.
func (l *iqLattice) bestNeighbour(u int, x, w []float32, scale float32, L []int8) int {
	nb := l.neighbours[-l.kmap[u]-1:]
	nb = nb[1 : int(nb[0])+1]
	best, gi := float32(math.MaxFloat32), int(nb[0])
	if l.dims == 4 {
		x4, w4 := (*[4]float32)(x), (*[4]float32)(w)
		for _, j := range nb {
			p := &l.posF[j]
			d0 := float32(scale*p[0]) - x4[0]
			d1 := float32(scale*p[1]) - x4[1]
			d2 := float32(scale*p[2]) - x4[2]
			d3 := float32(scale*p[3]) - x4[3]
			d := float32(float32(w4[0]*d0)*d0) + float32(float32(w4[1]*d1)*d1) +
				float32(float32(w4[2]*d2)*d2) + float32(float32(w4[3]*d3)*d3)
			if d < best {
				best, gi = d, int(j)
			}
		}
	} else {
		x8, w8 := (*[8]float32)(x), (*[8]float32)(w)
		for _, j := range nb {
			p := &l.posF[j]
			var d float32
			for i := range 8 { // summed in ggml's order
				diff := float32(scale*p[i]) - x8[i]
				d += float32(float32(w8[i]*diff) * diff)
			}
			if d < best {
				best, gi = d, int(j)
			}
		}
	}
	p := &l.pos[gi]
	for i := 0; i < l.dims; i++ {
		L[i] = (p[i] - 1) / 2
	}
	return gi
}

// snap rounds one vector of xval (lat.dims values) to levels at inverse
// scale id, ggml's nearest_int(0.5f*(id*x-1)) clamped to [0, kmaxq-1], and
// moves a point off the grid to its best neighbour at scale. The levels go
// to L; it reports whether the rounded point was on the grid.
func (l *iqLattice) snap(xval, waux []float32, L []int8, id, scale float32) bool {
	u := 0
	for i := 0; i < l.dims; i++ {
		L[i] = oddLevel(id, xval[i], l.kmaxq)
		u |= int(L[i]) << (l.bits * i)
	}
	if l.index(u) >= 0 {
		return true
	}
	l.bestNeighbour(u, xval, waux, scale, L)
	return false
}

// gridIndex is the grid index of dims levels; ggml aborts on a point off
// the grid, which only NaN input produces: index 0.
func (l *iqLattice) gridIndex(L []int8) int {
	u := 0
	for i := 0; i < l.dims; i++ {
		u |= int(L[i]) << (l.bits * i)
	}
	return max(0, l.index(u))
}

// searchParams are the constants of one type's scale search.
type searchParams struct {
	center  float32 // 2·kMaxQ−1: the odd level the group maximum maps to
	step    float32 // the trial spacing of that level
	isMax   int     // trials run from −isMax to isMax
	skipOn  bool    // the refit leaves points that were on the grid alone
	refitOn bool    // the refit starts as if every point were on the grid (IQ3_S: false)
}

// latticeSearch is the scale search that IQ2_XS, IQ2_S, IQ3_XXS and IQ3_S
// share for one group of magnitudes xval with maximum max: trial inverse
// scales (center + step·is)/max, the best by (Σwxq)²/Σwq², then a refit of
// the points (all, or those off the grid) at the best scale. It leaves the
// levels in L (len(xval)) and returns the scale.
func (l *iqLattice) search(p searchParams, xval, weight, waux []float32, L []int8, max float32) float32 {
	var Laux [32]int8
	var onGrid, onGridAux [8]bool
	n, nv := len(xval), len(xval)/l.dims
	scale := max / p.center
	var best float32
	for k := range onGrid {
		onGrid[k] = p.refitOn
	}
	for is := -p.isMax; is <= p.isMax; is++ {
		id := (p.center + float32(float32(is)*p.step)) / max
		thisScale := 1 / id
		for k := 0; k < nv; k++ {
			o := l.dims * k
			onGridAux[k] = l.snap(xval[o:o+l.dims], waux[o:o+l.dims], Laux[o:o+l.dims], id, thisScale)
		}
		sumqx, sumq2 := oddFit(xval, weight, Laux[:n])
		if sumq2 > 0 && float32(sumqx*sumqx) > float32(best*sumq2) {
			scale = sumqx / sumq2
			best = float32(scale * sumqx)
			copy(L, Laux[:n])
			onGrid = onGridAux
		}
	}
	off := false
	for _, on := range onGrid[:nv] {
		off = off || !on
	}
	if off && scale > 0 {
		id := 1 / scale
		for k := 0; k < nv; k++ {
			if p.skipOn && onGrid[k] {
				continue
			}
			o := l.dims * k
			l.snap(xval[o:o+l.dims], waux[o:o+l.dims], L[o:o+l.dims], id, scale)
		}
		if sumqx, sumq2 := oddFit(xval, weight, L); sumq2 > 0 {
			scale = sumqx / sumq2
		}
	}
	return scale
}
