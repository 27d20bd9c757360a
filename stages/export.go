package stages

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/mlmf-run/mlmf-run/pipeline"
	"github.com/mlmf-run/mlmf-run/stages/arch"
	"github.com/mlmf-run/mlmf-run/stages/vocab"
	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
	"github.com/mlmf-run/mlmf-run/tensor/safetensors"
)

// FactOutType is the Model.Facts key where quantize records the requested
// type (tensor.DType), from which export derives general.file_type.
const FactOutType = "out_type"

// FactFileType is the Model.Facts key holding an explicit general.file_type
// (uint32), set by quantize for llama-quantize mixes such as Q4_K_M.
const FactFileType = "file_type"

const (
	exportFormat   = "format"
	exportPath     = "path"
	exportName     = "name"
	exportPre      = "pre"
	exportMetadata = "metadata"
	// Split and HF folder parameters are added in export_hf.go.
)

var exportSpec = &pipeline.Spec{
	Kind:    "export",
	Summary: "Write the model as a GGUF file (with llama.cpp's metadata and tokenizer, optionally split), a safetensors file, or a Hugging Face folder",
	Params: obj(props{
		exportFormat:   enum("output container; auto picks by the path's extension (hf: a Hugging Face folder)", "auto", "gguf", "safetensors", "hf"),
		exportPath:     str("output file (hf: output folder)"),
		exportName:     str("general.name (default: derived from the model folder, as llama.cpp's converter does)"),
		exportPre:      str("tokenizer.ggml.pre for byte-level BPE tokenizers the engine cannot name"),
		exportMetadata: strMap("extra string metadata: GGUF keys, or safetensors __metadata__ entries"),
	}, exportPath),
	MinInputs: 1, MaxInputs: 1,
	Examples: []string{"id: out\nkind: export\ninputs: [q]\nwith: {path: model-Q4_K_M.gguf}"},
	New: func(p pipeline.Params) (pipeline.Stage, error) {
		s := &exportStage{Format: "auto"}
		if err := p.Decode(s); err != nil {
			return nil, err
		}
		if err := s.hfOptions.check(s.Format, s.Path); err != nil {
			return nil, err
		}
		if s.Format == "auto" {
			switch strings.ToLower(filepath.Ext(s.Path)) {
			case ".gguf":
				s.Format = "gguf"
			case ".safetensors":
				s.Format = "safetensors"
			default:
				return nil, fmt.Errorf("path %q: cannot tell the format from the extension; set format: gguf or safetensors", s.Path)
			}
		}
		return s, nil
	},
}

type exportStage struct {
	Format   string            `json:"format"`
	Path     string            `json:"path"`
	Name     string            `json:"name"`
	Pre      string            `json:"pre"`
	Metadata map[string]string `json:"metadata"`
	hfOptions
	outs []*pipeline.OutputFile
}

func (s *exportStage) Outputs() []*pipeline.OutputFile { return s.outs }

func (s *exportStage) Plan(ctx context.Context, env *pipeline.Env, in []*pipeline.Model) (*pipeline.Model, error) {
	m := in[0].Clone() // Files grows by what this stage reads
	var err error
	switch s.Format {
	case "gguf":
		err = s.planGGUF(m)
	case "safetensors":
		err = s.planSafetensors(m)
	case "hf":
		err = s.planHF(m)
	}
	return m, err
}

func (s *exportStage) planGGUF(m *pipeline.Model) error {
	if m.Naming != "gguf" {
		return errors.New("tensors still have Hugging Face names: add detect and remap stages before a GGUF export")
	}
	meta, err := s.ggufMeta(m)
	if err != nil {
		return err
	}
	m.Files = append(m.Files, metaFiles(m)...)
	for _, kv := range metaOverrides(m) {
		meta.Set(kv.Key, kv.Value)
	}
	for k, v := range s.Metadata {
		meta.Set(k, gguf.String(v))
	}
	if s.splitting() {
		return s.planSplits(meta, m.Tensors)
	}
	if groups := splitGroups(m); len(groups) > 1 {
		s.outs, err = ggufSplitFiles(s.Path, meta, groups)
		return err
	}
	prefix, offs, size, err := gguf.Layout(meta, m.Tensors, gguf.DefaultAlignment)
	if err != nil {
		return err
	}
	s.outs = []*pipeline.OutputFile{placed(s.Path, prefix, size, m.Tensors, offs)}
	return nil
}

// ggufMeta is a GGUF input's own metadata (split keys dropped, file type
// updated), or for a converted model what llama.cpp's converter writes:
// the architecture header, then the tokenizer.
func (s *exportStage) ggufMeta(m *pipeline.Model) (*gguf.Meta, error) {
	out := outType(m)
	if m.Format == "gguf" {
		meta := m.Meta.Clone()
		for _, k := range []string{gguf.KeySplitNo, gguf.KeySplitCount, gguf.KeySplitTensorsCount} {
			meta.Delete(k)
		}
		if ft, ok := fileType(m, out); ok {
			meta.Set("general.file_type", gguf.Uint32(ft))
		}
		if s.Name != "" {
			meta.Set("general.name", gguf.String(s.Name))
		}
		return meta, nil
	}
	a, ok := m.Facts[FactArch].(*arch.Arch)
	if !ok {
		return nil, errors.New("no architecture known: a GGUF export of a Hugging Face model needs a detect stage")
	}
	if _, isMix := m.Facts[FactFileType]; isMix {
		// The header only derives general.file_type from the type, and a
		// mix's own file type replaces it below.
		out = tensor.F32
	}
	meta, err := a.Header(m.Config, m.Tensors, arch.HeaderOptions{Dir: m.Dir, Name: s.Name, OutType: out})
	if err != nil {
		return nil, err
	}
	if ft, ok := m.Facts[FactFileType].(uint32); ok {
		meta.Set("general.file_type", gguf.Uint32(ft))
	}
	spmKeys, err := a.SentencePieceMetaIn(m.Config, m.Dir)
	if err != nil {
		return nil, err
	}
	tok, err := vocab.Load(m.Dir, vocab.Options{Pre: s.Pre, EmbeddingRows: embeddingRows(m.Tensors), SentencePieceKeys: spmKeys, PrefixSpaceKey: a.PrefixSpaceKey(m.Config), PreHint: a.PreHint(m.Config), Reader: a.VocabReader})
	if err != nil {
		return nil, err
	}
	for _, kv := range tok.All() {
		meta.Set(kv.Key, kv.Value)
	}
	return meta, nil
}

// metaFiles are the files ggufMeta reads: the tokenizer files of a
// converted model's folder.
func metaFiles(m *pipeline.Model) []string {
	if m.Format == "gguf" {
		return nil
	}
	return vocab.Files(m.Dir)
}

// embeddingRows is token_embd's vocabulary dimension, 0 if there is none.
func embeddingRows(ts []*tensor.Desc) int64 {
	for _, t := range ts {
		if t.Name == "token_embd.weight" && len(t.Shape) == 2 {
			return t.Shape[0]
		}
	}
	return 0
}

// outType is the type quantize asked for, or else the type of the first
// matrix (what llama.cpp's converter would have been asked for).
func outType(m *pipeline.Model) tensor.DType {
	if t, ok := m.Facts[FactOutType].(tensor.DType); ok {
		return t
	}
	for _, t := range m.Tensors {
		if len(t.Shape) >= 2 {
			return t.DType
		}
	}
	return tensor.F32
}

func fileType(m *pipeline.Model, out tensor.DType) (uint32, bool) {
	if ft, ok := m.Facts[FactFileType].(uint32); ok {
		return ft, true
	}
	return arch.FileType(out)
}

func (s *exportStage) planSafetensors(m *pipeline.Model) error {
	meta := map[string]string{"format": "pt"}
	for k, v := range s.Metadata {
		meta[k] = v
	}
	for _, t := range m.Tensors {
		if t.DType.Info().Safetensors == "" {
			return fmt.Errorf("tensor %q is %v, which safetensors cannot store: quantize to F32, F16 or BF16 first", t.Name, t.DType)
		}
	}
	prefix, offs, size, err := safetensors.Layout(m.Tensors, meta)
	if err != nil {
		return err
	}
	s.outs = []*pipeline.OutputFile{placed(s.Path, prefix, size, m.Tensors, offs)}
	return nil
}

func placed(path string, prefix []byte, size int64, ts []*tensor.Desc, offs []int64) *pipeline.OutputFile {
	o := &pipeline.OutputFile{Path: path, Prefix: prefix, Size: size}
	for i, t := range ts {
		o.Tensors = append(o.Tensors, pipeline.Placed{T: t, Offset: offs[i]})
	}
	return o
}
