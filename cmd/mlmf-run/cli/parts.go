package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"github.com/mlmf-run/mlmf-run/pipeline"
)

// partFlags divide a run into parts that separate processes run
// (pipeline/parts.go): Slurm array tasks, Kubernetes Indexed Job pods.
type partFlags struct {
	n        int
	i        int
	finalize bool
	wait     time.Duration
}

// partIndexEnv are where a scheduler puts a task's index, in the order
// they are read: Slurm's array task id, a Kubernetes Indexed Job's index.
var partIndexEnv = []string{"SLURM_ARRAY_TASK_ID", "JOB_COMPLETION_INDEX"}

func (p *partFlags) register(f *pflag.FlagSet) {
	f.IntVar(&p.n, "parts", 0, "divide the run into N parts run by separate processes on a shared filesystem, then --finalize (docs/distributed.md)")
	f.IntVar(&p.i, "part", -1, "with --parts: the part to run, 0 to N-1 (default: $SLURM_ARRAY_TASK_ID or $JOB_COMPLETION_INDEX)")
	f.BoolVar(&p.finalize, "finalize", false, "with --parts: check that every part completed, then rename the outputs into place and write the manifest")
	f.DurationVar(&p.wait, "wait", 0, "with --finalize: wait up to this long (e.g. 24h) for parts not yet completed")
}

// check resolves the part index and refuses combinations that mean
// nothing, before anything is read. A dry run needs no part: it shows
// every part's share.
func (p *partFlags) check(dryRun bool) error {
	switch {
	case p.n == 0 && (p.i >= 0 || p.finalize):
		return usageError{errors.New("--part and --finalize need --parts N")}
	case p.n < 0:
		return usageError{fmt.Errorf("--parts %d: expected 1 or more", p.n)}
	case p.wait < 0 || p.wait > 0 && !p.finalize:
		return usageError{errors.New("--wait needs --finalize and a positive duration")}
	case p.n == 0:
		return nil
	case p.finalize && p.i >= 0:
		return usageError{errors.New("--finalize runs no part: give --part or --finalize, not both")}
	case p.finalize, dryRun && p.i < 0:
		return nil
	}
	if p.i < 0 {
		for _, env := range partIndexEnv {
			v, ok := os.LookupEnv(env)
			if !ok {
				continue
			}
			i, err := strconv.Atoi(v)
			if err != nil {
				return usageError{fmt.Errorf("$%s=%q: expected a part number", env, v)}
			}
			p.i = i
			break
		}
	}
	if p.i < 0 {
		return usageError{fmt.Errorf("--parts %d: which part? Give --part 0 to %d, or run as a Slurm array task ($SLURM_ARRAY_TASK_ID) or a Kubernetes Indexed Job pod ($JOB_COMPLETION_INDEX)", p.n, p.n-1)}
	}
	if p.i >= p.n {
		return usageError{fmt.Errorf("part %d of --parts %d: expected 0 to %d (Slurm: --array=0-%d)", p.i, p.n, p.n-1, p.n-1)}
	}
	return nil
}

// printShares is --dry-run --parts N: what each part writes.
func printShares(w io.Writer, p *pipeline.Plan, n int) {
	for i := range n {
		fmt.Fprintf(w, "part %d of %d: %s\n", i, n, humanBytes(pipeline.PartBytes(p, i, n)))
	}
}

func (p *partFlags) options() pipeline.PartOptions {
	if p.n == 0 {
		return pipeline.PartOptions{}
	}
	return pipeline.PartOptions{N: p.n, I: max(p.i, 0), Finalize: p.finalize}
}

// reportPart says a part is done; its outputs are not, until --finalize.
func reportPart(w io.Writer, o runFlags, part pipeline.PartOptions, took time.Duration) error {
	switch {
	case o.json:
		return json.NewEncoder(w).Encode(map[string]any{"part": part.I, "parts": part.N, "seconds": took.Seconds()})
	case !o.quiet:
		fmt.Fprintf(w, "part %d of %d done in %s; after every part, run again with --parts %d --finalize\n",
			part.I, part.N, took.Round(time.Millisecond), part.N)
	}
	return nil
}

// finalizePoll is how often a waiting finalize looks for the parts again.
var finalizePoll = 15 * time.Second

// finalizeWaiting runs --finalize until no part is missing or --wait is
// over: a Kubernetes finalize Job starts with the parts, having no way to
// wait for them. A stale part, or any other error, ends it at once.
func finalizeWaiting(ctx context.Context, path string, o runFlags, mem int64, stdout, stderr io.Writer) error {
	deadline := time.Now().Add(o.parts.wait)
	for {
		r, err := loadRecipe(path, o.sets)
		if err != nil {
			return err
		}
		err = execute(ctx, r, o, mem, stdout, stderr)
		if err == nil || !errors.Is(err, pipeline.ErrPartMissing) || errors.Is(err, pipeline.ErrPartStale) {
			return err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("after waiting %s: %w", o.parts.wait, err)
		}
		if !o.quiet {
			fmt.Fprintf(stderr, "mlmf-run: %v; waiting\n", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(min(left, finalizePoll)):
		}
	}
}
