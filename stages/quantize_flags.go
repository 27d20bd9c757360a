package stages

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/mlmf-run/mlmf-run/pipeline"
	"github.com/mlmf-run/mlmf-run/stages/arch"
	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
	"github.com/mlmf-run/mlmf-run/tensor/quant"
)

// llama-quantize's options, under the same names, for the quantize stage.
const (
	quantImatrix        = "imatrix"
	quantInclude        = "include_weights"
	quantExclude        = "exclude_weights"
	quantTensorTypes    = "tensor_types"
	quantTensorTypeFile = "tensor_type_file"
	quantLeaveOutput    = "leave_output_tensor"
	quantPrune          = "prune_layers"
	quantOverrideKV     = "override_kv"
	quantKeepSplit      = "keep_split"
)

// withQuantFlags adds the schema entries of llamaFlags. List parameters also
// take one string (what a recipe var holds): entries separated by
// whitespace (--tensor-type-file's format), or by newlines for override_kv,
// whose string values may hold spaces.
func withQuantFlags(p props) props {
	list := func(desc string) map[string]any {
		return map[string]any{"type": []any{"array", "string"}, "items": map[string]any{"type": "string"}, "description": desc}
	}
	p[quantImatrix] = str("importance matrix from llama-imatrix (GGUF or legacy .dat), applied as llama-quantize --imatrix applies it")
	p[quantInclude] = list("use the imatrix only for tensors whose name contains one of these (--include-weights)")
	p[quantExclude] = list("do not use the imatrix for tensors whose name contains one of these (--exclude-weights)")
	p[quantTensorTypes] = list("PATTERN=TYPE overrides as llama-quantize --tensor-type: regex searched in the GGUF name, lower-cased, first match wins, applied even when equal to the mix's choice")
	p[quantTensorTypeFile] = str("file of PATTERN=TYPE entries separated by whitespace (--tensor-type-file), read after tensor_types")
	p[quantLeaveOutput] = boolean("leave output.weight in its input type (--leave-output-tensor)")
	p[quantPrune] = map[string]any{"type": []any{"string", "integer"}, "minimum": 0,
		"description": "comma-separated block numbers to drop, the others renumbered (--prune-layers)"}
	p[quantKeepSplit] = boolean("write the output in the same split files as the split GGUF input (--keep-split)")
	p[quantOverrideKV] = list("KEY=TYPE:VALUE metadata overrides, TYPE int, float, bool or str (--override-kv)")
	return p
}

// llamaFlags are llama-quantize's options as the stage's params.
type llamaFlags struct {
	Imatrix        string     `json:"imatrix"`
	IncludeWeights wordList   `json:"include_weights"`
	ExcludeWeights wordList   `json:"exclude_weights"`
	TensorTypes    wordList   `json:"tensor_types"`
	TensorTypeFile string     `json:"tensor_type_file"`
	LeaveOutput    bool       `json:"leave_output_tensor"`
	PruneLayers    numberList `json:"prune_layers"`
	OverrideKV     lineList   `json:"override_kv"`
	KeepSplit      bool       `json:"keep_split"`

	tensorTypes []quant.Override
	prune       []int
	kv          []gguf.KV
}

// any reports whether an option that only llama-quantize's path has is set.
func (f *llamaFlags) any() bool {
	return f.Imatrix != "" || len(f.TensorTypes) > 0 || f.TensorTypeFile != "" || f.LeaveOutput ||
		f.PruneLayers != "" || len(f.OverrideKV) > 0 || f.KeepSplit
}

// parse checks and compiles the options at construction, reporting each by
// its parameter name.
func (f *llamaFlags) parse() error {
	if len(f.IncludeWeights) > 0 && len(f.ExcludeWeights) > 0 {
		return fmt.Errorf("%s and %s cannot be used together (as in llama-quantize)", quantInclude, quantExclude)
	}
	if (len(f.IncludeWeights) > 0 || len(f.ExcludeWeights) > 0) && f.Imatrix == "" {
		return fmt.Errorf("%s and %s select entries of an imatrix: set %s", quantInclude, quantExclude, quantImatrix)
	}
	for _, s := range f.TensorTypes {
		o, err := quant.ParseOverride(s)
		if err != nil {
			return fmt.Errorf("%s: %w", quantTensorTypes, err)
		}
		f.tensorTypes = append(f.tensorTypes, o)
	}
	if f.TensorTypeFile != "" {
		b, err := os.ReadFile(f.TensorTypeFile)
		if err != nil {
			return fmt.Errorf("%s: %w", quantTensorTypeFile, err)
		}
		for _, s := range strings.Fields(string(b)) {
			o, err := quant.ParseOverride(s)
			if err != nil {
				return fmt.Errorf("%s %s: %w", quantTensorTypeFile, f.TensorTypeFile, err)
			}
			f.tensorTypes = append(f.tensorTypes, o)
		}
	}
	if f.PruneLayers != "" {
		for _, s := range strings.Split(string(f.PruneLayers), ",") {
			n, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil || n < 0 {
				return fmt.Errorf("%s: %q is not a layer number", quantPrune, s)
			}
			f.prune = append(f.prune, n)
		}
		sort.Ints(f.prune)
		f.prune = compactInts(f.prune)
	}
	for _, s := range f.OverrideKV {
		kv, err := parseOverrideKV(s)
		if err != nil {
			return fmt.Errorf("%s: %w", quantOverrideKV, err)
		}
		f.kv = append(f.kv, kv)
	}
	return nil
}

func compactInts(s []int) []int {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// parseOverrideKV reads llama.cpp's KEY=TYPE:VALUE. As llama-quantize
// writes them, int becomes a UINT32 of the value's magnitude, float a
// FLOAT32; str values are at most 127 bytes. Numbers must parse whole
// (llama.cpp's atol/atof would read "12abc" as 12).
func parseOverrideKV(s string) (gguf.KV, error) {
	key, val, ok := strings.Cut(s, "=")
	if !ok || key == "" || len(key) >= 128 {
		return gguf.KV{}, fmt.Errorf("%q: want KEY=TYPE:VALUE with a key of 1..127 bytes, e.g. general.name=str:My Model", s)
	}
	typ, v, _ := strings.Cut(val, ":")
	switch typ {
	case "int":
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < -math.MaxUint32 || n > math.MaxUint32 {
			return gguf.KV{}, fmt.Errorf("%q: %q is not an integer that fits UINT32", s, v)
		}
		if n < 0 {
			n = -n
		}
		return gguf.KV{Key: key, Value: gguf.Uint32(uint32(n))}, nil
	case "float":
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return gguf.KV{}, fmt.Errorf("%q: %q is not a number", s, v)
		}
		return gguf.KV{Key: key, Value: gguf.Float32(float32(f))}, nil
	case "bool":
		if v != "true" && v != "false" {
			return gguf.KV{}, fmt.Errorf("%q: a bool is true or false", s)
		}
		return gguf.KV{Key: key, Value: gguf.Bool(v == "true")}, nil
	case "str":
		if len(v) > 127 {
			return gguf.KV{}, fmt.Errorf("%q: a str value is at most 127 bytes (llama.cpp's limit)", s)
		}
		return gguf.KV{Key: key, Value: gguf.String(v)}, nil
	}
	return gguf.KV{}, fmt.Errorf("%q: type %q, want int, float, bool or str", s, typ)
}

// blkNumber is the pattern llama-quantize's layer pruning renumbers.
var blkNumber = regexp.MustCompile(`blk\.(\d+)\.`)

// pruneLayers is llama-quantize's remap_layer over the tensors in loader
// order: tensors of pruned blocks go, blocks below the first pruned keep
// their number, the rest are numbered on from there. It returns the kept
// tensors (renamed copies), each one's original name (the imatrix's key),
// and the new block count.
func pruneLayers(ts []*tensor.Desc, prune []int) (kept []*tensor.Desc, orig map[*tensor.Desc]string, blocks int) {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Name
	}
	pruned := map[int]bool{}
	for _, p := range prune {
		pruned[p] = true
	}
	mapped := map[int]string{}
	next := 0
	out := make([]*tensor.Desc, len(ts))
	for _, i := range quant.LoaderOrder(names) {
		t := ts[i]
		loc := blkNumber.FindStringSubmatchIndex(t.Name)
		if loc == nil {
			out[i] = t
			continue
		}
		blk, err := strconv.Atoi(t.Name[loc[2]:loc[3]])
		if err != nil {
			out[i] = t
			continue
		}
		if _, ok := mapped[blk]; !ok {
			switch {
			case pruned[blk]:
				mapped[blk] = ""
			case blk < prune[0]:
				mapped[blk], next = strconv.Itoa(blk), blk+1
			default:
				mapped[blk] = strconv.Itoa(next)
				next++
			}
		}
		if mapped[blk] == "" {
			continue
		}
		c := t.Clone()
		c.Name = t.Name[:loc[2]] + mapped[blk] + t.Name[loc[3]:]
		out[i] = c
	}
	orig = map[*tensor.Desc]string{}
	for i, t := range out {
		if t != nil {
			kept = append(kept, t)
			orig[t] = ts[i].Name
		}
	}
	return kept, orig, next
}

// FactMetaOverrides is the Model.Facts key of metadata the quantize stage
// sets in the output GGUF ([]gguf.KV, applied in order after everything
// else): --override-kv values, the pruned block count, and the
// quantize.imatrix.* keys llama-quantize records.
const FactMetaOverrides = "meta_overrides"

// metaOverrides reads FactMetaOverrides.
func metaOverrides(m *pipeline.Model) []gguf.KV {
	kv, _ := m.Facts[FactMetaOverrides].([]gguf.KV)
	return kv
}

// wordList is a list parameter that also takes one whitespace-separated string.
type wordList []string

func (w *wordList) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*w = strings.Fields(s)
		return nil
	}
	return json.Unmarshal(b, (*[]string)(w))
}

// numberList is a comma-separated string that may also be one number (a
// recipe var holding "3" resolves to an integer).
type numberList string

func (n *numberList) UnmarshalJSON(b []byte) error {
	var i int64
	if json.Unmarshal(b, &i) == nil {
		*n = numberList(strconv.FormatInt(i, 10))
		return nil
	}
	return json.Unmarshal(b, (*string)(n))
}

// lineList is a list parameter that also takes one newline-separated string.
type lineList []string

func (l *lineList) UnmarshalJSON(b []byte) error {
	var s string
	if json.Unmarshal(b, &s) == nil {
		*l = nil
		for _, line := range strings.Split(s, "\n") {
			if line = strings.TrimSpace(line); line != "" {
				*l = append(*l, line)
			}
		}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(l))
}

// loaderOrder puts a GGUF input's tensors in the order llama-quantize
// writes them: its model loader's (quant.LoaderOrder).
func loaderOrder(ts []*tensor.Desc) []*tensor.Desc {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Name
	}
	out := make([]*tensor.Desc, 0, len(ts))
	for _, i := range quant.LoaderOrder(names) {
		out = append(out, ts[i])
	}
	return out
}

// unprunedLabel keeps a converted model's general.size_label at what the
// converter derives before pruning: llama-quantize prunes a converted file
// and copies its label. (A GGUF input's own label is kept anyway.)
func unprunedLabel(m *pipeline.Model) ([]gguf.KV, error) {
	a := archOf(m)
	if m.Format == "gguf" || a == nil {
		return nil, nil
	}
	h, err := a.Header(m.Config, m.Tensors, arch.HeaderOptions{Dir: m.Dir, OutType: tensor.F32})
	if err != nil {
		return nil, err
	}
	if v, ok := h.Get("general.size_label"); ok {
		return []gguf.KV{{Key: "general.size_label", Value: v}}, nil
	}
	return nil, nil
}

// FactKeepSplit is the Model.Facts key where quantize asks export for
// llama-quantize's --keep-split: the output file (0-based) of each tensor
// by name (map[string]int), the tensors already in file order.
const FactKeepSplit = "keep_split"

// keepSplit maps each (possibly renumbered) tensor to its input file.
func keepSplit(m *pipeline.Model, keys map[*tensor.Desc]string) (map[string]int, error) {
	in, ok := m.Facts[FactSplitParts].(map[string]int)
	if !ok {
		return nil, nil
	}
	out := make(map[string]int, len(m.Tensors))
	for _, t := range m.Tensors {
		key, ok := keys[t]
		if !ok {
			key = t.Name
		}
		p, ok := in[key]
		if !ok {
			return nil, fmt.Errorf("%s: tensor %s is in no file of the input split set", quantKeepSplit, t.Name)
		}
		out[t.Name] = p
	}
	return out, nil
}

// splitGroups cuts ts into runs of tensors of the same file, as
// llama-quantize --keep-split writes them; nil when export was not asked.
func splitGroups(m *pipeline.Model) [][]*tensor.Desc {
	parts, ok := m.Facts[FactKeepSplit].(map[string]int)
	if !ok {
		return nil
	}
	var groups [][]*tensor.Desc
	for i, t := range m.Tensors {
		if i == 0 || parts[t.Name] != parts[m.Tensors[i-1].Name] {
			groups = append(groups, nil)
		}
		groups[len(groups)-1] = append(groups[len(groups)-1], t)
	}
	return groups
}
