package cli

import (
	"fmt"
	"io"
	"os"
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
}

func startProgress(p *pipeline.Plan, w io.Writer) *progress {
	g := &progress{p: p, w: w, start: time.Now(), done: make(chan struct{})}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
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

func (g *progress) stop(ok bool) {
	close(g.done)
	g.wg.Wait()
	if ok {
		g.render()
	}
}

func (g *progress) lines() []string {
	el := time.Since(g.start).Seconds()
	var out []string
	for _, s := range g.p.Stages {
		if s.Total() == 0 {
			continue
		}
		done := s.Bytes()
		rate := float64(done) / max(el, 1e-9)
		eta := "-"
		if rate > 0 && done < s.Total() {
			eta = (time.Duration(float64(s.Total()-done)/rate) * time.Second / time.Second).Round(time.Second).String()
		}
		out = append(out, fmt.Sprintf("%-14s %5.1f%%  %10s / %-10s %10s/s  eta %s", s.Decl.ID,
			100*float64(done)/float64(s.Total()), humanBytes(done), humanBytes(s.Total()), humanBytes(int64(rate)), eta))
	}
	return out
}

func (g *progress) render() {
	ls := g.lines()
	if !g.tty {
		for _, l := range ls {
			fmt.Fprintln(g.w, l)
		}
		return
	}
	if g.printed > 0 {
		fmt.Fprintf(g.w, "\x1b[%dA", g.printed)
	}
	fmt.Fprint(g.w, "\x1b[J"+strings.Join(ls, "\n")+"\n")
	g.printed = len(ls)
}
