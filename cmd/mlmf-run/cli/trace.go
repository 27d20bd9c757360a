package cli

import (
	"context"
	"fmt"
	"os"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// setupTracing builds the tracer for a run: spans go to --trace-file as JSON
// lines, and to OTLP/HTTP when the standard OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT variable is set (the exporter reads the
// other OTEL_EXPORTER_OTLP_* variables itself). With neither, tracing costs
// nothing.
func setupTracing(ctx context.Context, file string) (trace.Tracer, func(), error) {
	var opts []sdktrace.TracerProviderOption
	var closers []func()
	if file != "" {
		f, err := os.Create(file)
		if err != nil {
			return nil, nil, fmt.Errorf("--trace-file: %w", err)
		}
		exp, err := stdouttrace.New(stdouttrace.WithWriter(f))
		if err != nil {
			f.Close()
			return nil, nil, err
		}
		opts = append(opts, sdktrace.WithSyncer(exp))
		closers = append(closers, func() { f.Close() })
	}
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" {
		exp, err := otlptracehttp.New(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("OTLP exporter: %w", err)
		}
		opts = append(opts, sdktrace.WithBatcher(exp))
	}
	if len(opts) == 0 {
		return noop.NewTracerProvider().Tracer(""), func() {}, nil
	}
	res, _ := resource.Merge(resource.Default(), resource.NewSchemaless(semconv.ServiceName("mlmf-run"), semconv.ServiceVersion(version())))
	tp := sdktrace.NewTracerProvider(append(opts, sdktrace.WithResource(res))...)
	return tp.Tracer("mlmf-run"), func() {
		tp.Shutdown(context.Background())
		for _, c := range closers {
			c()
		}
	}, nil
}
