// Package arch knows Hugging Face model architectures the way llama.cpp's
// convert_hf_to_gguf.py does: which config.json names an architecture, which
// GGUF keys its hyperparameters become, which GGUF name each HF tensor takes
// and which transform (Q/K permutation, Gemma's norm + 1, expert stacking,
// GPT-2's Conv1D transposition, ...) its rows go through on the way.
//
// The knowledge is data: one YAML table per architecture in tables/, embedded
// in the binary, parsed by Parse. A recipe can supply a table for an
// architecture this build does not know. Transforms are Go code that wraps
// tensor.Source values, so nothing is read until the plan executes.
package arch

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

//go:embed tables/*.yaml
var tableFS embed.FS

// Table is the declarative description of one architecture, the format of
// tables/*.yaml. Field comments say what each YAML key means.
type Table struct {
	// Arch is the GGUF architecture name (general.architecture).
	Arch string `yaml:"arch"`
	// HFArchitectures are config.json "architectures" entries that select it.
	HFArchitectures []string `yaml:"hf_architectures"`
	// ModelTypes are config.json "model_type" values that select it when no
	// architecture entry is known.
	ModelTypes []string `yaml:"model_types"`
	// Rename rewrites HF name prefixes before matching (multimodal wrappers).
	Rename []Rename `yaml:"rename"`
	// Skip lists HF names dropped on purpose; '*' matches any run of characters.
	Skip []string `yaml:"skip"`
	// DropConfig lists config.json keys the converter removes before it reads
	// the config (Granite's head_dim), so no key or param sees them.
	DropConfig []string `yaml:"drop_config"`
	// Params are named values computed from the config, used by keys,
	// transforms and checks. n_layer is the block count the tensors are
	// checked against, n_block instead when the table has it (GLM-4.5 keeps
	// its multi-token-prediction blocks past num_hidden_layers).
	Params map[string]Param `yaml:"params"`
	// SkipBlocksFrom names a param: blocks numbered from its value on are
	// dropped (DeepSeek-V3's multi-token-prediction layer, which the
	// converter leaves out).
	SkipBlocksFrom string `yaml:"skip_blocks_from"`
	// Keys are the GGUF metadata keys in the converter's order.
	Keys []Key `yaml:"keys"`
	// SentencePieceKeys are tokenizer keys the converter's class adds after
	// a SentencePiece vocabulary (Gemma's add_space_prefix = false); they
	// are not written for a tokenizer.json vocabulary.
	SentencePieceKeys []Key `yaml:"sentencepiece_keys"`
	// AddPrefixSpaceFor lists the model types whose converter class is
	// LlamaModel's set_vocab, which writes tokenizer_config.json's
	// add_prefix_space (when not null) as tokenizer.ggml.add_space_prefix
	// ahead of the vocabulary. Per model type, as one table can cover a
	// class that does not (llama.yaml's InternLM3 writes it elsewhere).
	AddPrefixSpaceFor []string `yaml:"add_prefix_space_for"`
	// PreFor names, per model type, the llama.cpp pre-tokenizer the
	// converter's hash list gives that family's own tokenizer. It settles a
	// pre_tokenizer definition llama.cpp lists under several names
	// (StarCoder 2's under starcoder, refact, command-r, smollm) when the
	// name is one of them; anything else still asks for the name.
	PreFor map[string]string `yaml:"pre_for"`
	// LlamaSWAPeriod is the sliding-window pattern llama.cpp assumes for
	// this architecture when the file names none (load_swa_pattern's
	// default: every n-th layer global). The converter writes no pattern for
	// these architectures, so a config whose layer_types say otherwise (a
	// fine-tune, a reshaped model) would run with the wrong layers sliding;
	// only then is the pattern written (keys_swa.go, swaBeyondConverter).
	LlamaSWAPeriod int `yaml:"llama_swa_period"`
	// VocabReader names the converter class's own vocabulary reader where
	// it differs from TextModel's (vocab.ReaderInternLM2, ReaderKimi,
	// ReaderHunyuan).
	VocabReader string `yaml:"vocab_reader"`
	// Tensors map HF names to GGUF names.
	Tensors []TensorRule `yaml:"tensors"`
	// Groups name stacked tensors emitted together, in this order, once every
	// member of one block has been seen (Mixtral: gate, down, up experts).
	Groups map[string][]string `yaml:"groups"`
	// Generate names tensors the converter synthesizes (rope_freqs_llama3).
	Generate []string `yaml:"generate"`
	// F32 lists extra GGUF name patterns kept in float32 whatever the output type.
	F32 []string `yaml:"f32"`
	// Checks compare tensor shapes with the config at detection time.
	Checks []Check `yaml:"checks"`
}

// Rename replaces a name prefix.
type Rename struct {
	From string `yaml:"from"`
	To   string `yaml:"to"`
}

// Param is one named hyperparameter: the first config key of From that is
// present, else Expr evaluated over other params, else Default.
type Param struct {
	From    strList `yaml:"from"`
	Expr    string  `yaml:"expr"`
	Default any     `yaml:"default"`
}

// Key is one GGUF metadata entry. Include expands a built-in list instead
// ("text_model": the converter's TextModel.set_gguf_parameters).
type Key struct {
	Include string `yaml:"include"`
	// Key is relative to the architecture ("context_length" means
	// "{arch}.context_length") unless it starts with "general.".
	Key string `yaml:"key"`
	// The value: a named Param, the first present config key of From, an
	// expression, or a constant; Default when none resolves.
	Param   string  `yaml:"param"`
	From    strList `yaml:"from"`
	Expr    string  `yaml:"expr"`
	Value   any     `yaml:"value"`
	Default any     `yaml:"default"`
	// Type is the GGUF value type: UINT32, INT32, UINT64, FLOAT32, BOOL, STRING.
	Type string `yaml:"type"`
	// Optional keys are left out when their value does not resolve;
	// otherwise an unresolved key is an error naming the config keys tried.
	Optional bool `yaml:"optional"`
	// Unless skips the key when this expression is non-zero.
	Unless string `yaml:"unless"`
	// If writes the key only when this expression resolves and is non-zero
	// (Nemotron's linear rope scaling, only with a factor).
	If string `yaml:"if"`
	// TokenizerSource reads the value from the tokenizer files instead
	// (sentencepiece_keys only; tokkeys.go).
	TokenizerSource `yaml:",inline"`
}

// TensorRule maps one HF base name pattern ({bid}: block number, {xid}:
// expert number) to a GGUF base name; each suffix is appended to both.
type TensorRule struct {
	HF       strList `yaml:"hf"`
	GGUF     string  `yaml:"gguf"`
	Suffixes strList `yaml:"suffixes"` // default: weight, bias
	// Transforms in order, each "name" or "name:param": permute_qk:n_head,
	// norm_plus_one, transpose, falcon_qkv, truncate_vocab.
	Transforms strList `yaml:"transforms"`
	// Stack gathers numbered tensors ({xid}) into one with a new leading axis.
	Stack *Stack `yaml:"stack"`
	// Split cuts the tensor into several GGUF tensors instead of renaming it
	// (GGUF must then be empty).
	Split *Split `yaml:"split"`
	// DropIf drops the tensor when this expression over params and config
	// is non-zero (Hunyuan's lm_head with tie_word_embeddings); see drop.go.
	DropIf string `yaml:"drop_if"`
}

// Split says how one HF tensor becomes several, as DeepSeek's kv_b_proj
// becomes attn_k_b and attn_v_b: its rows are Groups groups (one when
// empty), each made of the parts' rows in order, and each part takes its
// rows of every group.
type Split struct {
	// Groups is an expression over params; when set each part has the
	// shape [groups, rows, row length], else [rows, row length].
	Groups string      `yaml:"groups"`
	Parts  []SplitPart `yaml:"parts"`
	// Interleave deals a group's rows to the parts in turn (gpt-oss's
	// gate_up_proj: gate rows even, up rows odd) instead of in runs; a
	// [groups, row] tensor (its bias) has its elements dealt the same way.
	// The parts must have equal rows.
	Interleave bool `yaml:"interleave"`
}

// SplitPart is one output of a Split.
type SplitPart struct {
	GGUF       string  `yaml:"gguf"`
	Rows       string  `yaml:"rows"` // expression over params: rows per group
	Transforms strList `yaml:"transforms"`
}

// Stack says how many members a stacked tensor has and which group it is
// emitted with.
type Stack struct {
	Count string `yaml:"count"` // param name
	Group string `yaml:"group"` // key of Table.Groups; empty: emitted alone
}

// Check says a tensor dimension must equal an expression over params.
type Check struct {
	Tensor string `yaml:"tensor"` // HF name, {bid} replaced by each block; "a|b": the first present
	Dim    int    `yaml:"dim"`    // row-major dimension index
	Expr   string `yaml:"expr"`
	Why    string `yaml:"why"` // what a mismatch means, for the message
	// Required: the tensor must be present (in every block, for a {bid}
	// name); otherwise a missing tensor passes the check.
	Required bool `yaml:"required"`
}

// strList accepts a YAML scalar or a sequence of scalars.
type strList []string

func (s *strList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*s = []string{n.Value}
		return nil
	}
	var l []string
	if err := n.Decode(&l); err != nil {
		return err
	}
	*s = l
	return nil
}

// Arch is a parsed, checked table ready for use.
type Arch struct {
	Table
	rules []*rule
	skips []*regexp.Regexp
}

// Name is the GGUF architecture name.
func (a *Arch) Name() string { return a.Arch }

var builtin = map[string]*Arch{}

// fileOf names the embedded file of each builtin table.
var fileOf = map[string]string{}

func init() {
	files, err := fs.Glob(tableFS, "tables/*.yaml")
	if err != nil {
		panic(err)
	}
	for _, f := range files {
		b, err := tableFS.ReadFile(f)
		if err != nil {
			panic(err)
		}
		a, err := Parse(b)
		if err != nil {
			panic(fmt.Sprintf("embedded %s: %v", f, err))
		}
		builtin[a.Arch] = a
		fileOf[a.Arch] = strings.TrimPrefix(f, "tables/")
	}
}

// Known lists the GGUF architecture names of the embedded tables.
func Known() []string {
	out := make([]string, 0, len(builtin))
	for k := range builtin {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Lookup returns the embedded table for a GGUF architecture name.
func Lookup(name string) (*Arch, bool) {
	a, ok := builtin[name]
	return a, ok
}

// Parse reads a table in the format of the embedded files and checks it:
// unknown YAML keys, unknown transforms, groups and params are errors.
func Parse(b []byte) (*Arch, error) {
	var t Table
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&t); err != nil {
		return nil, fmt.Errorf("arch table: %w", err)
	}
	return build(t)
}

// build checks a decoded table and compiles its rules; vision tables,
// which extend the format, share it.
func build(t Table) (*Arch, error) {
	if t.Arch == "" {
		return nil, fmt.Errorf("arch table: missing arch")
	}
	a := &Arch{Table: t}
	for _, s := range t.Skip {
		a.skips = append(a.skips, globRegexp(s))
	}
	for i := range t.Tensors {
		r, err := compileRule(&a.Table, &t.Tensors[i])
		if err != nil {
			return nil, fmt.Errorf("arch table %s: tensors[%d]: %w", t.Arch, i, err)
		}
		a.rules = append(a.rules, r...)
	}
	for i, k := range t.SentencePieceKeys {
		if err := checkKey(&a.Table, k); err != nil || k.Include != "" {
			if err == nil {
				err = fmt.Errorf("include is not allowed here")
			}
			return nil, fmt.Errorf("arch table %s: sentencepiece_keys[%d]: %w", t.Arch, i, err)
		}
	}
	if r := t.VocabReader; r != "" && r != "internlm2" && r != "kimi" && r != "hunyuan" { // vocab.ReaderInternLM2, ReaderKimi, ReaderHunyuan
		return nil, fmt.Errorf("arch table %s: vocab_reader %q: unknown (known: internlm2, kimi, hunyuan)", t.Arch, r)
	}
	if p := t.SkipBlocksFrom; p != "" {
		if _, ok := t.Params[p]; !ok {
			return nil, fmt.Errorf("arch table %s: skip_blocks_from: unknown param %q", t.Arch, p)
		}
	}
	for i, k := range t.Keys {
		if k.TokenizerSource.set() {
			return nil, fmt.Errorf("arch table %s: keys[%d]: %s: spm and added_token are read only in sentencepiece_keys", t.Arch, i, k.Key)
		}
		if err := checkKey(&a.Table, k); err != nil {
			return nil, fmt.Errorf("arch table %s: keys[%d]: %w", t.Arch, i, err)
		}
	}
	for _, g := range t.Generate {
		if _, ok := generators[g]; !ok {
			return nil, fmt.Errorf("arch table %s: unknown generated tensor %q (known: %s)", t.Arch, g, strings.Join(sortedKeys(generators), ", "))
		}
	}
	return a, nil
}

func checkKey(t *Table, k Key) error {
	if k.Include != "" {
		if _, ok := includes[k.Include]; !ok {
			return fmt.Errorf("unknown include %q (known: %s)", k.Include, strings.Join(sortedKeys(includes), ", "))
		}
		return nil
	}
	if k.Key == "" {
		return fmt.Errorf("missing key")
	}
	if err := checkTokenizerSource(k); err != nil {
		return err
	}
	if k.Key != keyFileType {
		switch k.Type {
		case "UINT32", "INT32", "UINT64", "FLOAT32", "BOOL", "STRING":
		default:
			return fmt.Errorf("key %s: unknown GGUF type %q (want UINT32, INT32, UINT64, FLOAT32, BOOL or STRING)", k.Key, k.Type)
		}
	}
	if k.Param != "" {
		if _, ok := t.Params[k.Param]; !ok {
			return fmt.Errorf("key %s: unknown param %q", k.Key, k.Param)
		}
	}
	return nil
}

// globRegexp compiles a pattern where '*' matches any run of characters.
func globRegexp(p string) *regexp.Regexp {
	parts := strings.Split(p, "*")
	for i := range parts {
		parts[i] = regexp.QuoteMeta(parts[i])
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var (
	reCacheMu sync.Mutex
	reCache   = map[string]*regexp.Regexp{}
)

// compileCached compiles an anchored pattern once.
func compileCached(pat string) *regexp.Regexp {
	reCacheMu.Lock()
	defer reCacheMu.Unlock()
	re, ok := reCache[pat]
	if !ok {
		re = regexp.MustCompile("^" + pat + "$")
		reCache[pat] = re
	}
	return re
}

func regexpQuote(s string) string { return regexp.QuoteMeta(s) }
