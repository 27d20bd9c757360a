// Package pipeline turns a recipe into a plan and runs it: recipe model and
// validation, compilation to a DAG of stages, planning on metadata, and the
// streaming executor that writes every output at its precomputed offsets.
// It knows stages only through Spec and Stage; the CLI wires a registry in.
package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
)

// Model is what flows along a recipe's edges during planning: descriptors
// and metadata, never weights. Each stage returns a new Model (copy what you
// change; inputs may be shared with other consumers).
type Model struct {
	// Format of the container the tensors came from: "safetensors", "gguf", "torch".
	Format string
	// Dir is the Hugging Face folder the model came from, if any; stages find
	// config.json and tokenizer files there.
	Dir string
	// Files are every file the run reads for this model, not only the
	// containers: config.json, tokenizer files, indexes, tables. The
	// manifest records them, and planning refuses an output that is one.
	Files []string
	// Naming says which name space tensor names are in: "hf" or "gguf".
	Naming string
	// Arch is the GGUF architecture name ("llama", "qwen2", ...) once known.
	Arch string
	// Config is the parsed config.json (or the equivalent built from GGUF
	// metadata); nil when unknown.
	Config map[string]any
	// Meta is the GGUF metadata an export writes (or a GGUF input carried).
	Meta *gguf.Meta
	// Tensors in output order.
	Tensors []*tensor.Desc
	// Facts carries typed knowledge between stages (adapter configs, file
	// types, ...) keyed by the producing package's own constant.
	Facts map[string]any
}

// Clone copies the model's slices and maps shallowly, so a stage can modify
// the copy's lists without touching its input.
func (m *Model) Clone() *Model {
	c := *m
	c.Files = append([]string(nil), m.Files...)
	c.Tensors = append([]*tensor.Desc(nil), m.Tensors...)
	if m.Meta != nil {
		c.Meta = m.Meta.Clone()
	} else {
		c.Meta = &gguf.Meta{}
	}
	c.Facts = map[string]any{}
	for k, v := range m.Facts {
		c.Facts[k] = v
	}
	return &c
}

// Tensor finds a tensor by name.
func (m *Model) Tensor(name string) *tensor.Desc {
	for _, t := range m.Tensors {
		if t.Name == name {
			return t
		}
	}
	return nil
}

// Env is what a stage may use while planning.
type Env struct {
	Log *slog.Logger
	// Threads is the worker count the run uses; stages size nothing by it,
	// but may record it.
	Threads int
	// Memory is the run's memory budget in bytes.
	Memory int64
	// Device is the run's --device, for stages whose device: is unset.
	Device string
	// StageID is the id of the stage being planned, for messages.
	StageID string
	// Cache is shared by the stages of one run (Shared); Build makes it.
	Cache *RunCache
}

// Warnf logs a warning attributed to the stage (Build gives each stage's
// Env a logger that names it).
func (e *Env) Warnf(format string, args ...any) {
	if e != nil && e.Log != nil {
		e.Log.Warn(fmt.Sprintf(format, args...))
	}
}

// Stage is one step of a recipe. Plan reads metadata only; weights move later
// through the tensor.Source chain that Plan builds.
type Stage interface {
	Plan(ctx context.Context, env *Env, in []*Model) (*Model, error)
}

// Sink is a stage that writes files. After Plan, Outputs lists every file
// with its complete layout.
type Sink interface {
	Stage
	Outputs() []*OutputFile
}

// OutputFile is one file a run writes: a header known at plan time, then
// tensors at fixed offsets, zero padding in between. Side files (config.json,
// an index) are OutputFiles with only a Prefix.
type OutputFile struct {
	Path string
	// Stage is the id of the sink that owns the file; the engine fills it.
	Stage   string
	Prefix  []byte
	Size    int64
	Tensors []Placed
	// written counts the tensor bytes the executor has written, for progress.
	written atomic.Int64
}

// Written is how many tensor bytes of the file have been written so far.
func (o *OutputFile) Written() int64 { return o.written.Load() }

// TensorBytes is the sum of the file's tensors' sizes: what Written reaches.
func (o *OutputFile) TensorBytes() int64 {
	var n int64
	for _, pl := range o.Tensors {
		n += pl.T.NBytes()
	}
	return n
}

// Placed is a tensor at its byte offset in an output file.
type Placed struct {
	T      *tensor.Desc
	Offset int64
}

// Params is a stage's `with:` block, already validated against its schema.
type Params map[string]any

// Decode fills a typed config struct (json tags) from the params.
func (p Params) Decode(into any) error {
	b, err := json.Marshal(map[string]any(p))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, into)
}

// Spec registers one stage kind: everything docs, the schema, `mlmf-run
// stages` and the compiler need to know about it.
type Spec struct {
	Kind    string
	Summary string
	// Params is the JSON Schema of the `with:` block (an object schema).
	Params map[string]any
	// MinInputs and MaxInputs bound the number of inputs (-1: no maximum).
	MinInputs, MaxInputs int
	// Examples are YAML snippets of one stage each, checked by tests.
	Examples []string
	// New builds the stage from validated params.
	New func(p Params) (Stage, error)
}

// Registry is the set of stage kinds a run may use.
type Registry interface {
	Lookup(kind string) (*Spec, bool)
	Specs() []*Spec
}
