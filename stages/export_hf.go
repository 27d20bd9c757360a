package stages

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/mlmf-run/mlmf-run/internal/pyjson"
	"github.com/mlmf-run/mlmf-run/pipeline"
	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
	"github.com/mlmf-run/mlmf-run/tensor/safetensors"
)

const (
	exportSplitMaxSize    = "split_max_size"
	exportSplitMaxTensors = "split_max_tensors"
	exportMaxShardSize    = "max_shard_size"
	exportFilesFrom       = "files_from"
)

// init adds the split and HF folder parameters to export's schema, so that
// they live in this file with the code that reads them.
func init() {
	p := exportSpec.Params["properties"].(map[string]any)
	p[exportSplitMaxSize] = map[string]any{"type": []any{"string", "integer"},
		"description": "gguf: split as gguf-split --split-max-size: N followed by M (10^6 bytes) or G (10^9 bytes); empty: no split"}
	p[exportSplitMaxTensors] = integer("gguf: split as gguf-split --split-max-tensors (0: no split)", 0)
	p[exportMaxShardSize] = map[string]any{"type": []any{"string", "integer"},
		"description": "hf: largest safetensors shard, with transformers' units (5GB = 5*10^9, 5GiB = 5*2^30; default " + DefaultMaxShardSize + ")"}
	p[exportFilesFrom] = str("hf: folder to copy tokenizer and generation_config files from (default: the model's own folder)")
}

// DefaultMaxShardSize is transformers' save_pretrained default.
const DefaultMaxShardSize = "50GB"

// hfOptions are export's parameters for GGUF splits and Hugging Face
// folders. An empty split_max_size and a zero split_max_tensors mean one
// GGUF file, so a recipe can pass both through vars unconditionally.
type hfOptions struct {
	SplitMaxSize    any    `json:"split_max_size"`
	SplitMaxTensors int    `json:"split_max_tensors"`
	MaxShardSize    any    `json:"max_shard_size"`
	FilesFrom       string `json:"files_from"`
	splitBytes      int64
	shardBytes      int64
}

func (o *hfOptions) check(format, path string) error {
	if o.SplitMaxSize != nil && sizeString(o.SplitMaxSize) != "" {
		var err error
		if o.splitBytes, err = ParseSplitSize(sizeString(o.SplitMaxSize)); err != nil {
			return fmt.Errorf("split_max_size: %w", err)
		}
	}
	if o.splitBytes > 0 && o.SplitMaxTensors > 0 {
		return errors.New("split_max_size and split_max_tensors exclude each other (as in gguf-split)")
	}
	if o.splitting() && format != "gguf" && format != "auto" {
		return fmt.Errorf("split_max_size and split_max_tensors apply to GGUF output, not %s; use max_shard_size", format)
	}
	shard := DefaultMaxShardSize
	if o.MaxShardSize != nil && sizeString(o.MaxShardSize) != "" {
		if format != "hf" {
			return errors.New("max_shard_size applies to format: hf")
		}
		shard = sizeString(o.MaxShardSize)
	}
	var err error
	if o.shardBytes, err = safetensors.ParseSize(shard); err != nil {
		return fmt.Errorf("max_shard_size: %w", err)
	}
	if o.shardBytes <= 0 {
		return errors.New("max_shard_size must be positive")
	}
	return nil
}

func (o *hfOptions) splitting() bool { return o.splitBytes > 0 || o.SplitMaxTensors > 0 }

func (s *exportStage) planSplits(meta *gguf.Meta, ts []*tensor.Desc) error {
	var groups [][]*tensor.Desc
	if s.splitBytes > 0 {
		var err error
		if groups, err = splitBySize(ts, s.splitBytes, false); err != nil {
			return err
		}
	} else {
		groups = splitByCount(ts, s.SplitMaxTensors, false)
	}
	var err error
	s.outs, err = ggufSplitFiles(s.Path, meta, groups)
	return err
}

// hfSideFiles are the files beside the weights that a Hugging Face folder
// carries over unchanged.
var hfSideFiles = []string{"tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json",
	"added_tokens.json", "vocab.json", "merges.txt", "chat_template.jinja", "chat_template.json", "generation_config.json",
	"preprocessor_config.json", "processor_config.json"}

func sortedNames(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// planHF writes a Hugging Face folder: safetensors sharded as transformers
// shards them, config.json (the source's own file when the model came from
// a folder, else written from m.Config) and the tokenizer and generation
// files copied verbatim. Every file it reads goes to m.Files.
func (s *exportStage) planHF(m *pipeline.Model) error {
	if m.Naming != "hf" {
		return errors.New("tensors have GGUF names: add an unmap stage before an hf export")
	}
	outs, err := safetensorsShards(s.Path, m.Tensors, safetensors.PlanShards(m.Tensors, s.shardBytes))
	if err != nil {
		return err
	}
	cfg, err := s.configFile(m)
	if err != nil {
		return err
	}
	outs = append(outs, sideFile(filepath.Join(s.Path, "config.json"), cfg))
	made, _ := m.Facts[FactSideFiles].(map[string][]byte)
	for _, name := range sortedNames(made) {
		outs = append(outs, sideFile(filepath.Join(s.Path, name), made[name]))
	}
	from := s.FilesFrom
	if from == "" {
		from = m.Dir
	}
	if from != "" {
		for _, name := range hfSideFiles {
			if _, ok := made[name]; ok {
				continue
			}
			p := filepath.Join(from, name)
			b, err := readSideFile(from, name)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				return err
			}
			m.Files = append(m.Files, p)
			outs = append(outs, sideFile(filepath.Join(s.Path, name), b))
		}
	}
	s.outs = outs
	return nil
}

func (s *exportStage) configFile(m *pipeline.Model) ([]byte, error) {
	if m.Format != "gguf" && m.Dir != "" {
		b, err := readSideFile(m.Dir, "config.json")
		if err == nil {
			m.Files = append(m.Files, filepath.Join(m.Dir, "config.json"))
			return b, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	if m.Config == nil {
		return nil, errors.New("no config.json to write: the model has no configuration (a GGUF needs an unmap stage)")
	}
	return ConfigJSON(m.Config)
}

// readSideFile reads a file that is copied into an output: only a regular
// file from the model folder itself (tensor.CheckInside says why).
func readSideFile(dir, name string) ([]byte, error) {
	p := filepath.Join(dir, name)
	if err := tensor.CheckInside(dir, p); err != nil {
		return nil, fmt.Errorf("%w: refusing to copy it into the output", err)
	}
	return tensor.ReadInput(p)
}

// isRegular reports whether p is a regular file, following links.
func isRegular(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// ConfigJSON spells a config the way transformers saves one:
// json.dumps(cfg, indent=2, sort_keys=True) and a newline.
func ConfigJSON(cfg map[string]any) ([]byte, error) {
	b, err := appendIndented(nil, cfg, "")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// floatKeys name config entries that transformers keeps as floats even
// when their value is whole (rope_theta: 10000.0); other whole numbers
// are integers, as decoded JSON leaves every number a float64.
var floatKeys = []string{"theta", "eps", "factor", "softcapping", "beta_", "rope_pct", "dropout", "range", "scale"}

func isFloatKey(k string) bool {
	for _, f := range floatKeys {
		if strings.Contains(k, f) {
			return true
		}
	}
	return false
}

func appendIndented(b []byte, v any, ind string) ([]byte, error) {
	return appendValue(b, v, ind, false)
}

func appendValue(b []byte, v any, ind string, float bool) ([]byte, error) {
	in := ind + "  "
	switch x := v.(type) {
	case float64:
		if !float && x == math.Trunc(x) && math.Abs(x) < 1<<53 {
			return strconv.AppendInt(b, int64(x), 10), nil
		}
	case map[string]any:
		if len(x) == 0 {
			return append(b, "{}"...), nil
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(append(b, '\n'), in...)
			b = append(pyjson.AppendString(b, k), ": "...)
			var err error
			if b, err = appendValue(b, x[k], in, isFloatKey(k)); err != nil {
				return nil, fmt.Errorf("config key %q: %w", k, err)
			}
		}
		return append(append(append(b, '\n'), ind...), '}'), nil
	case []any:
		if len(x) == 0 {
			return append(b, "[]"...), nil
		}
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(append(b, '\n'), in...)
			var err error
			if b, err = appendValue(b, e, in, float); err != nil {
				return nil, err
			}
		}
		return append(append(append(b, '\n'), ind...), ']'), nil
	}
	return pyjson.Append(b, v)
}
