package arch

import (
	"fmt"
	"strings"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// keepMXFP4 takes the MXFP4 weights of a quant_method "mxfp4" checkpoint
// (gpt-oss: <name>_blocks, uint8 [..., rows, cols/32, 16], two E2M1 codes
// a byte, element 2j in the low nibble; <name>_scales, uint8 [..., rows,
// cols/32], E8M0 exponents) into GGML's MXFP4 without changing a value, as
// the converter's GptOssModel.repack_mxfp4: each 32-element block becomes
// its scale byte and 16 bytes holding elements j (low nibble) and j+16
// (high nibble). The new tensor is named <name>.weight and put before all
// others, in the order of the scales, as the converter writes these
// tensors ahead of the rest. Rows stream: an output row is one row of
// blocks and one of scales.
func keepMXFP4(tensors []*tensor.Desc) ([]*tensor.Desc, error) {
	have := map[string]bool{}
	for _, d := range tensors {
		have[d.Name] = true
	}
	for _, d := range tensors {
		if b, ok := strings.CutSuffix(d.Name, "_blocks"); ok && !have[b+"_scales"] {
			return nil, fmt.Errorf("mxfp4 checkpoint: %s: no %s_scales beside it", d.Name, b)
		}
	}
	return repack{what: "mxfp4 checkpoint", lead: "_scales", need: []string{"_scales", "_blocks"}, first: true,
		build: func(base string, p map[string]*tensor.Desc) (*tensor.Desc, error) {
			return mxfp4Weight(base, p["_blocks"], p["_scales"])
		}}.apply(tensors)
}

// mxfp4Weight checks a blocks/scales pair against each other and returns
// the MXFP4 tensor they hold, [..., rows, cols].
func mxfp4Weight(base string, blocks, scales *tensor.Desc) (*tensor.Desc, error) {
	for _, d := range []*tensor.Desc{blocks, scales} {
		if err := d.Check(); err != nil {
			return nil, err
		}
	}
	bs, ss := blocks.Shape, scales.Shape
	if blocks.DType != tensor.U8 || scales.DType != tensor.U8 {
		return nil, fmt.Errorf("%s: blocks %v, scales %v: want U8 (packed E2M1 codes, E8M0 exponents)", base, blocks.DType, scales.DType)
	}
	if len(bs) < 2 || bs[len(bs)-1] != 16 || len(ss) != len(bs)-1 || fmt.Sprint(bs[:len(bs)-1]) != fmt.Sprint(ss) {
		return nil, fmt.Errorf("%s: blocks %v and scales %v: want blocks [..., n, 16] and scales [..., n] (one E8M0 scale per 16 bytes of 32 codes)", base, bs, ss)
	}
	shape := append([]int64(nil), ss...)
	shape[len(shape)-1] *= 32
	nb := ss[len(ss)-1]
	w := &tensor.Desc{Name: base + ".weight", DType: tensor.MXFP4, Shape: shape}
	w.Src = &mxfp4Source{blocks: blocks.Src, scales: scales.Src, nb: nb,
		what: fmt.Sprintf("mxfp4(%s, %s)", blocks.Src.Describe(), scales.Src.Describe())}
	return w, nil
}

type mxfp4Source struct {
	blocks, scales tensor.Source
	nb             int64 // blocks per row
	what           string
}

func (m *mxfp4Source) ReadRows(row, n int64, dst []byte) error {
	if int64(len(dst)) != n*m.nb*17 {
		return fmt.Errorf("%s: buffer of %d bytes for %d rows of %d blocks", m.what, len(dst), n, m.nb)
	}
	bb := make([]byte, n*m.nb*16)
	if err := m.blocks.ReadRows(row*m.nb, n*m.nb, bb); err != nil {
		return err
	}
	sb := make([]byte, n*m.nb)
	if err := m.scales.ReadRows(row, n, sb); err != nil {
		return err
	}
	for b := int64(0); b < n*m.nb; b++ {
		in, out := bb[b*16:(b+1)*16], dst[b*17:(b+1)*17]
		out[0] = sb[b]
		for j := 0; j < 16; j++ {
			out[1+j] = nibble(in, j) | nibble(in, j+16)<<4
		}
	}
	return nil
}

// nibble is the code of element k of a block stored two a byte, low first.
func nibble(in []byte, k int) byte {
	return in[k/2] >> (4 * (k % 2)) & 0xf
}

func (m *mxfp4Source) Describe() string { return m.what }

// OutTypeOf is OutType for a tensor the converter may have been handed
// already in a GGML type: MXFP4 weights (gpt-oss's experts) are written as
// they are, whatever the output type.
func (a *Arch) OutTypeOf(d *tensor.Desc, requested tensor.DType) tensor.DType {
	if d.DType == tensor.MXFP4 {
		return d.DType
	}
	return a.OutType(d.Name, d.Shape, requested)
}

// mxfp4FileType is general.file_type once MXFP4 tensors were kept: the
// converter's prepare_metadata says MOSTLY_MXFP4_MOE (38) for the F32, F16
// and BF16 output types and leaves Q8_0's.
func mxfp4FileType(ft uint32, tensors []*tensor.Desc) uint32 {
	if ft != 0 && ft != 1 && ft != 32 {
		return ft
	}
	for _, d := range tensors {
		if d.DType == tensor.MXFP4 {
			return 38
		}
	}
	return ft
}
