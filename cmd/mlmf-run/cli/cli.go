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

// usageError marks errors that mean "nothing ran because of what you asked".
type usageError struct{ error }

// Main runs the command line and returns the process exit code.
func Main(args []string) int {
	return run(args, os.Stdout, os.Stderr)
}

func run(args []string, stdout, stderr io.Writer) int {
	ctx, sig := withSignals(context.Background())
	defer sig.stop()
	root := newRoot(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
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
	var ps pipeline.Problems
	var ue usageError
	switch {
	case errors.As(err, &ps):
		fmt.Fprintln(stderr, ps.Error())
		return exitUsage
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "mlmf-run:", err)
		return exitUsage
	}
	fmt.Fprintln(stderr, "mlmf-run:", err)
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
		Long: "mlmf-run runs a versioned YAML recipe over model files in one streaming pass.\n" +
			"Example: mlmf-run recipes/llama-to-gguf-q4.yaml --set model=./Llama-3.2-1B",
		Args:          cobra.ExactArgs(1),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRecipe(cmd.Context(), args[0], o, stdout, stderr)
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	o.register(root)
	root.AddCommand(validateCmd(stdout), graphCmd(stdout), schemaCmd(stdout), stagesCmd(stdout),
		versionCmd(stdout), inspectCmd(stdout), convertCmd(stdout, stderr))
	return root
}

func registry() pipeline.Registry { return stages.Registry() }
