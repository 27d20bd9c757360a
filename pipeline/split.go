package pipeline

import (
	"math/bits"
	"strings"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// Costs of a row, in units of about half a nanosecond of one core: a byte
// read or written, and an element encoded to a type. They are estimates
// (docs/benchmarks.md: ggml-speed quantizers, one thread, BF16 input), good
// enough to balance parts whose work differs by type: a Q4_K element costs
// what fifty bytes of copying do. They must never depend on the machine or
// the options of a run: every part computes the same split from the plan.
const (
	costIOByte   = 1
	costFloat    = 2   // F32, F16, BF16: a conversion
	costLegacy   = 8   // Q4_0 .. Q8_0: one scale a block
	costKQuant   = 100 // Q2_K .. Q6_K: scale searches
	costIQuant   = 250 // IQ*: grid searches
	costUnknown  = 8
	costMinPerRw = 1
)

// encodeCost is the estimated cost of encoding one element to d.
func encodeCost(d tensor.DType) int64 {
	name := d.String()
	switch {
	case name == "F32" || name == "F16" || name == "BF16":
		return costFloat
	case strings.HasPrefix(name, "IQ"):
		return costIQuant
	case strings.HasSuffix(name, "_K"):
		return costKQuant
	case strings.HasPrefix(name, "Q"):
		return costLegacy
	}
	return costUnknown
}

// rowCost is the estimated cost of one row of the group: reading its root
// row, and for every placement encoding and writing its row.
func (g *group) rowCost() int64 {
	c := g.root.rowBytes * costIOByte
	for _, p := range g.placements() {
		c += p.t.RowBytes()*costIOByte + g.rowLen*encodeCost(p.t.DType)
	}
	return max(c, costMinPerRw)
}

// splitSpans divides the groups' rows into n parts of about equal cost, in
// order: part i takes the rows whose cost, counted from the first group's
// first row, starts in [total*i/n, total*(i+1)/n). Every row is in exactly
// one part, each part reads a consecutive stretch of the sources, and the
// split depends on the plan alone, so every process computes the same one.
// A part may be empty (more parts than rows).
func splitSpans(groups []*group, n int) [][]span {
	costs := make([]int64, len(groups))
	var total int64
	for i, g := range groups {
		costs[i] = g.rowCost()
		total += costs[i] * g.rows
	}
	parts := make([][]span, n)
	for i := range parts {
		lo, hi := mulDiv(total, i, n), mulDiv(total, i+1, n)
		var at int64 // cost before the group's first row
		for k, g := range groups {
			a, b := firstRowAt(lo-at, costs[k], g.rows), firstRowAt(hi-at, costs[k], g.rows)
			if i == n-1 {
				b = g.rows
			}
			if a < b {
				parts[i] = append(parts[i], span{g, a, b})
			}
			at += costs[k] * g.rows
		}
	}
	return parts
}

// firstRowAt is the first row, of rows rows costing c each, whose cost
// from the group's start is at least t.
func firstRowAt(t, c, rows int64) int64 {
	if t <= 0 {
		return 0
	}
	return min((t+c-1)/c, rows)
}

// mulDiv is total*i/n without overflow.
func mulDiv(total int64, i, n int) int64 {
	hi, lo := bits.Mul64(uint64(total), uint64(i))
	q, _ := bits.Div64(hi, lo, uint64(n))
	return int64(q)
}

// spanCost is the estimated cost of a part's spans, for --dry-run and tests.
func spanCost(spans []span) int64 {
	var c int64
	for _, s := range spans {
		c += s.g.rowCost() * (s.hi - s.lo)
	}
	return c
}

// PartBytes is how many tensor bytes part i of n writes, what its
// progress counts to (OutputFile.Written counts this process's writes).
func PartBytes(p *Plan, i, n int) int64 {
	if n < 1 || i < 0 || i >= n {
		return 0
	}
	files := make([]*outFile, len(p.Outputs))
	for k, o := range p.Outputs {
		files[k] = &outFile{out: o}
	}
	var b int64
	for _, e := range extents(splitSpans(groupPlacements(files), n)[i]) {
		b += e.Bytes
	}
	return b
}
