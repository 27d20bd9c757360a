// Package cli is mlmf-run's command line: flags, subcommands, exit codes,
// progress and tracing setup around the pipeline engine.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/mlmf-run/mlmf-run/gpu"
	"github.com/mlmf-run/mlmf-run/pipeline"
	"github.com/mlmf-run/mlmf-run/stages"
)

// Exit codes: 2 for a recipe or usage problem (nothing ran), 1 for a failed
// run, 128+signal when interrupted, as shells expect.
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	exitSIGINT  = 130
	exitSIGTERM = 143
)

// Version is set at link time (-ldflags "-X .../cli.Version=v1.2.3"); the
// VCS revision stands in otherwise.
var Version = ""

func version() string {
	if Version != "" {
		return Version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
	}
	return "dev"
}

// usageError marks errors that mean "nothing ran because of what you asked":
// flags, arguments, a recipe that cannot be found. They exit 2 with a
// pointer at --help.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// ranError marks a failure after execution began: whatever it wraps (even
// Problems), something ran, so it exits 1, never 2.
type ranError struct{ error }

func (e ranError) Unwrap() error { return e.error }

// Main runs the command line and returns the process exit code.
func Main(args []string) int {
	return run(args, os.Stdout, os.Stderr)
}

func run(args []string, stdout, stderr io.Writer) int {
	ctx, sig := withSignals(context.Background())
	defer sig.stop()
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	switch {
	case err == nil:
		return exitOK
	case sig.got() == syscall.SIGINT:
		fmt.Fprintln(stderr, "mlmf-run: interrupted; no output was written")
		return exitSIGINT
	case sig.got() == syscall.SIGTERM:
		fmt.Fprintln(stderr, "mlmf-run: terminated; no output was written")
		return exitSIGTERM
	}
	code := exitCode(err)
	var ps pipeline.Problems
	switch {
	case code == exitUsage && errors.As(err, &ps):
		fmt.Fprintln(stderr, ps.Error())
	case errors.Is(err, gpu.ErrNoGPU):
		fmt.Fprintln(stderr, "mlmf-run:", err)
	case code == exitUsage:
		if cmd == nil {
			cmd = root
		}
		fmt.Fprintf(stderr, "mlmf-run: %v\nRun '%s --help' for usage.\n", err, cmd.CommandPath())
	default:
		fmt.Fprintln(stderr, "mlmf-run:", err)
	}
	return code
}

// exitCode is 2 only for "a recipe or usage problem, nothing ran": the
// recipe's Problems (found parsing or planning), usage errors, and a GPU
// asked for that this machine cannot give; any failure once execution
// began, or of anything else, is 1.
func exitCode(err error) int {
	var ran ranError
	var ps pipeline.Problems
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ran):
		return exitFailed
	case errors.As(err, &ps), errors.As(err, &ue), errors.Is(err, gpu.ErrNoGPU):
		return exitUsage
	}
	return exitFailed
}

type signals struct {
	ch     chan os.Signal
	which  chan os.Signal
	cancel context.CancelFunc
}

// withSignals cancels ctx on SIGINT/SIGTERM and remembers which arrived, so
// the exit code can say so.
func withSignals(parent context.Context) (context.Context, *signals) {
	ctx, cancel := context.WithCancel(parent)
	s := &signals{ch: make(chan os.Signal, 1), which: make(chan os.Signal, 1), cancel: cancel}
	signal.Notify(s.ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		if v, ok := <-s.ch; ok {
			s.which <- v
			cancel()
		}
	}()
	return ctx, s
}

func (s *signals) got() os.Signal {
	select {
	case v := <-s.which:
		s.which <- v
		return v
	default:
		return nil
	}
}

func (s *signals) stop() { signal.Stop(s.ch); s.cancel() }

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	var o runFlags
	root := &cobra.Command{
		Use:   "mlmf-run RECIPE [--set key=value]...",
		Short: "Run a model-file recipe: load, convert, quantize, merge, shard, export",
		Long: "mlmf-run runs a versioned YAML recipe over model files in one streaming pass.\n\n" +
			"RECIPE is a recipe file, or the name of a recipe shipped in the binary\n" +
			"('mlmf-run recipes' lists them); where a file has that name, the file wins.\n\n" +
			"Examples:\n" +
			"  mlmf-run hf-to-gguf --set model=./Llama-3.2-1B --set out=llama.gguf --set type=Q4_K_M\n" +
			"  mlmf-run my-recipe.yaml --set model=./Llama-3.2-1B --dry-run\n\n" +
			"Exit codes: 0 success, 1 a failed run, 2 a recipe or usage problem (nothing ran),\n" +
			"130 interrupted (SIGINT), 143 terminated (SIGTERM).",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{errors.New("no recipe given: expected a recipe file or a shipped recipe's name ('mlmf-run recipes' lists them)")}
			}
			if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
				if _, _, err := readRecipe(args[0]); err != nil {
					return usageError{fmt.Errorf("unknown command or recipe %q; did you mean 'mlmf-run %s'?", args[0], s[0])}
				}
			}
			if len(args) > 1 {
				return usageError{fmt.Errorf("expected one RECIPE, got %d arguments: %q", len(args), args)}
			}
			return nil
		},
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRecipe(cmd.Context(), args[0], o, stdout, stderr)
		},
	}
	root.SuggestionsMinimumDistance = 2
	root.SetOut(stdout)
	root.SetErr(stderr)
	o.register(root)
	root.AddCommand(validateCmd(stdout), graphCmd(stdout), schemaCmd(stdout), stagesCmd(stdout),
		versionCmd(stdout), inspectCmd(stdout), convertCmd(stdout, stderr), recipesCmd(stdout),
		keygenCmd(stdout), signCmd(stdout), verifyCmd(stdout), submitCmd(stdout, stderr))
	usageErrors(root)
	return root
}

// usageErrors makes every flag and argument error of c and its subcommands
// a usageError, so it exits 2 and points at --help.
func usageErrors(c *cobra.Command) {
	c.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	if args := c.Args; args != nil {
		c.Args = func(cmd *cobra.Command, a []string) error {
			if err := args(cmd, a); err != nil {
				var ue usageError
				if errors.As(err, &ue) {
					return err
				}
				return usageError{err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		usageErrors(sub)
	}
}

func registry() pipeline.Registry { return stages.Registry() }
