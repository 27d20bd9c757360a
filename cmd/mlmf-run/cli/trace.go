package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/mlmf-run/mlmf-run/pipeline"
)

// tracing is a run's tracer and what must happen when the run ends.
type tracing struct {
	tracer   trace.Tracer
	shutdown func()
	file     *traceFile // nil without --trace-file
}

// setupTracing builds the tracer for a run: spans go to --trace-file as JSON
// lines, and to OTLP/HTTP when the standard OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT variable is set (the exporter reads the
// other OTEL_EXPORTER_OTLP_* variables itself). With neither, tracing costs
// nothing.
func setupTracing(ctx context.Context, file string) (*tracing, error) {
	t := &tracing{tracer: noop.NewTracerProvider().Tracer(""), shutdown: func() {}}
	var opts []sdktrace.TracerProviderOption
	if file != "" {
		f, err := openTraceFile(file)
		if err != nil {
			return nil, fmt.Errorf("--trace-file: %w", err)
		}
		exp, err := stdouttrace.New(stdouttrace.WithWriter(f.f))
		if err != nil {
			f.abort()
			return nil, err
		}
		opts = append(opts, sdktrace.WithSyncer(exp))
		t.file = f
	}
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" {
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			if t.file != nil {
				t.file.abort()
			}
			return nil, fmt.Errorf("OTLP exporter: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	if len(opts) == 0 {
		return t, nil
	}
	res, _ := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName("mlmf-run"), semconv.ServiceVersion(version())))
	tp := sdktrace.NewTracerProvider(append(opts, sdktrace.WithResource(res))...)
	t.tracer, t.shutdown = tp.Tracer("mlmf-run"), func() { tp.Shutdown(context.Background()) }
	return t, nil
}

// checkPlan refuses a --trace-file that the run reads or writes.
func (t *tracing) checkPlan(p *pipeline.Plan) error {
	if t.file == nil {
		return nil
	}
	return t.file.check(p)
}

// end flushes the spans and puts the trace file in place.
func (t *tracing) end() error {
	t.shutdown()
	if t.file == nil {
		return nil
	}
	if err := t.file.finish(); err != nil {
		return fmt.Errorf("--trace-file: %w", err)
	}
	return nil
}

// traceFile is where --trace-file's spans go. A regular file, or a new
// one, is written through a temporary beside it and renamed into place when
// the run ends, only once planning found the path to be no file the run
// reads or writes: --trace-file naming an input shard or the recipe damages
// nothing, and a run refused at planning writes no trace. A terminal, pipe
// or device is written to directly: it holds no data to lose.
type traceFile struct {
	path string
	f    *os.File
	tmp  string // "" when writing to path directly
	ok   bool   // planning allowed path
}

func openTraceFile(path string) (*traceFile, error) {
	st, err := os.Stat(path)
	switch {
	case err == nil && st.IsDir():
		return nil, fmt.Errorf("%s is a folder: expected a file path", path)
	case err == nil && !st.Mode().IsRegular():
		flag := os.O_WRONLY
		if st.Mode()&fs.ModeNamedPipe != 0 {
			flag |= syscall.O_NONBLOCK // a FIFO nobody reads fails at once instead of hanging
		}
		f, err := os.OpenFile(path, flag, 0)
		if err != nil {
			return nil, err
		}
		return &traceFile{path: path, f: f}, nil
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	dir, base := filepath.Dir(path), filepath.Base(path)
	for range 100 {
		tmp := filepath.Join(dir, "."+base+".tmp-"+strconv.FormatUint(uint64(rand.Uint32()), 10))
		f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &traceFile{path: path, f: f, tmp: tmp}, nil
	}
	return nil, fmt.Errorf("%s: no free name for a temporary", path)
}

func (t *traceFile) check(p *pipeline.Plan) error {
	if t.tmp == "" {
		return nil
	}
	if err := p.CheckWrite(t.path); err != nil {
		return usageError{fmt.Errorf("--trace-file: %w", err)}
	}
	t.ok = true
	return nil
}

// finish closes the file and, for a temporary that planning allowed,
// renames it into place; otherwise removes it.
func (t *traceFile) finish() error {
	err := t.f.Close()
	if t.tmp == "" {
		return err
	}
	if err != nil || !t.ok {
		os.Remove(t.tmp)
		return err
	}
	if err := os.Rename(t.tmp, t.path); err != nil {
		os.Remove(t.tmp)
		return err
	}
	return nil
}

func (t *traceFile) abort() {
	t.f.Close()
	if t.tmp != "" {
		os.Remove(t.tmp)
	}
}
