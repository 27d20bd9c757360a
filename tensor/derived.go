package tensor

// Derived is a Source whose row i is computed from row i of one input alone:
// a dtype conversion, a quantization, an elementwise map, a LoRA merge. The
// executor uses it to fan out: it reads the input's rows once and hands that
// one copy to every Derived source built on the input, where ReadRows would
// make each of them pull (and re-read from disk) its own copy. ReadRows must
// give exactly what Derive gives from the input's ReadRows.
type Derived interface {
	Source
	// Input is the source rows are derived from, and the encoded size of
	// one of its rows.
	Input() (src Source, rowBytes int64)
	// Derive computes rows [row, row+n) into dst from in, the same rows of
	// Input. It may be called concurrently for disjoint rows.
	Derive(row, n int64, in, dst []byte) error
}

// Tap is a Derived source that passes its input's rows through unchanged
// and only looks at them (a byte counter, a digest): the executor hands it
// the input's buffer instead of copying rows into a buffer of its own.
type Tap interface {
	Derived
	// Saw is called with rows [row, row+n) of the input as they pass.
	Saw(row, n int64, rows []byte)
}

// ReadDerived is ReadRows for a Derived source: read the input's rows into
// pooled scratch, then derive.
func ReadDerived(d Derived, row, n int64, dst []byte) error {
	src, rb := d.Input()
	p := GetBuf(int(n * rb))
	defer PutBuf(p)
	if err := src.ReadRows(row, n, *p); err != nil {
		return err
	}
	return d.Derive(row, n, *p, dst)
}
