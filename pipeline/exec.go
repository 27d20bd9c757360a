package pipeline

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// DefaultMemory is the memory budget when the user names none: enough for
// wide chunks on every core, small enough for a laptop converting a 70B model.
const DefaultMemory = 1 << 30

// ExecOptions tunes execution.
type ExecOptions struct {
	// Memory bounds the bytes of row chunks in flight (read, transformed or
	// waiting for the writer) across all workers.
	Memory int64
	// Threads is the worker count; 0 means one per core.
	Threads int
	// Tracer receives stage and tensor spans; nil traces nothing.
	Tracer trace.Tracer
	// StageSpans are open stage spans by stage id; tensor spans are children
	// of their sink's span.
	StageSpans map[string]trace.Span
}

// chunkWeight is what one chunk of n rows may hold at once along a source
// chain: the output rows, and decoded or float32 copies of the input rows
// (at most 8 bytes an element, F64 or F32 plus scratch).
func chunkWeight(t *tensor.Desc, n int64) int64 {
	return n * (t.RowBytes() + 8*t.RowLen())
}

type job struct {
	file   *outFile
	t      *tensor.Desc
	track  *tensorTrack
	off    int64 // absolute file offset of row 0 of this chunk
	row, n int64
	weight int64
	buf    []byte
	pbuf   *[]byte // buf's pool entry
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
	if opt.Memory <= 0 {
		opt.Memory = DefaultMemory
	}
	if opt.Threads <= 0 {
		opt.Threads = runtime.GOMAXPROCS(0)
	}
	if opt.Tracer == nil {
		opt.Tracer = noop.NewTracerProvider().Tracer("")
	}
	files, err := createTemps(p.Outputs)
	defer func() {
		if err != nil {
			removeTemps(files)
		}
	}()
	if err != nil {
		return err
	}
	if err = stream(ctx, files, opt); err != nil {
		return err
	}
	if err = ctx.Err(); err != nil {
		return err
	}
	return commit(files)
}

// stream runs the producer, the worker pool and the writers in one errgroup:
// the first failure cancels the rest.
func stream(ctx context.Context, files []*outFile, opt ExecOptions) error {
	g, ctx := errgroup.WithContext(ctx)
	budget := semaphore.NewWeighted(opt.Memory)
	jobs := make(chan *job, opt.Threads)
	done := make(chan *job, opt.Threads)
	g.Go(func() error {
		defer close(jobs)
		return produce(ctx, files, opt, budget, jobs)
	})
	var workers errgroup.Group
	for i := 0; i < opt.Threads; i++ {
		workers.Go(func() error { return work(ctx, jobs, done) })
	}
	g.Go(func() error {
		defer close(done)
		return workers.Wait()
	})
	g.Go(func() error { return write(ctx, done, budget) })
	return g.Wait()
}

func produce(ctx context.Context, files []*outFile, opt ExecOptions, budget *semaphore.Weighted, jobs chan<- *job) error {
	target := opt.Memory / int64(4*opt.Threads)
	if target > 8<<20 {
		target = 8 << 20
	}
	for _, f := range files {
		for _, pl := range f.out.Tensors {
			t := pl.T
			rows := t.Rows()
			if rows == 0 || t.RowBytes() == 0 {
				continue
			}
			if w := chunkWeight(t, 1); w > opt.Memory {
				return fmt.Errorf("tensor %q: one row needs %d bytes in flight, more than the memory budget of %d", t.Name, w, opt.Memory)
			}
			per := target / chunkWeight(t, 1)
			if per < 1 {
				per = 1
			}
			tr := &tensorTrack{}
			tr.left.Store((rows + per - 1) / per)
			_, tr.span = opt.Tracer.Start(spanCtx(ctx, opt.StageSpans, f), "tensor "+t.Name, trace.WithAttributes(
				attribute.String("tensor.name", t.Name),
				attribute.String("tensor.dtype", t.DType.String()),
				attribute.Int64("tensor.bytes", t.NBytes()),
				attribute.String("tensor.file", f.out.Path),
			))
			for r := int64(0); r < rows; r += per {
				n := min(per, rows-r)
				j := &job{file: f, t: t, track: tr, off: pl.Offset + r*t.RowBytes(), row: r, n: n, weight: chunkWeight(t, n)}
				if err := budget.Acquire(ctx, j.weight); err != nil {
					tr.span.End()
					return err
				}
				select {
				case jobs <- j:
				case <-ctx.Done():
					budget.Release(j.weight)
					tr.span.End()
					return ctx.Err()
				}
			}
		}
	}
	return nil
}

func work(ctx context.Context, jobs <-chan *job, done chan<- *job) error {
	for j := range jobs {
		if err := ctx.Err(); err != nil {
			return err
		}
		j.pbuf = getChunk(int(j.n * j.t.RowBytes()))
		j.buf = *j.pbuf
		if err := j.t.Src.ReadRows(j.row, j.n, j.buf); err != nil {
			err = fmt.Errorf("tensor %q rows %d..%d: %w", j.t.Name, j.row, j.row+j.n, err)
			j.track.span.RecordError(err)
			j.track.span.End()
			return err
		}
		select {
		case done <- j:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func write(ctx context.Context, done <-chan *job, budget *semaphore.Weighted) error {
	for j := range done {
		_, err := j.file.f.WriteAt(j.buf, j.off)
		chunkPool.Put(j.pbuf)
		j.buf, j.pbuf = nil, nil
		budget.Release(j.weight)
		if err != nil {
			j.track.span.End()
			return fmt.Errorf("%s: writing tensor %q at offset %d: %w", j.file.out.Path, j.t.Name, j.off, err)
		}
		if j.track.left.Add(-1) == 0 {
			j.track.span.End()
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// chunkPool recycles chunk buffers from the writer to the workers: a run
// moves gigabytes through a few megabytes of chunks, and allocating each
// afresh would make the garbage collector run every few chunks. Sources fill
// every byte of a chunk, so a reused one needs no clearing.
var chunkPool = sync.Pool{New: func() any { return new([]byte) }}

func getChunk(n int) *[]byte {
	p := chunkPool.Get().(*[]byte)
	if cap(*p) < n {
		*p = make([]byte, n)
	}
	*p = (*p)[:n]
	return p
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
