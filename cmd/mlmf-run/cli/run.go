package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mlmf-run/mlmf-run/gpu"
	"github.com/mlmf-run/mlmf-run/pipeline"
)

type runFlags struct {
	sets       []string
	dryRun     bool
	memory     string
	threads    int
	traceFile  string
	quiet      bool
	json       bool
	noManifest bool
	device     string
	parts      partFlags
}

func (o *runFlags) register(c *cobra.Command) {
	f := c.Flags()
	f.StringArrayVar(&o.sets, "set", nil, "override a recipe var: --set key=value (repeatable)")
	f.BoolVar(&o.dryRun, "dry-run", false, "plan only: print every output tensor and file, read no weights")
	f.StringVar(&o.memory, "memory", "1GiB", "memory budget for data in flight (e.g. 512MiB, 4G)")
	f.IntVarP(&o.threads, "threads", "j", min(runtime.NumCPU(), maxThreads), fmt.Sprintf("worker threads, 1 to %d", maxThreads))
	f.StringVar(&o.traceFile, "trace-file", "", "write OpenTelemetry spans as JSON lines to this file (when the run ends; not if planning fails)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "print nothing but errors")
	f.BoolVar(&o.json, "json", false, "print the result (or the plan with --dry-run) as JSON")
	f.BoolVar(&o.noManifest, "no-manifest", false, "write no OUT.manifest.json (skips hashing every input and output)")
	f.StringVar(&o.device, "device", "auto", "where quantize and merge-lora encode rows: "+gpu.Specs+" (docs/gpu.md)")
	o.parts.register(f)
}

// maxThreads bounds -j: workers past the cores only queue, and a typo such
// as -j 100000000 would start that many goroutines with a buffer each.
const maxThreads = 1024

// check refuses flag values no run can use, before anything is read.
func (o *runFlags) check() error {
	if o.threads < 1 || o.threads > maxThreads {
		return usageError{fmt.Errorf("-j/--threads %d: expected 1 to %d", o.threads, maxThreads)}
	}
	if _, err := gpu.ParseSpec(o.device); err != nil {
		return usageError{fmt.Errorf("--device: %w", err)}
	}
	return o.parts.check(o.dryRun)
}

// chooseDevice resolves --device before planning: a GPU asked for and not
// usable ends the run here (exit 2, one line, nothing written); auto's
// fallback to the CPU is said in one line, by a binary that can use a GPU
// (the static default build cannot, and would say so on every run).
func (o *runFlags) chooseDevice(log *slog.Logger) error {
	s, err := gpu.ParseSpec(o.device)
	if err != nil {
		return usageError{fmt.Errorf("--device: %w", err)}
	}
	c, err := gpu.Choose(s)
	if err != nil {
		return fmt.Errorf("--device: %w", err)
	}
	switch {
	case c.CPU() && c.Reason != "" && gpu.Built():
		log.Info("device: the CPU encodes: " + c.Reason)
	case !c.CPU():
		var names []string
		for _, g := range c.GPUs {
			names = append(names, g.String())
		}
		log.Info("device: " + strings.Join(names, "; "))
	}
	return nil
}

func parseSets(sets []string) (map[string]string, error) {
	out := map[string]string{}
	for _, s := range sets {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return nil, usageError{fmt.Errorf("--set %q: expected key=value", s)}
		}
		out[k] = v
	}
	return out, nil
}

// loadRecipe reads the recipe a RECIPE argument names (a file, or a shipped
// recipe) and parses it with every var required.
func loadRecipe(arg string, sets []string) (*pipeline.Recipe, error) {
	label, raw, vals, err := recipeAndSets(arg, sets)
	if err != nil {
		return nil, err
	}
	return pipeline.Parse(label, raw, vals, registry())
}

// recipeAndSets reads the recipe a RECIPE argument names and the --set
// values given with it, for the parsers that take both.
func recipeAndSets(arg string, sets []string) (label string, raw []byte, vals map[string]string, err error) {
	if vals, err = parseSets(sets); err != nil {
		return "", nil, nil, err
	}
	label, raw, err = readRecipe(arg)
	return label, raw, vals, err
}

func runRecipe(ctx context.Context, path string, o runFlags, stdout, stderr io.Writer) error {
	if err := o.check(); err != nil {
		return err
	}
	mem, err := memoryBudget(o.memory)
	if err != nil {
		return usageError{err}
	}
	if o.parts.wait > 0 {
		return finalizeWaiting(ctx, path, o, mem, stdout, stderr)
	}
	r, err := loadRecipe(path, o.sets)
	if err != nil {
		return err
	}
	return execute(ctx, r, o, mem, stdout, stderr)
}

func execute(ctx context.Context, r *pipeline.Recipe, o runFlags, mem int64, stdout, stderr io.Writer) (err error) {
	// The Go heap must respect the budget too: a soft limit makes the
	// collector work harder instead of letting garbage outgrow it.
	debug.SetMemoryLimit(mem + 128<<20)
	if stop := startCPUProfile(stderr); stop != nil {
		defer stop()
	}
	tracing, err := setupTracing(ctx, o.traceFile)
	if err != nil {
		return usageError{err}
	}
	defer func() {
		if terr := tracing.end(); err == nil {
			err = terr
		}
	}()
	level := slog.LevelInfo
	if o.quiet || o.json {
		level = slog.LevelError
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := o.chooseDevice(log); err != nil {
		return err
	}
	var prog *progress
	planned := false
	part := o.parts.options()
	opts := pipeline.RunOptions{Memory: mem, Threads: o.threads, DryRun: o.dryRun, NoManifest: o.noManifest, Version: version(), Device: o.device,
		Tracer: tracing.tracer, Log: log, CheckPlan: tracing.checkPlan, Part: part,
		OnPlan: func(p *pipeline.Plan) {
			planned = true
			switch {
			case o.dryRun || o.quiet || o.json || part.Finalize: // a finalize streams nothing
			case part.N > 0: // the stages' totals are the whole run's
				prog = startPartProgress(p, stderr, part.I, part.N)
			default:
				prog = startProgress(p, stderr)
			}
		},
		OnManifest: func(files int, bytes int64) {
			if prog != nil {
				prog.phase(fmt.Sprintf("manifest: sha256 of %d files, %s", files, humanBytes(bytes)))
			}
		}}
	start := time.Now()
	res, err := pipeline.Run(ctx, r, opts)
	if prog != nil {
		prog.stop(err == nil)
	}
	if err != nil && planned && !o.dryRun {
		return ranError{err}
	}
	if err != nil {
		return err
	}
	switch {
	case part.N > 0 && !part.Finalize && !o.dryRun:
		return reportPart(stdout, o, part, time.Since(start))
	case o.dryRun && o.json:
		return json.NewEncoder(stdout).Encode(planJSON(res.Plan))
	case o.dryRun:
		printPlan(stdout, res.Plan)
		if part.N > 0 {
			printShares(stdout, res.Plan, part.N)
		}
	case o.json:
		return json.NewEncoder(stdout).Encode(map[string]any{"outputs": outputPaths(res.Plan), "manifest": res.Manifest,
			"seconds": time.Since(start).Seconds()})
	case !o.quiet:
		for _, p := range outputPaths(res.Plan) {
			fmt.Fprintln(stdout, "wrote", p)
		}
		if res.Manifest != "" {
			fmt.Fprintln(stdout, "manifest", res.Manifest)
		}
	}
	return nil
}

func outputPaths(p *pipeline.Plan) []string {
	var out []string
	for _, o := range p.Outputs {
		out = append(out, o.Path)
	}
	return out
}

type planTensor struct {
	Name  string `json:"name"`
	DType string `json:"dtype"`
	// Shape is as inspect shows the written file: ggml order (ne0, the
	// row, first) in a GGUF, row-major elsewhere.
	Shape  []int64 `json:"shape"`
	Bytes  int64   `json:"bytes"`
	Offset int64   `json:"offset"`
	Source string  `json:"source"`
}

type planFile struct {
	Path    string       `json:"path"`
	Bytes   int64        `json:"bytes"`
	Tensors []planTensor `json:"tensors"`
}

func planJSON(p *pipeline.Plan) []planFile {
	var out []planFile
	for _, o := range p.Outputs {
		f := planFile{Path: o.Path, Bytes: o.Size, Tensors: []planTensor{}}
		gguf := bytes.HasPrefix(o.Prefix, []byte("GGUF"))
		for _, pl := range o.Tensors {
			t := pl.T
			shape := t.Shape
			if gguf {
				shape = slices.Clone(shape)
				slices.Reverse(shape)
			}
			f.Tensors = append(f.Tensors, planTensor{t.Name, t.DType.String(), shape, t.NBytes(), pl.Offset, t.Src.Describe()})
		}
		out = append(out, f)
	}
	return out
}

func printPlan(w io.Writer, p *pipeline.Plan) {
	var total int64
	for _, f := range planJSON(p) {
		fmt.Fprintf(w, "%s  %s\n", f.Path, humanBytes(f.Bytes))
		for _, t := range f.Tensors {
			fmt.Fprintf(w, "  %-40s %-5s %-16s %10s  <- %s\n", t.Name, t.DType, fmt.Sprint(t.Shape), humanBytes(t.Bytes), t.Source)
		}
		total += f.Bytes
	}
	fmt.Fprintf(w, "%d file(s), %s\n", len(p.Outputs), humanBytes(total))
}
