package quant

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// Mix is one of llama-quantize's file types: a default tensor type plus the
// per-tensor rules that spend more bits where they matter (attn_v, ffn_down,
// the output head). The same names and numbers appear in GGUF files as
// general.file_type, so a mix is also what a quantized file says it is.
type Mix struct {
	Name     string       // llama-quantize's spelling: "Q4_K_M"
	FileType uint32       // llama_ftype, written as general.file_type
	Default  tensor.DType // the type of every quantized tensor no rule singles out
}

// llama_ftype values (llama.h). Only those with a mix here are listed.
const (
	ftAllF32   = 0
	ftF16      = 1
	ftQ4_0     = 2
	ftQ4_1     = 3
	ftQ8_0     = 7
	ftQ5_0     = 8
	ftQ5_1     = 9
	ftQ2_K     = 10
	ftQ3_K_S   = 11
	ftQ3_K_M   = 12
	ftQ3_K_L   = 13
	ftQ4_K_S   = 14
	ftQ4_K_M   = 15
	ftQ5_K_S   = 16
	ftQ5_K_M   = 17
	ftQ6_K     = 18
	ftIQ2_XXS  = 19
	ftIQ2_XS   = 20
	ftQ2_K_S   = 21
	ftIQ3_XS   = 22
	ftIQ3_XXS  = 23
	ftIQ1_S    = 24
	ftIQ4_NL   = 25
	ftIQ3_S    = 26
	ftIQ3_M    = 27
	ftIQ2_S    = 28
	ftIQ2_M    = 29
	ftIQ4_XS   = 30
	ftIQ1_M    = 31
	ftBF16     = 32
	ftTQ1_0    = 36
	ftTQ2_0    = 37
	ftMXFP4MoE = 38
	ftQ1_0     = 40
	ftQ2_0     = 41
)

// mixes is in llama-quantize's listing order, with llama_ftype_get_default_type's
// base types (IQ2_S's is IQ2_XS, IQ2_M's IQ2_S, IQ3_XS's and IQ3_M's IQ3_S).
// The lowest-bit ones need an importance matrix for most tensors (see
// needsImatrix); Plan refuses them without one, as llama-quantize does.
var mixes = []Mix{
	{"Q1_0", ftQ1_0, tensor.Q1_0},
	{"Q2_0", ftQ2_0, tensor.Q2_0},
	{"Q4_0", ftQ4_0, tensor.Q4_0},
	{"Q4_1", ftQ4_1, tensor.Q4_1},
	{"MXFP4_MOE", ftMXFP4MoE, tensor.MXFP4},
	{"Q5_0", ftQ5_0, tensor.Q5_0},
	{"Q5_1", ftQ5_1, tensor.Q5_1},
	{"IQ2_XXS", ftIQ2_XXS, tensor.IQ2_XXS},
	{"IQ2_XS", ftIQ2_XS, tensor.IQ2_XS},
	{"IQ2_S", ftIQ2_S, tensor.IQ2_XS},
	{"IQ2_M", ftIQ2_M, tensor.IQ2_S},
	{"IQ1_S", ftIQ1_S, tensor.IQ1_S},
	{"IQ1_M", ftIQ1_M, tensor.IQ1_M},
	{"TQ1_0", ftTQ1_0, tensor.TQ1_0},
	{"TQ2_0", ftTQ2_0, tensor.TQ2_0},
	{"Q2_K", ftQ2_K, tensor.Q2_K},
	{"Q2_K_S", ftQ2_K_S, tensor.Q2_K},
	{"IQ3_XXS", ftIQ3_XXS, tensor.IQ3_XXS},
	{"IQ3_S", ftIQ3_S, tensor.IQ3_S},
	{"IQ3_M", ftIQ3_M, tensor.IQ3_S},
	{"IQ3_XS", ftIQ3_XS, tensor.IQ3_S},
	{"Q3_K_S", ftQ3_K_S, tensor.Q3_K},
	{"Q3_K_M", ftQ3_K_M, tensor.Q3_K},
	{"Q3_K_L", ftQ3_K_L, tensor.Q3_K},
	{"IQ4_NL", ftIQ4_NL, tensor.IQ4_NL},
	{"IQ4_XS", ftIQ4_XS, tensor.IQ4_XS},
	{"Q4_K_S", ftQ4_K_S, tensor.Q4_K},
	{"Q4_K_M", ftQ4_K_M, tensor.Q4_K},
	{"Q5_K_S", ftQ5_K_S, tensor.Q5_K},
	{"Q5_K_M", ftQ5_K_M, tensor.Q5_K},
	{"Q6_K", ftQ6_K, tensor.Q6_K},
	{"Q8_0", ftQ8_0, tensor.Q8_0},
	{"F16", ftF16, tensor.F16},
	{"BF16", ftBF16, tensor.BF16},
	{"F32", ftAllF32, tensor.F32},
}

// mixAliases are llama-quantize's short names for the _M mixes.
var mixAliases = map[string]string{"Q3_K": "Q3_K_M", "Q4_K": "Q4_K_M", "Q5_K": "Q5_K_M"}

// Mixes lists the known mix names, aliases included.
func Mixes() []string {
	out := make([]string, 0, len(mixes)+len(mixAliases))
	for _, m := range mixes {
		out = append(out, m.Name)
	}
	for a := range mixAliases {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// ParseMix accepts a mix name case-insensitively ("q4_k_m", "Q4_K" for
// Q4_K_M) or its general.file_type number, as llama-quantize does.
func ParseMix(name string) (*Mix, error) {
	u := strings.ToUpper(strings.TrimSpace(name))
	if a, ok := mixAliases[u]; ok {
		u = a
	}
	n, numErr := strconv.ParseUint(u, 10, 32)
	for i := range mixes {
		if mixes[i].Name == u || (numErr == nil && uint64(mixes[i].FileType) == n) {
			m := mixes[i]
			return &m, nil
		}
	}
	return nil, fmt.Errorf("unknown quantization mix %q (known: %s)", name, strings.Join(Mixes(), ", "))
}

// ModelInfo is what the rules need from the model's hyperparameters.
// Whether embeddings are tied is not asked: like llama.cpp, Plan decides it
// from the absence of output.weight in the tensor list.
type ModelInfo struct {
	Arch    string // general.architecture: "llama", "falcon", ...
	NLayer  int    // {arch}.block_count
	NExpert int    // {arch}.expert_count, 0 for dense models
	NHead   int    // {arch}.attention.head_count (of layer 0)
	NHeadKV int    // {arch}.attention.head_count_kv (of layer 0)
	// Type70B forces llama.cpp's LLM_TYPE_70B (attn_v gets Q5_K instead of
	// Q3_K/Q4_K). Plan also infers it for the architectures Infer70B knows.
	Type70B bool
}

// gqa is llama_hparams::n_gqa for layer 0.
func (mi ModelInfo) gqa() int {
	if mi.NHeadKV == 0 {
		return 0
	}
	return mi.NHead / mi.NHeadKV
}

// Infer70B reports whether llama.cpp's loader would size the model as 70B,
// for the architectures whose rule is known here (llama, qwen2, deci, jais2).
func Infer70B(mi ModelInfo) bool {
	switch mi.Arch {
	case "llama":
		return mi.NLayer == 80 && mi.NHead != mi.NHeadKV
	case "qwen2", "deci":
		return mi.NLayer == 80
	case "jais2":
		return mi.NLayer == 68
	}
	return false
}

// Override forces a type on the tensors whose name the pattern matches
// anywhere (llama-quantize --tensor-type); the first matching override wins.
type Override struct {
	Pattern *regexp.Regexp
	Type    tensor.DType
}

// ParseOverride reads llama-quantize's "pattern=type" spelling. The pattern
// is lower-cased, as llama-quantize does, and is a Go (RE2) regexp where
// llama.cpp uses ECMAScript; the common patterns mean the same in both.
func ParseOverride(s string) (Override, error) {
	pat, typ, ok := strings.Cut(s, "=")
	if !ok || pat == "" || typ == "" {
		return Override{}, fmt.Errorf("tensor type override %q: want pattern=type, e.g. attn_q=q8_0", s)
	}
	re, err := regexp.Compile(strings.ToLower(pat))
	if err != nil {
		return Override{}, fmt.Errorf("tensor type override %q: %v", s, err)
	}
	d, err := tensor.ParseDType(typ)
	if err != nil || d.Info().GGML < 0 {
		return Override{}, fmt.Errorf("tensor type override %q: %q is not a ggml type", s, typ)
	}
	return Override{re, d}, nil
}

// Options are llama-quantize's flags that change type choices.
type Options struct {
	Pure          bool         // --pure: no per-tensor rules, every quantized tensor gets the default
	LeaveOutput   bool         // --leave-output-tensor: output.weight keeps its type
	OutputType    tensor.DType // --output-tensor-type; Invalid = the mix's rule
	EmbeddingType tensor.DType // --token-embedding-type; Invalid = the mix's rule
	Overrides     []Override   // --tensor-type, first match wins
	HasImatrix    bool         // an importance matrix is used (changes Q4_0/Q5_0 ffn_down)
}

// Fallback records a tensor whose row length the chosen type cannot take,
// and what llama.cpp chose instead.
type Fallback struct {
	Name       string
	Cols       int64
	Want, Used tensor.DType
}

// Report is a Plan with the details llama-quantize prints along the way.
type Report struct {
	Types        []tensor.DType // per input tensor, in input order
	Quantizable  []bool         // whether llama.cpp considers the tensor for quantization at all
	Fallbacks    []Fallback     // "N of M tensor(s) required fallback quantization"
	NeedsImatrix []string       // tensors llama-quantize refuses to write without an imatrix
}

// Plan chooses every tensor's type as llama-quantize would, or fails where
// it would (an unknown layer of an MoE tensor, a row length no fallback
// fits, a tensor that needs an importance matrix). Tensors that are not
// quantized keep their dtype.
func (m *Mix) Plan(info ModelInfo, tensors []*tensor.Desc, opt Options) ([]tensor.DType, error) {
	r, err := m.PlanReport(info, tensors, opt)
	if err != nil {
		return nil, err
	}
	if len(r.NeedsImatrix) > 0 {
		return nil, fmt.Errorf("quantization mix %s: tensor %s needs an importance matrix as %v, and none is given",
			m.Name, r.NeedsImatrix[0], r.Types[indexOf(tensors, r.NeedsImatrix[0])])
	}
	return r.Types, nil
}

func indexOf(ts []*tensor.Desc, name string) int {
	for i, t := range ts {
		if t.Name == name {
			return i
		}
	}
	return -1
}

// PlanReport is Plan that also returns the fallbacks and the tensors that
// need an importance matrix (it does not fail for those). The tensor order
// does not matter: the rules' layer counters run in llama.cpp's loader order
// (see LoaderOrder), as llama-quantize's do.
func (m *Mix) PlanReport(info ModelInfo, tensors []*tensor.Desc, opt Options) (*Report, error) {
	p, err := newPlanner(m, info, tensors, opt)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(tensors))
	for i, t := range tensors {
		names[i] = t.Name
	}
	r := &Report{Types: make([]tensor.DType, len(tensors)), Quantizable: make([]bool, len(tensors))}
	for _, i := range LoaderOrder(names) {
		t := tensors[i]
		r.Quantizable[i] = allowsQuantization(t, opt)
		if !r.Quantizable[i] {
			r.Types[i] = t.DType
			continue
		}
		if r.Types[i], err = p.tensorType(t, r); err != nil {
			return nil, fmt.Errorf("quantization mix %s: tensor %s: %w", m.Name, t.Name, err)
		}
		if needsImatrix(t.Name, r.Types[i], m.FileType) {
			r.NeedsImatrix = append(r.NeedsImatrix, t.Name)
		}
	}
	return r, nil
}

// LoaderOrder is the order in which llama.cpp's model loader hands tensors to
// the quantizer, and so the order of tensors in a llama-quantize output:
// tensors outside blocks first, then by block number, then by name.
func LoaderOrder(names []string) []int {
	idx := make([]int, len(names))
	layer := make([]int, len(names))
	for i, n := range names {
		idx[i] = i
		if l, ok := blockOf(n); ok {
			layer[i] = l
		} else {
			layer[i] = -1
		}
	}
	sort.SliceStable(idx, func(a, b int) bool {
		if la, lb := layer[idx[a]], layer[idx[b]]; la != lb {
			return la < lb
		}
		return names[idx[a]] < names[idx[b]]
	})
	return idx
}

// blockOf reads the N of "blk.N..." the way sscanf("blk.%d.") does: leading
// spaces and a sign are allowed, the trailing dot is not checked.
func blockOf(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, "blk.")
	if !ok {
		return 0, false
	}
	s = strings.TrimLeft(s, " \t\n\v\f\r")
	end := 0
	if end < len(s) && (s[end] == '+' || s[end] == '-') {
		end++
	}
	digits := end
	for end < len(s) && s[end] >= '0' && s[end] <= '9' {
		end++
	}
	if end == digits {
		return 0, false
	}
	n, err := strconv.ParseInt(s[:end], 10, 32)
	if err != nil { // out of int range: saturate, the name is absurd anyway
		if s[0] == '-' {
			return -1 << 31, true
		}
		return 1<<31 - 1, true
	}
	return int(n), true
}
