package pipeline

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// DefaultMemory is the memory budget when the user names none: enough for
// wide chunks on every core, small enough for a laptop converting a 70B model.
const DefaultMemory = 1 << 30

// ExecOptions tunes execution.
type ExecOptions struct {
	// Memory bounds the bytes of row chunks in flight (read, transformed or
	// waiting for the writer) across all workers, and of the buffers that
	// read outputs back for their sha256.
	Memory int64
	// Threads is the worker count; 0 means one per core.
	Threads int
	// Tracer receives stage and tensor spans; nil traces nothing.
	Tracer trace.Tracer
	// StageSpans are open stage spans by stage id; tensor spans are children
	// of their sink's span.
	StageSpans map[string]trace.Span
	// Manifest, when set, has a manifest committed with the outputs.
	Manifest *ManifestOptions
}

type tensorTrack struct {
	left atomic.Int64 // chunks not yet written
	span trace.Span
}

// Execute streams every tensor of the plan into its output files. Outputs
// are written under temporary names beside their destinations and renamed
// only when all are complete; on any error or cancellation every temporary
// is removed and no final name is touched.
func Execute(ctx context.Context, p *Plan, opt ExecOptions) (err error) {
	opt = execDefaults(opt)
	files, err := createTemps(p.Outputs, opt.Manifest != nil)
	defer func() {
		if err != nil {
			removeTemps(files)
		}
	}()
	if err != nil {
		return err
	}
	var ins *inputHashes
	if opt.Manifest != nil {
		ins = hashInputs(ctx, p, opt.Threads)
		defer ins.stop()
	}
	if err = stream(ctx, files, wholeGroups(groupPlacements(files)), opt); err != nil {
		return err
	}
	if err = ctx.Err(); err != nil {
		return err
	}
	return commit(ctx, files, p, opt.Manifest, ins)
}

// execDefaults fills in what the options leave unset.
func execDefaults(opt ExecOptions) ExecOptions {
	if opt.Memory <= 0 {
		opt.Memory = DefaultMemory
	}
	if opt.Threads <= 0 {
		opt.Threads = runtime.GOMAXPROCS(0)
	}
	if opt.Tracer == nil {
		opt.Tracer = noop.NewTracerProvider().Tracer("")
	}
	return opt
}

// spanCtx returns a context whose span is the sink stage span that owns f.
func spanCtx(ctx context.Context, spans map[string]trace.Span, f *outFile) context.Context {
	if s, ok := spans[f.out.Stage]; ok {
		return trace.ContextWithSpan(ctx, s)
	}
	return ctx
}

// ErrCanceled reports whether err is a cancellation rather than a failure.
func ErrCanceled(err error) bool {
	return errors.Is(err, context.Canceled)
}
