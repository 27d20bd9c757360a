package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mlmf-run/mlmf-run/gpu"
	"github.com/mlmf-run/mlmf-run/pipeline"
)

// submitFlags are what both schedulers need: the run, divided into parts.
type submitFlags struct {
	parts      int
	sets       []string
	memory     string
	threads    int
	noManifest bool
	name       string
	device     string
}

func (s *submitFlags) register(c *cobra.Command) {
	f := c.Flags()
	f.IntVar(&s.parts, "parts", 0, "number of parts (array tasks, or Indexed Job completions); required")
	f.StringArrayVar(&s.sets, "set", nil, "override a recipe var: --set key=value (repeatable); relative paths are from the working folder")
	f.StringVar(&s.memory, "memory", "1GiB", "each part's memory budget for data in flight")
	f.IntVarP(&s.threads, "threads", "j", 0, "each part's worker threads (default: the CPUs the scheduler gives it)")
	f.BoolVar(&s.noManifest, "no-manifest", false, "the finalize writes no manifest")
	f.StringVar(&s.name, "name", "mlmf-run", "job name (Kubernetes: a DNS label, lowercase letters, digits and '-')")
	f.StringVar(&s.device, "device", "", "each part's --device: "+gpu.Specs+" (default: the parts' own default, auto)")
}

func (s *submitFlags) check() (int64, error) {
	if s.parts < 1 {
		return 0, usageError{fmt.Errorf("--parts %d: expected 1 or more", s.parts)}
	}
	if s.threads < 0 || s.threads > maxThreads {
		return 0, usageError{fmt.Errorf("-j/--threads %d: expected 1 to %d", s.threads, maxThreads)}
	}
	mem, err := memoryBudget(s.memory)
	if err != nil {
		return 0, usageError{err}
	}
	if _, err := parseSets(s.sets); err != nil {
		return 0, err
	}
	if s.device != "" {
		if _, err := gpu.ParseSpec(s.device); err != nil {
			return 0, usageError{fmt.Errorf("--device: %w", err)}
		}
	}
	return mem, nil
}

// runArgs are the arguments of every part's and the finalize's mlmf-run,
// after the recipe; threads is how -j is spelled ("" leaves it out).
func (s *submitFlags) runArgs(threads string) []string {
	var a []string
	for _, kv := range s.sets {
		a = append(a, "--set", kv)
	}
	a = append(a, "--memory", s.memory)
	if threads != "" {
		a = append(a, "-j", threads)
	}
	if s.noManifest {
		a = append(a, "--no-manifest")
	}
	if s.device != "" {
		a = append(a, "--device", s.device)
	}
	return append(a, "--parts", strconv.Itoa(s.parts))
}

func submitCmd(stdout, stderr io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "submit",
		Short: "Run a recipe as N parts on a cluster: a Slurm array job, or Kubernetes Indexed Jobs (docs/distributed.md)",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return usageError{errors.New("expected slurm or k8s")} },
	}
	c.AddCommand(submitSlurmCmd(stdout), submitK8sCmd(stdout))
	return c
}

func submitSlurmCmd(stdout io.Writer) *cobra.Command {
	var s submitFlags
	var sbatch, dir, binary string
	c := &cobra.Command{
		Use:   "slurm RECIPE --parts N [--set key=value]... [-- sbatch options]",
		Short: "Write and submit an sbatch array job of N parts and a finalize job that runs after them (afterok); print the job ids",
		Long: "The recipe is planned here first, so its problems show now, not in the queue. The\n" +
			"scripts are written to --script-dir and submitted with sbatch; options after -- go\n" +
			"to both sbatch calls (partition, account, time, memory). Outputs and inputs must be on\n" +
			"a filesystem every node shares, as must the mlmf-run binary (--binary).",
		Args: func(cmd *cobra.Command, args []string) error {
			if dash := cmd.ArgsLenAtDash(); len(args) == 0 || dash == 0 || (dash < 0 && len(args) > 1) || dash > 1 {
				return usageError{errors.New("expected one RECIPE, then sbatch options after --")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			mem, err := s.check()
			if err != nil {
				return err
			}
			if binary == "" {
				if binary, err = os.Executable(); err != nil {
					return err
				}
			}
			return submitSlurm(cmd.Context(), stdout, s, mem, args[0], args[1:], sbatch, dir, binary)
		},
	}
	s.register(c)
	c.Flags().StringVar(&sbatch, "sbatch", "sbatch", "the sbatch command")
	c.Flags().StringVar(&dir, "script-dir", ".", "where to write NAME-parts.sbatch and NAME-finalize.sbatch (and the jobs' logs)")
	c.Flags().StringVar(&binary, "binary", "", "the mlmf-run the nodes run (default: this one; it must be on a shared filesystem)")
	return c
}

// planHere plans the recipe as the parts will, so that a bad var or a
// missing input fails the submission rather than N queued jobs.
func planHere(ctx context.Context, recipe string, s submitFlags, mem int64) error {
	r, err := loadRecipe(recipe, s.sets)
	if err != nil {
		return err
	}
	res, err := pipeline.Run(ctx, r, pipeline.RunOptions{DryRun: true, Memory: mem, Threads: 1})
	if err != nil {
		return err
	}
	if len(res.Plan.Outputs) == 0 {
		return usageError{fmt.Errorf("recipe %s writes no output: nothing to divide into parts", recipe)}
	}
	return nil
}

// recipeArg is how a job names the recipe: a file by its absolute path
// (jobs may start elsewhere), a shipped recipe by its name.
func recipeArg(arg string) string {
	if st, err := os.Stat(arg); err == nil && !st.IsDir() {
		if abs, err := filepath.Abs(arg); err == nil {
			return abs
		}
	}
	return arg
}

func submitSlurm(ctx context.Context, stdout io.Writer, s submitFlags, mem int64, recipe string, opts []string, sbatch, dir, binary string) error {
	if err := planHere(ctx, recipe, s, mem); err != nil {
		return err
	}
	cwd, err := os.Getwd()
	if err != nil {
		return err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return err
	}
	threads, cpus := `"${SLURM_CPUS_PER_TASK:-$(nproc)}"`, ""
	if s.threads > 0 {
		threads, cpus = strconv.Itoa(s.threads), fmt.Sprintf("#SBATCH --cpus-per-task=%d\n", s.threads)
	}
	run := shellQuote(binary) + " " + shellQuote(recipeArg(recipe))
	for _, a := range s.runArgs("") {
		run += " " + shellQuote(a)
	}
	run += " -j " + threads
	head := "#!/bin/bash\n# Written by mlmf-run submit slurm (docs/distributed.md).\n"
	parts := fmt.Sprintf("%s#SBATCH --job-name=%s\n#SBATCH --array=0-%d\n%s#SBATCH --output=%s\nset -euo pipefail\ncd %s\nexec %s\n",
		head, s.name, s.parts-1, cpus, filepath.Join(dir, s.name+"-%A_%a.out"), shellQuote(cwd), run)
	final := fmt.Sprintf("%s#SBATCH --job-name=%s-finalize\n%s#SBATCH --kill-on-invalid-dep=yes\n#SBATCH --output=%s\nset -euo pipefail\ncd %s\nexec %s --finalize\n",
		head, s.name, cpus, filepath.Join(dir, s.name+"-finalize-%j.out"), shellQuote(cwd), run)
	partsPath, finalPath := filepath.Join(dir, s.name+"-parts.sbatch"), filepath.Join(dir, s.name+"-finalize.sbatch")
	for path, text := range map[string]string{partsPath: parts, finalPath: final} {
		if err := os.WriteFile(path, []byte(text), 0o755); err != nil {
			return err
		}
	}
	id, err := runSbatch(ctx, sbatch, append(append([]string{"--parsable"}, opts...), partsPath))
	if err != nil {
		return err
	}
	fid, err := runSbatch(ctx, sbatch, append(append([]string{"--parsable", "--dependency=afterok:" + id}, opts...), finalPath))
	if err != nil {
		return fmt.Errorf("%w (the parts, job %s, are queued: scancel %s)", err, id, id)
	}
	fmt.Fprintf(stdout, "parts: job %s (array 0-%d, %s)\nfinalize: job %s (after every part succeeds, %s)\n", id, s.parts-1, partsPath, fid, finalPath)
	return nil
}

// sbatchID is what sbatch --parsable prints: a job id, then ";cluster".
var sbatchID = regexp.MustCompile(`^([0-9]+)(;\S+)?$`)

func runSbatch(ctx context.Context, sbatch string, args []string) (string, error) {
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, sbatch, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", sbatch, strings.Join(args, " "), err, strings.TrimSpace(errb.String()))
	}
	m := sbatchID.FindStringSubmatch(strings.TrimSpace(out.String()))
	if m == nil {
		return "", fmt.Errorf("%s printed %q: expected a job id (--parsable)", sbatch, out.String())
	}
	return m[1], nil
}

// shellQuote quotes s for bash, in single quotes unless it needs none.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=+./:,@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
