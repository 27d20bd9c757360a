package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/mlmf-run/mlmf-run/pipeline"
)

// progress reports bytes, throughput and ETA per stage: redrawn in place on
// a terminal, as plain lines every few seconds otherwise (logs, CI).
type progress struct {
	p       *pipeline.Plan
	w       io.Writer
	tty     bool
	start   time.Time
	done    chan struct{}
	wg      sync.WaitGroup
	printed int
	last    string // the block last printed, when not a terminal
	once    sync.Once
	// part, when set, is the one line of a run's part: its bytes written
	// against its share (the stages' totals are the whole run's).
	part      string
	partBytes int64
}

func startProgress(p *pipeline.Plan, w io.Writer) *progress {
	return (&progress{p: p, w: w}).run()
}

// startPartProgress shows the progress of part i of n of the plan.
func startPartProgress(p *pipeline.Plan, w io.Writer, i, n int) *progress {
	g := &progress{p: p, w: w, part: fmt.Sprintf("part %d of %d", i, n), partBytes: pipeline.PartBytes(p, i, n)}
	return g.run()
}

func (g *progress) run() *progress {
	g.start, g.done = time.Now(), make(chan struct{})
	if f, ok := g.w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		g.tty = true
	}
	every := 5 * time.Second
	if g.tty {
		every = 200 * time.Millisecond
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-g.done:
				return
			case <-t.C:
				g.render()
			}
		}
	}()
	return g
}

// stop ends the redrawing; with ok, the final state is drawn once more.
// It is safe to call more than once (a phase line stops it early).
func (g *progress) stop(ok bool) {
	g.once.Do(func() {
		close(g.done)
		g.wg.Wait()
		if ok {
			g.render()
		}
	})
}

// lines is one line per stage that is not a sink (a load stage's line is
// what was read from its source, once however many outputs use it) and one
// per output file (what has been written into it).
func (g *progress) lines() []string {
	el := time.Since(g.start)
	if g.part != "" {
		var done int64
		for _, o := range g.p.Outputs {
			done += o.Written()
		}
		return []string{progressLine(g.part, done, max(g.partBytes, 1), el)}
	}
	var out []string
	for _, s := range g.p.Stages {
		if s.Total() == 0 || s.Sink {
			continue
		}
		out = append(out, progressLine(s.Decl.ID, s.Bytes(), s.Total(), el))
	}
	for _, o := range g.p.Outputs {
		if t := o.TensorBytes(); t > 0 {
			out = append(out, progressLine(filepath.Base(o.Path), o.Written(), t, el))
		}
	}
	return out
}

// progressLine is one name's bytes done, throughput and time left.
func progressLine(name string, done, total int64, elapsed time.Duration) string {
	done = min(done, total)
	rate := float64(done) / max(elapsed.Seconds(), 1e-9)
	eta := "-"
	if rate > 0 && done < total {
		eta = time.Duration(float64(total-done) / rate * float64(time.Second)).Round(time.Second).String()
	}
	return fmt.Sprintf("%-24s %5.1f%%  %10s / %-10s %10s/s  eta %s", name,
		100*float64(done)/float64(total), humanBytes(done), humanBytes(total), humanBytes(int64(rate)), eta)
}

func (g *progress) render() {
	ls := g.lines()
	if !g.tty {
		// Plain output prints a block only when something moved, so the
		// final render after the last tick does not repeat it.
		if text := strings.Join(ls, "\n"); text != g.last {
			fmt.Fprintln(g.w, text)
			g.last = text
		}
		return
	}
	if g.printed > 0 {
		fmt.Fprintf(g.w, "\x1b[%dA", g.printed)
	}
	fmt.Fprint(g.w, "\x1b[J"+strings.Join(ls, "\n")+"\n")
	g.printed = len(ls)
}

// phase ends the byte counters (all tensors are written) and prints a line
// for work that moves no tensor bytes, such as hashing the manifest's files,
// so a run is not silent after 100%.
func (g *progress) phase(what string) {
	g.stop(true)
	fmt.Fprintln(g.w, what)
}
