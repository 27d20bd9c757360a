package arch

import (
	"fmt"
	"regexp"
	"sort"

	"strings"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// splitJoiner undoes split rules for an unmap: it gathers the GGUF parts a
// split made of one HF tensor (InternVL's attn_q, attn_k, attn_v of one
// attn.qkv) and, once every part of a block is in, gives back the HF
// tensor, the parts' rows (or, 1-D, elements) one after the other.
type splitJoiner struct {
	a       *Arch
	pending map[string][]*tensor.Desc
}

func newSplitJoiner(a *Arch) *splitJoiner {
	return &splitJoiner{a: a, pending: map[string][]*tensor.Desc{}}
}

// add takes d if a split rule made it (ok); joined is the HF tensor when d
// was its last missing part.
func (j *splitJoiner) add(d *tensor.Desc) (joined *tensor.Desc, ok bool, err error) {
	for _, r := range j.a.rules {
		if r.src.Split == nil {
			continue
		}
		for i, p := range r.src.Split.Parts {
			pat := "^" + strings.ReplaceAll(regexp.QuoteMeta(withSuffix(p.GGUF, r.sfx)), `\{bid\}`, `(\d+)`) + "$"
			sm := compileCached(pat).FindStringSubmatch(d.Name)
			if sm == nil {
				continue
			}
			bid := ""
			if len(sm) > 1 {
				bid = sm[1]
			}
			name := hfName(r, bid, 0)
			parts := j.pending[name]
			if parts == nil {
				parts = make([]*tensor.Desc, len(r.src.Split.Parts))
				j.pending[name] = parts
			}
			if parts[i] != nil {
				return nil, true, fmt.Errorf("tensor %s appears twice", d.Name)
			}
			parts[i] = d
			for _, x := range parts {
				if x == nil {
					return nil, true, nil
				}
			}
			delete(j.pending, name)
			joined, err := joinParts(name, parts)
			return joined, true, err
		}
	}
	return nil, false, nil
}

// leftover names the parts whose siblings never came.
func (j *splitJoiner) leftover() []string {
	var out []string
	for name, parts := range j.pending {
		for i, p := range parts {
			if p == nil {
				out = append(out, fmt.Sprintf("%s: part %d of its split is missing", name, i))
			}
		}
	}
	sort.Strings(out)
	return out
}

func joinParts(name string, parts []*tensor.Desc) (*tensor.Desc, error) {
	first := parts[0]
	for _, p := range parts[1:] {
		if p.DType != first.DType || len(p.Shape) != len(first.Shape) || (len(p.Shape) == 2 && p.Shape[1] != first.Shape[1]) {
			return nil, fmt.Errorf("%s: parts %s %v %v and %s %v %v do not join", name, first.Name, first.DType, first.Shape, p.Name, p.DType, p.Shape)
		}
	}
	out := first.Clone()
	out.Name = name
	what := "joined " + first.Name + ".." + parts[len(parts)-1].Name
	switch len(first.Shape) {
	case 1:
		var n int64
		for _, p := range parts {
			n += p.Shape[0]
		}
		out.Shape = []int64{n}
		ps := parts
		out.Src = &whole{rowBytes: out.RowBytes(), what: what, compute: func() ([]byte, error) {
			var b []byte
			for _, p := range ps {
				x, err := tensor.ReadAll(p)
				if err != nil {
					return nil, err
				}
				b = append(b, x...)
			}
			return b, nil
		}}
	case 2:
		srcs := make([]tensor.Source, len(parts))
		for i, p := range parts {
			if p.Shape[0] != first.Shape[0] {
				return nil, fmt.Errorf("%s: parts of %d and %d rows: only equal parts join", name, first.Shape[0], p.Shape[0])
			}
			srcs[i] = p.Src
		}
		out.Shape = []int64{first.Shape[0] * int64(len(parts)), first.Shape[1]}
		out.Src = &concat{srcs: srcs, rowsEach: first.Shape[0], rowBytes: first.RowBytes(), what: what}
	default:
		return nil, fmt.Errorf("%s: parts of shape %v: only 1-D and 2-D splits join", name, first.Shape)
	}
	return out, nil
}
