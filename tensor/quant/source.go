package quant

import (
	"fmt"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// Rows wraps src (rows of rowLen elements of dtype from) so that its rows
// come out as type to, encoded by QuantizeRows: row r is quantized with
// weights[e·rowLen : (e+1)·rowLen], e = r / rowsPerExpert, the expert's
// slice of an importance-matrix entry, as llama-quantize slices it for a
// 3-D tensor. weights nil quantizes without (and is what every quantized
// tensor without an imatrix entry gets).
func Rows(src tensor.Source, from, to tensor.DType, rowLen, rowsPerExpert int64, weights []float32) (tensor.Source, error) {
	if !tensor.HasCodec(from) {
		return nil, fmt.Errorf("cannot decode %v", from)
	}
	if !Supported(to) && rowQuantizers[to] == nil {
		return nil, fmt.Errorf("cannot encode %v", to)
	}
	inRB, err := from.RowBytes(rowLen)
	if err != nil {
		return nil, err
	}
	outRB, err := to.RowBytes(rowLen)
	if err != nil {
		return nil, err
	}
	if rowsPerExpert <= 0 {
		return nil, fmt.Errorf("%d rows per expert", rowsPerExpert)
	}
	if weights != nil && (len(weights) == 0 || int64(len(weights))%rowLen != 0) {
		return nil, fmt.Errorf("%d importance weights for rows of %d", len(weights), rowLen)
	}
	return &rowSource{src: src, from: from, to: to, rowLen: rowLen, perExpert: rowsPerExpert,
		inRB: inRB, outRB: outRB, weights: weights}, nil
}

type rowSource struct {
	src                            tensor.Source
	from, to                       tensor.DType
	rowLen, perExpert, inRB, outRB int64
	weights                        []float32
}

func (c *rowSource) ReadRows(row, n int64, dst []byte) error {
	return tensor.ReadDerived(c, row, n, dst)
}

func (c *rowSource) Input() (tensor.Source, int64) { return c.src, c.inRB }

func (c *rowSource) Derive(row, n int64, in, dst []byte) error {
	f := tensor.GetF32(int(c.rowLen))
	defer tensor.F32Pool.Put(f)
	for r := int64(0); r < n; r++ {
		if err := tensor.DecodeRow(c.from, in[r*c.inRB:(r+1)*c.inRB], *f); err != nil {
			return fmt.Errorf("%s: row %d: %w", c.src.Describe(), row+r, err)
		}
		var w []float32
		if c.weights != nil {
			e := (row + r) / c.perExpert
			if (e+1)*c.rowLen > int64(len(c.weights)) {
				return fmt.Errorf("%s: row %d: expert %d has no importance weights (%d values)", c.src.Describe(), row+r, e, len(c.weights))
			}
			w = c.weights[e*c.rowLen : (e+1)*c.rowLen]
		}
		if err := QuantizeRows(c.to, *f, int(c.rowLen), w, dst[r*c.outRB:(r+1)*c.outRB]); err != nil {
			return fmt.Errorf("%s: row %d: %w", c.src.Describe(), row+r, err)
		}
	}
	return nil
}

func (c *rowSource) Describe() string {
	if c.weights != nil {
		return fmt.Sprintf("%s | %v->%v (imatrix)", c.src.Describe(), c.from, c.to)
	}
	return fmt.Sprintf("%s | %v->%v", c.src.Describe(), c.from, c.to)
}
