package stages

import (
	"fmt"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mlmf-run/mlmf-run/pipeline"
	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

// ParseSplitSize reads a --split-max-size the way llama.cpp's gguf-split
// does: a positive whole number followed by M (10^6 bytes) or G (10^9
// bytes). A plain number of bytes is accepted too (a recipe var of digits).
// gguf-split reads "1.5G" as 1G; we refuse it rather than guess.
func ParseSplitSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		if n <= 0 {
			return 0, fmt.Errorf("split size %q must be positive", s)
		}
		return n, nil
	}
	mult := int64(0)
	switch {
	case strings.HasSuffix(t, "M"):
		mult = 1000 * 1000
	case strings.HasSuffix(t, "G"):
		mult = 1000 * 1000 * 1000
	default:
		return 0, fmt.Errorf("split size %q: want N followed by M (megabytes) or G (gigabytes), as gguf-split takes it", s)
	}
	n, err := strconv.ParseInt(t[:len(t)-1], 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("split size %q: want a positive whole number before the unit", s)
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("split size %q is too large", s)
	}
	return n * mult, nil
}

// splitBySize groups tensors as gguf-split --split-max-size does: tensors
// stay in order, each counts its size padded to 32 bytes, metadata is not
// counted, and a part is closed when the next tensor would take it over
// max. gguf-split fails when the very first tensor is over the limit; here
// such a tensor simply gets a part of its own, as later ones do there.
// noFirst puts no tensor in the first part (--no-tensor-first-split).
func splitBySize(ts []*tensor.Desc, max int64, noFirst bool) ([][]*tensor.Desc, error) {
	groups := [][]*tensor.Desc{nil}
	if noFirst {
		groups = append(groups, nil)
	}
	var cur int64
	for _, t := range ts {
		n := padTo(t.NBytes(), gguf.DefaultAlignment)
		last := len(groups) - 1
		if cur+n > max && len(groups[last]) > 0 {
			groups = append(groups, nil)
			last, cur = last+1, 0
		}
		groups[last] = append(groups[last], t)
		cur += n
	}
	return groups, nil
}

// splitByCount groups tensors as gguf-split --split-max-tensors does: a new
// part starts at every multiple of n in the tensor order.
func splitByCount(ts []*tensor.Desc, n int, noFirst bool) [][]*tensor.Desc {
	groups := [][]*tensor.Desc{nil}
	if noFirst {
		groups = append(groups, nil)
	}
	for i, t := range ts {
		if i > 0 && i%n == 0 {
			groups = append(groups, nil)
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], t)
	}
	return groups
}

func padTo(n, align int64) int64 { return (n + align - 1) / align * align }

// ggufSplitFiles lays out one GGUF per group, named and keyed as gguf-split
// writes them: the first file carries all of meta, every other file no
// metadata but the split keys; each file ends its keys with split.no
// (UINT16, 0-based), split.tensors.count (INT32, tensors in the whole set)
// and split.count (UINT16) — in that order, because gguf-split sets the
// count last, which moves its key to the end.
func ggufSplitFiles(path string, meta *gguf.Meta, groups [][]*tensor.Desc) ([]*pipeline.OutputFile, error) {
	n := len(groups)
	if n > math.MaxUint16 {
		return nil, fmt.Errorf("%d splits: GGUF split sets hold at most %d files", n, math.MaxUint16)
	}
	total := 0
	for _, g := range groups {
		total += len(g)
	}
	if total > math.MaxInt32 {
		return nil, fmt.Errorf("%d tensors: more than split.tensors.count can say", total)
	}
	prefix := strings.TrimSuffix(path, filepath.Ext(path))
	var outs []*pipeline.OutputFile
	for i, g := range groups {
		m := &gguf.Meta{}
		if i == 0 {
			m = meta.Clone()
		}
		for _, k := range []string{gguf.KeySplitNo, gguf.KeySplitCount, gguf.KeySplitTensorsCount} {
			m.Delete(k)
		}
		m.Set(gguf.KeySplitNo, gguf.Uint16(uint16(i)))
		m.Set(gguf.KeySplitTensorsCount, gguf.Int32(int32(total)))
		m.Set(gguf.KeySplitCount, gguf.Uint16(uint16(n)))
		b, offs, size, err := gguf.Layout(m, g, 0)
		if err != nil {
			return nil, fmt.Errorf("split %d of %d: %w", i+1, n, err)
		}
		outs = append(outs, placed(gguf.SplitPath(prefix, i, n), b, size, g, offs))
	}
	return outs, nil
}
