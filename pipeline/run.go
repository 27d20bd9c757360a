package pipeline

import (
	"context"
	"io"
	"log/slog"
	"os"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// RunOptions configures one whole run.
type RunOptions struct {
	Memory  int64
	Threads int
	DryRun  bool
	// NoManifest skips the manifest, and so the sha256 of every input and
	// output it records: on a CPU-bound run that hashing costs a few percent.
	NoManifest bool
	Version    string
	Tracer     trace.Tracer
	Log        *slog.Logger
	// CheckPlan, when set, sees the plan before OnPlan and before anything
	// is written; an error from it ends the run (the CLI refuses there a
	// --trace-file that Plan.CheckWrite refuses).
	CheckPlan func(*Plan) error
	// Part, when Part.N > 0, runs one part of a run divided into N, or
	// its finalize (parts.go).
	Part PartOptions
	// OnPlan, when set, sees the plan before execution starts (progress
	// display, --dry-run printing).
	OnPlan func(*Plan)
	// OnManifest, when set, is told when the outputs are written how many
	// files, and bytes, the manifest still has to hash (a silence
	// otherwise, after 100%).
	OnManifest func(files int, bytes int64)
	// Device is the run's --device (auto, cpu, cuda, cuda:0,1): the device
	// of stages that encode rows and have no device: of their own.
	Device string
}

// Result is what a run produced.
type Result struct {
	Plan     *Plan
	Manifest string
}

// Run plans and executes a parsed recipe under one "run" span with a child
// span per stage; tensor spans hang under the sink stage that writes them.
func Run(ctx context.Context, r *Recipe, opt RunOptions) (res *Result, err error) {
	tr := opt.Tracer
	if tr == nil {
		tr = noop.NewTracerProvider().Tracer("")
	}
	log := opt.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	started := time.Now()
	ctx, runSpan := tr.Start(ctx, "run", trace.WithAttributes(
		attribute.String("recipe.file", r.File), attribute.String("recipe.sha256", r.SHA256)))
	defer func() {
		if err != nil {
			runSpan.RecordError(err)
			runSpan.SetStatus(codes.Error, err.Error())
		}
		runSpan.End()
	}()
	defer closeStages(r)
	spans := map[string]trace.Span{}
	for _, d := range topo(r.Stages) {
		if d.Skipped {
			continue
		}
		_, s := tr.Start(ctx, "stage "+d.ID, trace.WithAttributes(
			attribute.String("stage.id", d.ID), attribute.String("stage.kind", d.Kind)))
		spans[d.ID] = s
	}
	var plan *Plan
	defer func() {
		for _, d := range topo(r.Stages) {
			s, ok := spans[d.ID]
			if !ok {
				continue
			}
			if plan != nil {
				for _, ps := range plan.Stages {
					if ps.Decl == d {
						s.SetAttributes(attribute.Int64("stage.bytes", ps.Bytes()))
					}
				}
			}
			s.End()
		}
	}()
	plan, err = Build(ctx, r, Env{Log: log, Threads: opt.Threads, Memory: opt.Memory, Device: opt.Device})
	if err != nil {
		return nil, err
	}
	if err := checkManifestPath(r, plan, opt.NoManifest); err != nil {
		return nil, err
	}
	if opt.CheckPlan != nil {
		if err := opt.CheckPlan(plan); err != nil {
			return nil, err
		}
	}
	if opt.OnPlan != nil {
		opt.OnPlan(plan)
	}
	res = &Result{Plan: plan}
	if opt.DryRun {
		return res, nil
	}
	var man *ManifestOptions
	if !opt.NoManifest && len(plan.Outputs) > 0 {
		man = &ManifestOptions{Version: opt.Version, Started: started, Threads: opt.Threads, OnHash: opt.OnManifest}
	}
	eo := ExecOptions{Memory: opt.Memory, Threads: opt.Threads, Tracer: tr, StageSpans: spans, Manifest: man}
	switch {
	case opt.Part.N > 0 && opt.Part.Finalize:
		err = Finalize(ctx, plan, opt.Part.N, opt.Version, eo)
	case opt.Part.N > 0:
		err = ExecutePart(ctx, plan, opt.Part, opt.Version, eo)
		man = nil // the finalize writes it
	default:
		err = Execute(ctx, plan, eo)
	}
	if err != nil {
		return nil, err
	}
	if man != nil {
		res.Manifest = ManifestPath(plan)
	}
	return res, nil
}

// checkManifestPath refuses, at plan time, a manifest path the commit could
// not write or must not replace.
func checkManifestPath(r *Recipe, p *Plan, none bool) error {
	path := ManifestPath(p)
	if none || path == "" {
		return nil
	}
	if err := p.CheckWrite(path); err != nil {
		line, col := stageAt(r, p.Outputs[0].Stage)
		return Problems{{File: r.File, Line: line, Col: col, Stage: p.Outputs[0].Stage, Msg: "manifest " + err.Error()}}
	}
	return nil
}

// closeStages releases what stages opened while planning (maps, files).
func closeStages(r *Recipe) {
	for _, d := range r.Stages {
		if c, ok := d.stage.(io.Closer); ok {
			c.Close()
		}
	}
}

// unhashed is what the manifest still has to hash when the run has written
// its outputs: the inputs not hashed yet, and the outputs not hashed as they
// were written, with their bytes.
func unhashed(ins *inputHashes, outs []*outFile) (files int, bytes int64) {
	for i, f := range ins.files {
		if ins.left[i].Load() {
			files++
			if st, err := os.Stat(f); err == nil {
				bytes += st.Size()
			}
		}
	}
	for _, f := range outs {
		if f.digest == nil && (f.hash == nil || f.hash.sum == "") {
			files++
			bytes += f.out.Size
		}
	}
	return files, bytes
}
