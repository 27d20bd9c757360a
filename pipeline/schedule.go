package pipeline

import (
	"context"
	"fmt"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// chunk is one row block of a group: read once from the group's root,
// derived down its tree, and written at every placement that consumes it.
// Its weight stays acquired from the budget, and its buffers held, until its
// last write is done, which is the fan-out's back-pressure: a chunk is held
// until its slowest consumer has it, and counted once however many
// consumers it has.
type chunk struct {
	g      *group
	row, n int64
	weight int64

	bufs    []*[]byte    // the root's and every derived node's rows
	pending atomic.Int64 // writes not yet done
	budget  *semaphore.Weighted
}

// writeReq is one placement's rows of one chunk, for its file's writer.
type writeReq struct {
	c    *chunk
	p    *placement
	off  int64
	rows []byte
}

// chunkTarget is the weight a chunk aims for: small enough that every worker
// has several in flight within the budget, large enough that a read and a
// write cost a few system calls per megabyte.
func chunkTarget(opt ExecOptions) int64 {
	return min(opt.Memory/int64(4*opt.Threads), 8<<20)
}

// stream runs the chunk producer, the workers and one writer per output
// file in one errgroup: the first failure cancels the rest. Workers read and
// derive; writers put each chunk's rows at their planned offsets, so files
// fill in parallel and out of order. One writer a file, because concurrent
// writes to one file serialize on its inode lock in the kernel, where
// spinning waiters burn the CPU the workers need.
func stream(ctx context.Context, files []*outFile, spans []span, opt ExecOptions) error {
	g, ctx := errgroup.WithContext(ctx)
	total := opt.Memory
	opt.Memory = reserveReadBack(files, total)
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
		return produce(ctx, spans, opt, total, budget, jobs, &tracks)
	})
	writers := map[*outFile]chan writeReq{}
	var failed atomic.Bool // a worker failed: the writers' hashes are not finished
	for _, f := range files {
		ch := make(chan writeReq, opt.Threads)
		writers[f] = ch
		g.Go(func() error {
			if err := write(ctx, ch); err != nil {
				return err
			}
			if f.hash != nil && !failed.Load() {
				return f.hash.finish(ctx)
			}
			return nil
		})
	}
	var workers errgroup.Group
	for i := 0; i < opt.Threads; i++ {
		workers.Go(func() error { return work(ctx, jobs, writers) })
	}
	g.Go(func() error {
		err := workers.Wait()
		failed.Store(err != nil)
		for _, ch := range writers {
			close(ch)
		}
		return err
	})
	return g.Wait()
}

// produce cuts every span's rows into chunks, in the order the groups'
// roots appear in the sources, so reads stay sequential on disk.
// opt.Memory is what the budget, total bytes, leaves for row chunks.
func produce(ctx context.Context, spans []span, opt ExecOptions, total int64, budget *semaphore.Weighted, jobs chan<- *chunk, tracks *[]*tensorTrack) error {
	for _, s := range spans {
		g := s.g
		perRow, scratch := g.rowWeight()
		places := g.placements()
		if w := perRow + scratch; w > opt.Memory {
			return fmt.Errorf("tensor %q: one row needs %d bytes in flight (for %d outputs), more than the memory budget of %d bytes (--memory) leaves for rows (%d)", places[0].t.Name, w, len(places), total, opt.Memory)
		}
		per := max((chunkTarget(opt)-scratch)/perRow, 1)
		for _, p := range places {
			p.track = &tensorTrack{}
			p.track.left.Store((s.hi - s.lo + per - 1) / per)
			_, p.track.span = opt.Tracer.Start(spanCtx(ctx, opt.StageSpans, p.file), "tensor "+p.t.Name, trace.WithAttributes(
				attribute.String("tensor.name", p.t.Name),
				attribute.String("tensor.dtype", p.t.DType.String()),
				attribute.Int64("tensor.bytes", p.t.NBytes()),
				attribute.String("tensor.file", p.file.out.Path),
			))
			*tracks = append(*tracks, p.track)
		}
		for r := s.lo; r < s.hi; r += per {
			n := min(per, s.hi-r)
			c := &chunk{g: g, row: r, n: n, weight: n*perRow + scratch, budget: budget}
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

func work(ctx context.Context, jobs <-chan *chunk, writers map[*outFile]chan writeReq) error {
	for c := range jobs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := c.run(ctx, writers); err != nil {
			return err
		}
	}
	return nil
}

// write is one file's writer.
func write(ctx context.Context, reqs <-chan writeReq) error {
	for w := range reqs {
		if _, err := w.p.file.f.WriteAt(w.rows, w.off); err != nil {
			return fmt.Errorf("%s: writing tensor %q at offset %d: %w", w.p.file.out.Path, w.p.t.Name, w.off, err)
		}
		startWriteback(w.p.file.f, w.off, int64(len(w.rows)))
		if h := w.p.file.hash; h != nil {
			if err := h.wrote(w.off, w.rows); err != nil {
				return err
			}
		}
		w.p.file.out.written.Add(int64(len(w.rows)))
		if w.p.track.left.Add(-1) == 0 {
			w.p.track.span.End()
		}
		w.c.done()
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// done counts one write of the chunk; the last returns its buffers and its
// weight.
func (c *chunk) done() {
	if c.pending.Add(-1) > 0 {
		return
	}
	for _, b := range c.bufs {
		tensor.PutBuf(b)
	}
	c.bufs = nil
	c.budget.Release(c.weight)
}

// run reads the chunk's rows of the root once, derives every node of the
// tree, and hands each placement's rows to its file's writer. The writes
// are counted before any is sent, so the buffers outlive the last of them.
func (c *chunk) run(ctx context.Context, writers map[*outFile]chan writeReq) error {
	root := c.g.root
	places := c.g.placements()
	c.pending.Store(int64(len(places)) + 1) // +1: held until every write is sent
	buf := tensor.GetBuf(int(c.n * root.rowBytes))
	c.bufs = append(c.bufs, buf)
	err := root.src.ReadRows(c.row, c.n, *buf)
	var reqs []writeReq
	if err == nil {
		reqs, err = c.visit(root, *buf, reqs)
	}
	if err != nil {
		err = fmt.Errorf("tensor %q rows %d..%d: %w", places[0].t.Name, c.row, c.row+c.n, err)
		places[0].track.span.RecordError(err)
		return err
	}
	for _, w := range reqs {
		select {
		case writers[w.p.file] <- w:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c.done()
	return nil
}

// visit collects the writes of node n's rows of this chunk at n's
// placements, then derives each child's rows from them.
func (c *chunk) visit(n *node, rows []byte, reqs []writeReq) ([]writeReq, error) {
	for _, p := range n.places {
		reqs = append(reqs, writeReq{c: c, p: p, off: p.off + c.row*n.rowBytes, rows: rows})
	}
	for _, k := range n.kids {
		var err error
		if k.tap {
			k.derived.(tensor.Tap).Saw(c.row, c.n, rows)
			if reqs, err = c.visit(k, rows, reqs); err != nil {
				return nil, err
			}
			continue
		}
		out := tensor.GetBuf(int(c.n * k.rowBytes))
		c.bufs = append(c.bufs, out)
		if err = k.derived.Derive(c.row, c.n, rows, *out); err != nil {
			return nil, err
		}
		if reqs, err = c.visit(k, *out, reqs); err != nil {
			return nil, err
		}
	}
	return reqs, nil
}
