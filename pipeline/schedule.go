package pipeline

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// chunk is one row block of a group: read once from the group's root,
// derived down its tree, and written at every placement that consumes it.
// Its weight stays acquired from the budget until the last consumer is
// written, which is the fan-out's back-pressure: a chunk is held until its
// slowest consumer has it, and counted once however many consumers it has.
type chunk struct {
	g      *group
	row, n int64
	weight int64
}

// chunkTarget is the weight a chunk aims for: small enough that every worker
// has several in flight within the budget, large enough that a read and a
// write cost a few system calls per megabyte.
func chunkTarget(opt ExecOptions) int64 {
	return min(opt.Memory/int64(4*opt.Threads), 8<<20)
}

// stream runs the chunk producer and the workers in one errgroup: the first
// failure cancels the rest. Workers write their results themselves
// (os.File.WriteAt is safe for concurrent use), so outputs fill in parallel
// and out of order, each byte at its planned offset.
func stream(ctx context.Context, files []*outFile, opt ExecOptions) error {
	groups := groupPlacements(files)
	g, ctx := errgroup.WithContext(ctx)
	budget := semaphore.NewWeighted(opt.Memory)
	jobs := make(chan *chunk, opt.Threads)
	var tracks []*tensorTrack
	defer func() {
		for _, t := range tracks {
			if t.left.Load() > 0 {
				t.span.End()
			}
		}
	}()
	g.Go(func() error {
		defer close(jobs)
		return produce(ctx, groups, opt, budget, jobs, &tracks)
	})
	for i := 0; i < opt.Threads; i++ {
		g.Go(func() error { return work(ctx, jobs, budget) })
	}
	return g.Wait()
}

// produce cuts every group into chunks, in the order the groups' roots
// appear in the sources, so reads stay sequential on disk.
func produce(ctx context.Context, groups []*group, opt ExecOptions, budget *semaphore.Weighted, jobs chan<- *chunk, tracks *[]*tensorTrack) error {
	for _, g := range groups {
		perRow, scratch := g.rowWeight()
		places := g.placements()
		if w := perRow + scratch; w > opt.Memory {
			return fmt.Errorf("tensor %q: one row needs %d bytes in flight (for %d outputs), more than the memory budget of %d", places[0].t.Name, w, len(places), opt.Memory)
		}
		per := max((chunkTarget(opt)-scratch)/perRow, 1)
		for _, p := range places {
			p.track = &tensorTrack{}
			p.track.left.Store((g.rows + per - 1) / per)
			_, p.track.span = opt.Tracer.Start(spanCtx(ctx, opt.StageSpans, p.file), "tensor "+p.t.Name, trace.WithAttributes(
				attribute.String("tensor.name", p.t.Name),
				attribute.String("tensor.dtype", p.t.DType.String()),
				attribute.Int64("tensor.bytes", p.t.NBytes()),
				attribute.String("tensor.file", p.file.out.Path),
			))
			*tracks = append(*tracks, p.track)
		}
		for r := int64(0); r < g.rows; r += per {
			n := min(per, g.rows-r)
			c := &chunk{g: g, row: r, n: n, weight: n*perRow + scratch}
			if err := budget.Acquire(ctx, c.weight); err != nil {
				return err
			}
			select {
			case jobs <- c:
			case <-ctx.Done():
				budget.Release(c.weight)
				return ctx.Err()
			}
		}
	}
	return nil
}

func work(ctx context.Context, jobs <-chan *chunk, budget *semaphore.Weighted) error {
	for c := range jobs {
		if err := ctx.Err(); err != nil {
			return err
		}
		err := c.run()
		budget.Release(c.weight)
		if err != nil {
			return err
		}
	}
	return nil
}

// run reads the chunk's rows of the root once and walks the tree.
func (c *chunk) run() error {
	root := c.g.root
	buf := getChunk(int(c.n * root.rowBytes))
	defer chunkPool.Put(buf)
	err := root.src.ReadRows(c.row, c.n, *buf)
	if err == nil {
		err = c.visit(root, *buf)
	}
	if err != nil {
		first := c.g.placements()[0]
		err = fmt.Errorf("tensor %q rows %d..%d: %w", first.t.Name, c.row, c.row+c.n, err)
		first.track.span.RecordError(err)
	}
	return err
}

// visit writes rows, node n's rows of this chunk, at n's placements, then
// derives each child's rows from them.
func (c *chunk) visit(n *node, rows []byte) error {
	for _, p := range n.places {
		off := p.off + c.row*n.rowBytes
		if _, err := p.file.f.WriteAt(rows, off); err != nil {
			return fmt.Errorf("%s: writing tensor %q at offset %d: %w", p.file.out.Path, p.t.Name, off, err)
		}
		p.file.out.written.Add(int64(len(rows)))
		if p.track.left.Add(-1) == 0 {
			p.track.span.End()
		}
	}
	for _, k := range n.kids {
		if k.tap {
			k.derived.(tensor.Tap).Saw(c.row, c.n, rows)
			if err := c.visit(k, rows); err != nil {
				return err
			}
			continue
		}
		out := getChunk(int(c.n * k.rowBytes))
		err := k.derived.Derive(c.row, c.n, rows, *out)
		if err == nil {
			err = c.visit(k, *out)
		}
		chunkPool.Put(out)
		if err != nil {
			return err
		}
	}
	return nil
}
