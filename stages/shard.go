package stages

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/mlmf-run/mlmf-run/pipeline"
	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/safetensors"
)

const (
	shardFormat     = "format"
	shardPath       = "path"
	shardBy         = "by"
	shardMaxSize    = "max_size"
	shardMaxTensors = "max_tensors"
	shardParts      = "parts"
	shardNoFirst    = "no_tensor_first_split"
	shardManifest   = "manifest"
)

// sizeParam is a size given as a string with a unit or as a plain byte
// count (a --set var of digits arrives as an integer).
var sizeParam = map[string]any{"type": []any{"string", "integer"}, "description": "size: N with a unit, or bytes"}

var shardSpec = &pipeline.Spec{
	Kind: "shard",
	Summary: "Write the model in parts: GGUF splits as llama.cpp's gguf-split makes them, sharded safetensors with the index " +
		"transformers writes, or N layer-balanced parts for pipeline-parallel loading with a JSON manifest",
	Params: obj(props{
		shardFormat: enum("container; auto: gguf when path ends in .gguf, else safetensors", "auto", "gguf", "safetensors"),
		shardPath: str("gguf: PATH.gguf, parts are PATH-00001-of-0000N.gguf; " +
			"safetensors: the folder for model-0000i-of-0000N.safetensors and model.safetensors.index.json"),
		shardBy:         enum("split rule (default: size)", "size", "tensors", "layers"),
		shardMaxSize:    sizeParam,
		shardMaxTensors: integer("by: tensors: at most this many tensors a part", 1),
		shardParts:      integer("by: layers: the number of parts", 1),
		shardNoFirst:    boolean("gguf: the first split holds only metadata (gguf-split --no-tensor-first-split)"),
		shardManifest:   str("by: layers: where the JSON manifest goes (default: beside the parts, PREFIX.parts.json)"),
	}, shardPath),
	MinInputs: 1, MaxInputs: 1,
	Examples: []string{
		"id: split\nkind: shard\ninputs: [q]\nwith: {path: out/model.gguf, max_size: 2G}",
		"id: shards\nkind: shard\ninputs: [src]\nwith: {path: out/, format: safetensors, max_size: 5GB}",
		"id: pp\nkind: shard\ninputs: [q]\nwith: {path: out/model.gguf, by: layers, parts: 4}",
	},
	New: newShard,
}

type shardStage struct {
	Format     string `json:"format"`
	Path       string `json:"path"`
	By         string `json:"by"`
	MaxSize    any    `json:"max_size"`
	MaxTensors int    `json:"max_tensors"`
	Parts      int    `json:"parts"`
	NoFirst    bool   `json:"no_tensor_first_split"`
	Manifest   string `json:"manifest"`
	maxBytes   int64
	outs       []*pipeline.OutputFile
}

func newShard(p pipeline.Params) (pipeline.Stage, error) {
	s := &shardStage{Format: "auto", By: "size"}
	if err := p.Decode(s); err != nil {
		return nil, err
	}
	if s.Format == "auto" {
		s.Format = "safetensors"
		if strings.EqualFold(filepath.Ext(s.Path), ".gguf") {
			s.Format = "gguf"
		}
	}
	var err error
	switch s.By {
	case "size":
		if s.MaxSize == nil {
			return nil, errors.New("by: size needs max_size")
		}
		parse := safetensors.ParseSize
		if s.Format == "gguf" {
			parse = ParseSplitSize
		}
		if s.maxBytes, err = parse(sizeString(s.MaxSize)); err != nil {
			return nil, fmt.Errorf("max_size: %w", err)
		}
	case "tensors":
		if s.MaxTensors <= 0 {
			return nil, errors.New("by: tensors needs max_tensors")
		}
	case "layers":
		if s.Parts <= 0 {
			return nil, errors.New("by: layers needs parts")
		}
	}
	if s.NoFirst && s.Format != "gguf" {
		return nil, errors.New("no_tensor_first_split applies to GGUF splits only")
	}
	return s, nil
}

// sizeString turns a decoded size param (string or JSON number) into text.
func sizeString(v any) string {
	if f, ok := v.(float64); ok {
		return fmt.Sprintf("%.0f", f)
	}
	return fmt.Sprint(v)
}

func (s *shardStage) Outputs() []*pipeline.OutputFile { return s.outs }

func (s *shardStage) Plan(ctx context.Context, env *pipeline.Env, in []*pipeline.Model) (*pipeline.Model, error) {
	m := in[0]
	var groups [][]*tensor.Desc
	var err error
	var layers *layerPlan
	switch s.By {
	case "size":
		if s.Format == "gguf" {
			groups, err = splitBySize(m.Tensors, s.maxBytes, s.NoFirst)
		} else {
			groups = safetensors.PlanShards(m.Tensors, s.maxBytes)
		}
	case "tensors":
		groups = splitByCount(m.Tensors, s.MaxTensors, s.NoFirst)
	case "layers":
		layers, err = planLayers(m.Tensors, s.Parts)
		if err == nil {
			groups = layers.groups
			if s.NoFirst {
				groups = append([][]*tensor.Desc{nil}, groups...)
			}
		}
	}
	if err != nil {
		return nil, err
	}
	if s.Format == "gguf" {
		meta, err := (&exportStage{Format: "gguf", Path: s.Path}).ggufMeta(m)
		if err != nil {
			return nil, err
		}
		m = m.Clone()
		m.Files = append(m.Files, metaFiles(m)...)
		s.outs, err = ggufSplitFiles(s.Path, meta, groups)
		if err != nil {
			return nil, err
		}
	} else {
		if s.outs, err = safetensorsShards(s.Path, m.Tensors, groups); err != nil {
			return nil, err
		}
	}
	if layers != nil {
		mf, err := layers.manifest(s.manifestPath(), s.outs, s.NoFirst)
		if err != nil {
			return nil, err
		}
		s.outs = append(s.outs, mf)
	}
	return m, nil
}

func (s *shardStage) manifestPath() string {
	if s.Manifest != "" {
		return s.Manifest
	}
	if s.Format == "gguf" {
		return strings.TrimSuffix(s.Path, filepath.Ext(s.Path)) + ".parts.json"
	}
	return filepath.Join(s.Path, "parts.json")
}

// safetensorsShards lays out shards in dir as transformers names them, with
// model.safetensors.index.json when there is more than one. The tensors
// must all be storable in safetensors.
func safetensorsShards(dir string, all []*tensor.Desc, groups [][]*tensor.Desc) ([]*pipeline.OutputFile, error) {
	for _, t := range all {
		if t.DType.Info().Safetensors == "" {
			return nil, fmt.Errorf("tensor %q is %v, which safetensors cannot store: convert to F32, F16 or BF16 first", t.Name, t.DType)
		}
	}
	if len(groups) == 0 {
		groups = [][]*tensor.Desc{nil}
	}
	names := safetensors.ShardNames(len(groups))
	var outs []*pipeline.OutputFile
	for i, g := range groups {
		prefix, offs, size, err := safetensors.Layout(g, map[string]string{"format": "pt"})
		if err != nil {
			return nil, err
		}
		outs = append(outs, placed(filepath.Join(dir, names[i]), prefix, size, g, offs))
	}
	if len(groups) > 1 {
		idx, err := safetensors.Index(groups, safetensors.Parameters(all))
		if err != nil {
			return nil, err
		}
		outs = append(outs, sideFile(filepath.Join(dir, safetensors.IndexName), idx))
	}
	return outs, nil
}

// sideFile is an output that is only bytes known at plan time.
func sideFile(path string, b []byte) *pipeline.OutputFile {
	return &pipeline.OutputFile{Path: path, Prefix: b, Size: int64(len(b))}
}
