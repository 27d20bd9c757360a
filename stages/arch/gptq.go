package arch

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// dequantGPTQ replaces each GPTQ-quantized linear (<base>.qweight, .qzeros,
// .scales, .g_idx) by <base>.weight in float32, as the converter's
// dequant_gptq: w[o][i] = scales[g][o] x (q[i][o] - zeros[g][o]) with
// g = g_idx[i], zeros stored minus one in the "gptq" checkpoint format and
// as they are in "gptq_v2". Like the converter, it puts the new weights
// after every other tensor, in the order of their qweights.
func dequantGPTQ(qc map[string]any, tensors []*tensor.Desc) ([]*tensor.Desc, error) {
	bits, ok := intOf(qc["bits"])
	if !ok || (bits != 2 && bits != 4 && bits != 8) {
		return nil, fmt.Errorf("config.json quantization_config.bits %v: GPTQ checkpoints of 2, 4 or 8 bits can be read (3-bit is not supported, as in the converter)", qc["bits"])
	}
	format := "gptq"
	if f, ok := qc["checkpoint_format"].(string); ok {
		format = f
	}
	if format != "gptq" && format != "gptq_v2" {
		return nil, fmt.Errorf("config.json quantization_config.checkpoint_format %q: want gptq or gptq_v2", format)
	}
	return repack{what: "gptq checkpoint", lead: ".qweight", need: []string{".qweight", ".qzeros", ".scales", ".g_idx"},
		build: func(base string, p map[string]*tensor.Desc) (*tensor.Desc, error) {
			return gptqWeight(base, p, bits, format == "gptq")
		}}.apply(tensors)
}

// gptqWeight checks the four tensors' dtypes and shapes against each other
// and returns the [out, in] float32 weight they hold.
func gptqWeight(base string, p map[string]*tensor.Desc, bits int64, v1 bool) (*tensor.Desc, error) {
	qw, qz, sc, gi := p[".qweight"], p[".qzeros"], p[".scales"], p[".g_idx"]
	for _, d := range []*tensor.Desc{qw, qz, sc, gi} {
		if err := d.Check(); err != nil {
			return nil, err
		}
		if len(d.Shape) != 2 && d != gi || d == gi && len(d.Shape) != 1 {
			return nil, fmt.Errorf("%s: shape %v, want %s", d.Name, d.Shape, map[bool]string{true: "1 dimension", false: "2 dimensions"}[d == gi])
		}
	}
	if qw.DType != tensor.I32 || qz.DType != tensor.I32 || gi.DType != tensor.I32 {
		return nil, fmt.Errorf("%s: qweight %v, qzeros %v, g_idx %v: want I32 (int32 packing)", base, qw.DType, qz.DType, gi.DType)
	}
	if !tensor.HasCodec(sc.DType) || sc.DType.Info().BlockSize != 1 {
		return nil, fmt.Errorf("%s: dtype %v cannot be decoded", sc.Name, sc.DType)
	}
	pack := 32 / bits
	in, out, groups := qw.Shape[0]*pack, qw.Shape[1], sc.Shape[0]
	switch {
	case sc.Shape[1] != out:
		return nil, fmt.Errorf("%s: shape %v, want [groups %d] (%s has %d outputs)", sc.Name, sc.Shape, out, qw.Name, out)
	case qz.Shape[0] != groups || qz.Shape[1]*pack != out:
		return nil, fmt.Errorf("%s: shape %v, want [%d %d] (%d groups, %d outputs packed %d to an int32)", qz.Name, qz.Shape, groups, out/pack, groups, out, pack)
	case gi.Shape[0] != in:
		return nil, fmt.Errorf("%s: shape %v, want [%d] (the inputs %s packs)", gi.Name, gi.Shape, in, qw.Name)
	}
	src := &gptqSource{qw: qw, qz: qz, sc: sc, gi: gi, bits: bits, pack: pack, in: in, out: out, groups: groups, v1: v1,
		what: fmt.Sprintf("gptq%d(%s)", bits, qw.Src.Describe())}
	return &tensor.Desc{Name: base + ".weight", DType: tensor.F32, Shape: []int64{out, in}, Src: src}, nil
}

// gptqSource makes the weight's rows (output features) from the packed
// tensors, which it reads once and keeps: each output row takes one column
// of every qweight row, so rows cannot stream from qweight's own rows. The
// packed data is bits/32 of the float32 weight.
type gptqSource struct {
	qw, qz, sc, gi  *tensor.Desc
	bits, pack      int64
	in, out, groups int64
	v1              bool
	what            string
	once            sync.Once
	err             error
	q, zeros        []uint32
	scales          []float32
	gidx            []int64
}

func (g *gptqSource) load() error {
	g.once.Do(func() {
		var qb, zb, gb, sb []byte
		for _, r := range []struct {
			d   *tensor.Desc
			dst *[]byte
		}{{g.qw, &qb}, {g.qz, &zb}, {g.gi, &gb}, {g.sc, &sb}} {
			if *r.dst, g.err = tensor.ReadAll(r.d); g.err != nil {
				return
			}
		}
		g.q, g.zeros = u32s(qb), u32s(zb)
		g.scales = make([]float32, g.sc.Elems())
		if g.err = tensor.ToFloat32(g.sc.DType, sb, g.scales); g.err != nil {
			return
		}
		g.gidx = make([]int64, g.in)
		for i, v := range u32s(gb) {
			if x := int32(v); x < 0 || int64(x) >= g.groups {
				g.err = fmt.Errorf("%s[%d] = %d: want a group below %d", g.gi.Name, i, x, g.groups)
				return
			}
			g.gidx[i] = int64(int32(v))
		}
	})
	return g.err
}

func u32s(b []byte) []uint32 {
	out := make([]uint32, len(b)/4)
	for i := range out {
		out[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	return out
}

func (g *gptqSource) ReadRows(row, n int64, dst []byte) error {
	if int64(len(dst)) != n*g.in*4 {
		return fmt.Errorf("%s: buffer of %d bytes for %d rows of %d", g.what, len(dst), n, g.in)
	}
	if err := g.load(); err != nil {
		return err
	}
	maxq := uint32(1)<<g.bits - 1
	for k := int64(0); k < n; k++ {
		o := row + k
		zw, zs := g.zeros[o/g.pack:], uint(g.bits*(o%g.pack))
		for i := int64(0); i < g.in; i++ {
			grp := g.gidx[i]
			q := int32(g.q[(i/g.pack)*g.out+o] >> uint(g.bits*(i%g.pack)) & maxq)
			z := int32(zw[grp*(g.out/g.pack)] >> zs & maxq)
			if g.v1 {
				z++
			}
			v := g.scales[grp*g.out+o] * float32(q-z)
			binary.LittleEndian.PutUint32(dst[(k*g.in+i)*4:], math.Float32bits(v))
		}
	}
	return nil
}

func (g *gptqSource) Describe() string { return g.what }
