package stages

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/mlmf-run/mlmf-run/pipeline"
	"github.com/mlmf-run/mlmf-run/tensor"
)

// layerPlan places whole blocks on N parts for pipeline-parallel loading.
type layerPlan struct {
	groups [][]*tensor.Desc
	ranges [][2]int // first and last block of each part, -1 when none
	bytes  []int64
	blocks int
}

// blockOf finds a tensor's block number in GGUF names (blk.N.) and the
// common HF spellings (layers.N., h.N., blocks.N.); -1 for tensors outside
// the blocks.
var blockRe = regexp.MustCompile(`(?:^|\.)(?:blk|layers|h|blocks|layer)\.(\d+)\.`)

func blockOf(name string) int {
	m := blockRe.FindStringSubmatch(name)
	if m == nil {
		return -1
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return -1
	}
	return n
}

// headRe matches what runs after the last block: the final norm and the
// output projection.
var headRe = regexp.MustCompile(`^(?:output_norm|output|lm_head|norm|ln_f|final_layernorm|model\.norm|transformer\.ln_f|model\.final_layernorm)\.`)

// planLayers splits the blocks into parts contiguous ranges whose byte
// totals are as even as possible (the largest part is minimal), with the
// tensors before the blocks (embeddings) counted in the first part and the
// head (final norm, output) in the last. Tensor order inside a part follows
// the input order.
func planLayers(ts []*tensor.Desc, parts int) (*layerPlan, error) {
	var blockBytes []int64
	var first, last int64
	for _, t := range ts {
		b := blockOf(t.Name)
		switch {
		case b >= 0:
			if b >= 1<<20 {
				return nil, fmt.Errorf("tensor %q: block number %d is implausible", t.Name, b)
			}
			for len(blockBytes) <= b {
				blockBytes = append(blockBytes, 0)
			}
			blockBytes[b] += t.NBytes()
		case headRe.MatchString(t.Name):
			last += t.NBytes()
		default:
			first += t.NBytes()
		}
	}
	n := len(blockBytes)
	if n == 0 {
		return nil, fmt.Errorf("by: layers: no tensor is in a numbered block (blk.N., layers.N., h.N.)")
	}
	if parts > n {
		return nil, fmt.Errorf("by: layers: %d parts for %d blocks; at most one part per block", parts, n)
	}
	cuts := balance(blockBytes, first, last, parts)
	p := &layerPlan{groups: make([][]*tensor.Desc, parts), blocks: n}
	partOf := make([]int, n)
	for i := 0; i < parts; i++ {
		lo, hi := cuts[i], cuts[i+1]
		p.ranges = append(p.ranges, [2]int{lo, hi - 1})
		for b := lo; b < hi; b++ {
			partOf[b] = i
		}
	}
	p.bytes = make([]int64, parts)
	for _, t := range ts {
		i := 0
		switch b := blockOf(t.Name); {
		case b >= 0:
			i = partOf[b]
		case headRe.MatchString(t.Name):
			i = parts - 1
		}
		p.groups[i] = append(p.groups[i], t)
		p.bytes[i] += t.NBytes()
	}
	return p, nil
}

// balance returns cut points c[0]=0 < c[1] < ... < c[parts]=len(w): part i
// holds blocks [c[i], c[i+1]). It minimizes the largest part, counting
// first in part 0 and last in the final part, by dynamic programming over
// prefix sums (blocks number in the hundreds at most).
func balance(w []int64, first, last int64, parts int) []int {
	n := len(w)
	pre := make([]int64, n+1)
	for i, x := range w {
		pre[i+1] = pre[i] + x
	}
	cost := func(i, lo, hi int) int64 {
		c := pre[hi] - pre[lo]
		if i == 0 {
			c += first
		}
		if i == parts-1 {
			c += last
		}
		return c
	}
	const inf = int64(1<<63 - 1)
	// best[i][j]: minimal largest part placing blocks [0,j) on parts 0..i.
	best := make([][]int64, parts)
	from := make([][]int, parts)
	for i := range best {
		best[i], from[i] = make([]int64, n+1), make([]int, n+1)
		for j := range best[i] {
			best[i][j] = inf
		}
	}
	for j := 1; j <= n; j++ {
		best[0][j] = cost(0, 0, j)
	}
	for i := 1; i < parts; i++ {
		for j := i + 1; j <= n; j++ {
			for k := i; k < j; k++ {
				if best[i-1][k] == inf {
					continue
				}
				if c := max(best[i-1][k], cost(i, k, j)); c < best[i][j] {
					best[i][j], from[i][j] = c, k
				}
			}
		}
	}
	cuts := make([]int, parts+1)
	cuts[parts] = n
	for i := parts - 1; i > 0; i-- {
		cuts[i] = from[i][cuts[i+1]]
	}
	return cuts
}

// partEntry is one part in the manifest.
type partEntry struct {
	File       string `json:"file"`
	FirstLayer int    `json:"first_layer"`
	LastLayer  int    `json:"last_layer"`
	Layers     int    `json:"layers"`
	Tensors    int    `json:"tensors"`
	Bytes      int64  `json:"bytes"`
	FileBytes  int64  `json:"file_bytes"`
}

// manifest describes the parts for a loader that places each on a device:
// file names relative to the manifest, block ranges (inclusive), tensor
// data bytes and whole file sizes.
func (p *layerPlan) manifest(path string, outs []*pipeline.OutputFile, noFirst bool) (*pipeline.OutputFile, error) {
	doc := struct {
		Blocks int         `json:"blocks"`
		Parts  []partEntry `json:"parts"`
		Index  string      `json:"index,omitempty"`
		Meta   string      `json:"metadata_file,omitempty"`
	}{Blocks: p.blocks}
	files := outs
	if noFirst {
		doc.Meta = rel(path, outs[0].Path)
		files = outs[1:]
	}
	for i := range p.groups {
		r := p.ranges[i]
		doc.Parts = append(doc.Parts, partEntry{File: rel(path, files[i].Path), FirstLayer: r[0], LastLayer: r[1],
			Layers: r[1] - r[0] + 1, Tensors: len(p.groups[i]), Bytes: p.bytes[i], FileBytes: files[i].Size})
	}
	if len(files) > len(p.groups) {
		doc.Index = rel(path, files[len(p.groups)].Path)
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return sideFile(path, append(b, '\n')), nil
}

func rel(manifest, file string) string {
	r, err := filepath.Rel(filepath.Dir(manifest), file)
	if err != nil {
		return file
	}
	return filepath.ToSlash(r)
}
