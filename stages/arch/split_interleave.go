package arch

import (
	"fmt"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// splitInterleaved cuts d into parts that take a group's rows in turn:
// with n parts, row j of a group goes to part j mod n, as gpt-oss's
// [:, ::2] and [:, 1::2] cut gate_up_proj. A [groups, n x rows] tensor
// (the fused bias) is cut the same way along its elements. Rows stream
// (a row map); the bias is read one group row at a time.
func (a *Arch) splitInterleaved(c *tctx, m match, d *tensor.Desc, groups int64, rows []int64) ([]*tensor.Desc, error) {
	sp, n := m.r.src.Split, int64(len(rows))
	per := rows[0]
	for _, r := range rows {
		if r != per {
			return nil, fmt.Errorf("split of %s: interleaved parts of unequal rows (%s)", d.Name, partRows(sp, rows))
		}
	}
	flat := len(d.Shape) == 2 && d.Shape[0] == groups && d.Shape[1] == n*per
	if !flat && (groups <= 0 || per <= 0 || d.Rows() != groups*n*per) {
		return nil, fmt.Errorf("split of %s: shape %v has %d rows, want %d groups of %d rows dealt to %d parts, or [%d %d] (%s = %s)",
			d.Name, d.Shape, d.Rows(), groups, n*per, n, groups, n*per, sp.Groups, partRows(sp, rows))
	}
	var out []*tensor.Desc
	for i := range sp.Parts {
		nd := d.Clone()
		at := int64(i)
		if flat {
			es, err := elemSize(d)
			if err != nil {
				return nil, err
			}
			nd.Shape = []int64{groups, per}
			nd.Src = &dealt{src: d.Src, inRB: d.RowBytes(), es: es, n: n, at: at, per: per,
				what: fmt.Sprintf("elements %d::%d of %s", at, n, d.Src.Describe())}
		} else {
			nd.Shape = []int64{groups, per, d.RowLen()}
			nd.Src = &rowMap{src: d.Src, rowBytes: d.RowBytes(), mapRow: func(r int64) int64 { return (r/per)*n*per + (r%per)*n + at },
				what: fmt.Sprintf("rows %d::%d of each %d of %s", at, n, n*per, d.Src.Describe())}
		}
		nd, err := finishPart(c, m, i, nd)
		if err != nil {
			return nil, err
		}
		out = append(out, nd)
	}
	return out, nil
}

// dealt is every n-th element of each row from element at, per of them.
type dealt struct {
	src        tensor.Source
	inRB, es   int64
	n, at, per int64
	what       string
}

func (d *dealt) ReadRows(row, k int64, dst []byte) error {
	if int64(len(dst)) != k*d.per*d.es {
		return fmt.Errorf("%s: buffer of %d bytes for %d rows", d.what, len(dst), k)
	}
	buf := make([]byte, k*d.inRB)
	if err := d.src.ReadRows(row, k, buf); err != nil {
		return err
	}
	for r := int64(0); r < k; r++ {
		in, o := buf[r*d.inRB:], dst[r*d.per*d.es:]
		for j := int64(0); j < d.per; j++ {
			src := (j*d.n + d.at) * d.es
			copy(o[j*d.es:(j+1)*d.es], in[src:src+d.es])
		}
	}
	return nil
}

func (d *dealt) Describe() string { return d.what }
