package safetensors

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/mlmf-run/mlmf-run/internal/pyjson"
	"github.com/mlmf-run/mlmf-run/tensor"
)

// sizeUnits are the units ParseSize knows, matched as case-insensitive suffixes.
var sizeUnits = []struct {
	suffix string
	mult   float64
}{
	{"TIB", 1 << 40}, {"GIB", 1 << 30}, {"MIB", 1 << 20}, {"KIB", 1 << 10},
	{"TB", 1e12}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3},
}

// ParseSize reads a max_shard_size the way transformers 5 does (through
// huggingface_hub's parse_size_to_int): "TB", "GB", "MB", "KB" are powers of
// ten, case-insensitive, and the number may have a fraction ("1.5GB" is
// int(1.5 * 10^9)). It also takes the binary units transformers 4 knew
// ("GiB" = 2^30, "MiB", "KiB", and "TiB") and a plain integer as bytes.
// Transformers 4 read a lowercase trailing "b" ("5gb") as bits; transformers 5
// does not, nor do we.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if n, err := strconv.ParseInt(t, 10, 64); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("size %q is negative", s)
		}
		return n, nil
	}
	u := strings.ToUpper(t)
	for _, unit := range sizeUnits {
		if !strings.HasSuffix(u, unit.suffix) {
			continue
		}
		num := strings.TrimSpace(t[:len(t)-len(unit.suffix)])
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || v < 0 || math.IsInf(v, 0) || math.IsNaN(v) {
			return 0, fmt.Errorf("size %q: %q is not a non-negative number", s, num)
		}
		b := math.Trunc(v * unit.mult)
		if b >= math.MaxInt64 {
			return 0, fmt.Errorf("size %q is too large", s)
		}
		return int64(b), nil
	}
	return 0, fmt.Errorf("size %q: want an integer number of bytes or a number with a unit (TB, GB, MB, KB, TiB, GiB, MiB, KiB)", s)
}

// PlanShards splits tensors (in the order given, which for transformers is
// the state dict's module order) into shards of at most maxBytes of tensor
// data, with huggingface_hub's greedy algorithm: tensors are added in order
// and a shard is closed when the next tensor would tip it over the limit; a
// tensor bigger than the limit alone gets its own shard, which is emitted at
// once, before the shard being filled. No reordering is attempted.
func PlanShards(tensors []*tensor.Desc, maxBytes int64) [][]*tensor.Desc {
	var shards [][]*tensor.Desc
	var cur []*tensor.Desc
	var curSize int64
	for _, t := range tensors {
		n := t.NBytes()
		if n > maxBytes {
			shards = append(shards, []*tensor.Desc{t})
			continue
		}
		if curSize+n > maxBytes {
			shards = append(shards, cur)
			cur, curSize = nil, 0
		}
		cur = append(cur, t)
		curSize += n
	}
	if len(cur) > 0 {
		shards = append(shards, cur)
	}
	return shards
}

// ShardNames are the file names of n shards: model.safetensors for one,
// model-00001-of-0000n.safetensors otherwise.
func ShardNames(n int) []string {
	if n == 1 {
		return []string{SingleName}
	}
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, n)
	}
	return out
}

// Parameters counts the elements of tensors, transformers' total_parameters
// for a model whose parameters are exactly these tensors (tied weights
// stored once).
func Parameters(tensors []*tensor.Desc) int64 {
	var n int64
	for _, t := range tensors {
		n += t.Elems()
	}
	return n
}

// Index writes model.safetensors.index.json for shards named by ShardNames,
// as transformers 5 does: json.dumps(index, indent=2, sort_keys=True) plus a
// newline, metadata.total_size the sum of the tensors' data bytes (headers
// not counted), metadata.total_parameters when totalParameters >= 0
// (older transformers did not write it; pass -1 to omit it).
func Index(shards [][]*tensor.Desc, totalParameters int64) ([]byte, error) {
	names := ShardNames(len(shards))
	weightMap := map[string]string{}
	var keys []string
	var total int64
	for i, shard := range shards {
		for _, t := range shard {
			if prev, ok := weightMap[t.Name]; ok {
				return nil, fmt.Errorf("safetensors: tensor %q is in both %s and %s", t.Name, prev, names[i])
			}
			weightMap[t.Name] = names[i]
			keys = append(keys, t.Name)
			total += t.NBytes()
		}
	}
	sort.Strings(keys)
	b := []byte("{\n  \"metadata\": {\n")
	if totalParameters >= 0 {
		b = fmt.Appendf(b, "    \"total_parameters\": %d,\n", totalParameters)
	}
	b = fmt.Appendf(b, "    \"total_size\": %d\n  },\n  \"weight_map\": {", total)
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, "\n    "...)
		b = pyjson.AppendString(b, k)
		b = append(b, ": "...)
		b = pyjson.AppendString(b, weightMap[k])
	}
	if len(keys) > 0 {
		b = append(b, "\n  "...)
	}
	return append(b, "}\n}\n"...), nil
}
