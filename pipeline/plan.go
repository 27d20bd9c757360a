package pipeline

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// Plan is a recipe resolved on metadata: every stage's output model, every
// output file's layout. Nothing has been read beyond headers and configs.
type Plan struct {
	Recipe  *Recipe
	Stages  []*PlannedStage // in execution (topological) order
	Outputs []*OutputFile
}

// PlannedStage is one stage after planning.
type PlannedStage struct {
	Decl  *StageDecl
	Out   *Model
	Sink  bool
	bytes atomic.Int64 // bytes its output sources have produced
	total int64        // bytes of its output tensors
}

// Bytes is how many bytes have flowed out of the stage so far.
func (s *PlannedStage) Bytes() int64 { return s.bytes.Load() }

// Total is the size of the stage's output tensors, the denominator of its progress.
func (s *PlannedStage) Total() int64 { return s.total }

// Build plans a parsed recipe. Stages plan in dependency order; a stage whose
// input failed is skipped, so independent branches still report their own
// problems, and every problem comes back at once.
func Build(ctx context.Context, r *Recipe, env Env) (*Plan, error) {
	p := &Plan{Recipe: r}
	if env.Cache == nil {
		env.Cache = &RunCache{}
	}
	models := map[string]*Model{}
	var ps Problems
	for _, d := range topo(r.Stages) {
		var in []*Model
		ok := true
		for _, name := range d.Inputs {
			m, has := models[name]
			if !has {
				ok = false
				break
			}
			in = append(in, m)
		}
		if !ok || d.stage == nil {
			continue
		}
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("planning stopped before stage %q: %w", d.ID, context.Cause(ctx))
		}
		e := env
		e.StageID = d.ID
		if e.Log != nil {
			e.Log = e.Log.With("stage", d.ID)
		}
		out, err := d.stage.Plan(ctx, &e, in)
		if err != nil && ctx.Err() != nil {
			// Cancelled, not wrong: no problem to report at a position.
			return nil, fmt.Errorf("planning stopped in stage %q: %w", d.ID, context.Cause(ctx))
		}
		if err != nil {
			for _, one := range splitJoined(err) {
				ps = append(ps, Problem{File: r.File, Line: d.Line, Col: d.Col, Stage: d.ID, Msg: one.Error()})
			}
			continue
		}
		st := &PlannedStage{Decl: d}
		st.Out = st.instrument(out)
		models[d.ID] = st.Out
		if sink, isSink := d.stage.(Sink); isSink {
			st.Sink = true
			st.total = 0
			for _, o := range sink.Outputs() {
				o.Stage = d.ID
				st.instrumentOutput(o)
				p.Outputs = append(p.Outputs, o)
			}
		}
		p.Stages = append(p.Stages, st)
	}
	if len(ps) == 0 {
		ps = append(ps, checkOutputs(r, p)...)
	}
	if len(ps) > 0 {
		return nil, ps.sorted()
	}
	return p, nil
}

// instrument wraps the model's sources so that bytes flowing out of this
// stage are counted for progress and spans.
func (s *PlannedStage) instrument(m *Model) *Model {
	if m == nil {
		return &Model{}
	}
	c := *m
	c.Tensors = make([]*tensor.Desc, len(m.Tensors))
	for i, t := range m.Tensors {
		t2 := t.Clone()
		if t.Src != nil {
			t2.Src = &counted{Source: t.Src, rowBytes: t.RowBytes(), n: &s.bytes}
		}
		s.total += t.NBytes()
		c.Tensors[i] = t2
	}
	return &c
}

// instrumentOutput counts the bytes a sink writes (its output model may not
// be what it writes: a GGUF export writes its input's tensors as placed).
func (s *PlannedStage) instrumentOutput(o *OutputFile) {
	for i, pl := range o.Tensors {
		t := pl.T.Clone()
		t.Src = &counted{Source: pl.T.Src, rowBytes: t.RowBytes(), n: &s.bytes}
		o.Tensors[i].T = t
		s.total += t.NBytes()
	}
}

type counted struct {
	tensor.Source
	rowBytes int64
	n        *atomic.Int64
}

func (c *counted) ReadRows(row, n int64, dst []byte) error {
	err := c.Source.ReadRows(row, n, dst)
	if err == nil {
		c.n.Add(int64(len(dst)))
	}
	return err
}

// counted is a tensor.Tap, so the executor's fan-out sees through it: the
// rows it counts are read once for all the branches downstream of it.
var _ tensor.Tap = (*counted)(nil)

func (c *counted) Input() (tensor.Source, int64) { return c.Source, c.rowBytes }

func (c *counted) Derive(row, n int64, in, dst []byte) error {
	copy(dst, in)
	c.Saw(row, n, in)
	return nil
}

func (c *counted) Saw(row, n int64, rows []byte) { c.n.Add(int64(len(rows))) }
