package pipeline

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// Test-only stages: a generator whose rows are a pure function of their
// coordinates (so tests can check any output byte independently), a scaler,
// and a raw sink that concatenates tensors after a fixed header.

type fakeRegistry map[string]*Spec

func (r fakeRegistry) Lookup(k string) (*Spec, bool) { s, ok := r[k]; return s, ok }
func (r fakeRegistry) Specs() []*Spec {
	var out []*Spec
	for _, s := range r {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out
}

func testRegistry() fakeRegistry {
	obj := func(props map[string]any, req ...string) map[string]any {
		r := []any{}
		for _, x := range req {
			r = append(r, x)
		}
		return map[string]any{"type": "object", "additionalProperties": false, "properties": props, "required": r}
	}
	return fakeRegistry{
		"gen": {Kind: "gen", Summary: "generate tensors", MaxInputs: 0,
			Params: obj(map[string]any{
				"tensors":     map[string]any{"type": "integer", "minimum": 1},
				"rows":        map[string]any{"type": "integer", "minimum": 1},
				"cols":        map[string]any{"type": "integer", "minimum": 1},
				"fail_at_row": map[string]any{"type": "integer"},
				"delay_ms":    map[string]any{"type": "integer"},
			}, "tensors", "rows", "cols"),
			New: func(p Params) (Stage, error) {
				var g genStage
				g.FailAt = -1
				return &g, p.Decode(&g)
			}},
		"scale": {Kind: "scale", Summary: "multiply", MinInputs: 1, MaxInputs: 1,
			Params: obj(map[string]any{"by": map[string]any{"type": "number"}, "fail_at_row": map[string]any{"type": "integer"}}, "by"),
			New: func(p Params) (Stage, error) {
				var s scaleStage
				if err := p.Decode(&s); err != nil {
					return nil, err
				}
				if s.By == 0 {
					return nil, errors.New("by: must not be 0")
				}
				return &s, nil
			}},
		"raw": {Kind: "raw", Summary: "write raw", MinInputs: 1, MaxInputs: 1,
			Params: obj(map[string]any{"path": map[string]any{"type": "string"}}, "path"),
			New: func(p Params) (Stage, error) {
				var s rawSink
				return &s, p.Decode(&s)
			}},
	}
}

type genStage struct {
	Tensors int      `json:"tensors"`
	Rows    int      `json:"rows"`
	Cols    int      `json:"cols"`
	FailAt  int      `json:"fail_at_row"`
	DelayMS int      `json:"delay_ms"`
	Files   []string `json:"files"` // reported as read, for the output checks and the manifest
}

func genValue(t, r, c int64) float32 { return float32(t*1000003+r*1009+c) * 0.5 }

func (g *genStage) Plan(ctx context.Context, env *Env, in []*Model) (*Model, error) {
	m := &Model{Format: "gen", Naming: "gguf", Files: g.Files}
	for i := 0; i < g.Tensors; i++ {
		m.Tensors = append(m.Tensors, &tensor.Desc{Name: fmt.Sprintf("t%d", i), DType: tensor.F32,
			Shape: []int64{int64(g.Rows), int64(g.Cols)}, Src: &genSource{g: g, t: int64(i)}})
	}
	return m, nil
}

type genSource struct {
	g *genStage
	t int64
}

// genRows counts the rows every genSource has produced, for fan-out tests.
var genRows atomic.Int64

// whileStreaming, when set, runs once as the first row is read: what a
// test does to the files while a run is under way.
var whileStreaming func()

var streamingMu sync.Mutex

// stallAt, when set, sees every read of a generated tensor (tensor index,
// rows) before it happens, and may stop it for good (a part to SIGKILL).
var stallAt func(t, row, n int64)

func (s *genSource) ReadRows(row, n int64, dst []byte) error {
	streamingMu.Lock()
	if f := whileStreaming; f != nil {
		whileStreaming = nil
		f()
	}
	streamingMu.Unlock()
	if stallAt != nil {
		stallAt(s.t, row, n)
	}
	if s.g.DelayMS > 0 {
		time.Sleep(time.Duration(s.g.DelayMS) * time.Millisecond)
	}
	genRows.Add(n)
	cols := int64(s.g.Cols)
	for r := row; r < row+n; r++ {
		if s.g.FailAt >= 0 && r == int64(s.g.FailAt) && s.t == 1 {
			return fmt.Errorf("injected failure at row %d", r)
		}
		for c := int64(0); c < cols; c++ {
			binary.LittleEndian.PutUint32(dst[((r-row)*cols+c)*4:], math.Float32bits(genValue(s.t, r, c)))
		}
	}
	return nil
}

func (s *genSource) Describe() string { return fmt.Sprintf("gen:t%d", s.t) }

type scaleStage struct {
	By     float64 `json:"by"`
	FailAt *int64  `json:"fail_at_row"`
}

func (s *scaleStage) Plan(ctx context.Context, env *Env, in []*Model) (*Model, error) {
	m := in[0].Clone()
	for i, t := range m.Tensors {
		c := t.Clone()
		c.Src = &scaleSource{src: t.Src, by: float32(s.By), rowBytes: t.RowBytes(), failAt: s.FailAt}
		m.Tensors[i] = c
	}
	return m, nil
}

// scaleSource is a tensor.Derived, so the executor fans out through it.
type scaleSource struct {
	src      tensor.Source
	by       float32
	rowBytes int64
	failAt   *int64
}

func (s *scaleSource) ReadRows(row, n int64, dst []byte) error {
	return tensor.ReadDerived(s, row, n, dst)
}

func (s *scaleSource) Input() (tensor.Source, int64) { return s.src, s.rowBytes }

func (s *scaleSource) Derive(row, n int64, in, dst []byte) error {
	if s.failAt != nil && *s.failAt >= row && *s.failAt < row+n {
		return fmt.Errorf("injected failure at row %d", *s.failAt)
	}
	for i := 0; i+4 <= len(dst); i += 4 {
		v := math.Float32frombits(binary.LittleEndian.Uint32(in[i:]))
		binary.LittleEndian.PutUint32(dst[i:], math.Float32bits(v*s.by))
	}
	return nil
}

func (s *scaleSource) Describe() string { return s.src.Describe() + " | scale" }

type rawSink struct {
	Path string `json:"path"`
	outs []*OutputFile
}

const rawHeader = "RAW1"

func (s *rawSink) Plan(ctx context.Context, env *Env, in []*Model) (*Model, error) {
	o := &OutputFile{Path: s.Path, Prefix: []byte(rawHeader)}
	off := int64(len(rawHeader))
	for _, t := range in[0].Tensors {
		o.Tensors = append(o.Tensors, Placed{T: t, Offset: off})
		off += t.NBytes()
	}
	o.Size = off
	s.outs = []*OutputFile{o}
	return in[0], nil
}

func (s *rawSink) Outputs() []*OutputFile { return s.outs }

// rawSetSink writes a multi-file output: tensor i goes to paths[i%len],
// each file a raw header and its tensors.
type rawSetSink struct {
	Paths []string `json:"paths"`
	outs  []*OutputFile
}

func (s *rawSetSink) Plan(ctx context.Context, env *Env, in []*Model) (*Model, error) {
	s.outs = nil
	for _, p := range s.Paths {
		s.outs = append(s.outs, &OutputFile{Path: p, Prefix: []byte(rawHeader), Size: int64(len(rawHeader))})
	}
	for i, t := range in[0].Tensors {
		o := s.outs[i%len(s.outs)]
		o.Tensors = append(o.Tensors, Placed{T: t, Offset: o.Size})
		o.Size += t.NBytes()
	}
	return in[0], nil
}

func (s *rawSetSink) Outputs() []*OutputFile { return s.outs }
