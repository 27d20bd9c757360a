package pipeline

import (
	"bytes"
	"context"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func recipe(out string, tensors, rows, cols int, extra string) string {
	return strings.NewReplacer("OUT", out, "T", itoa(tensors), "R", itoa(rows), "C", itoa(cols), "EXTRA", extra).Replace(`version: 1
stages:
  - id: g
    kind: gen
    with: {tensors: T, rows: R, cols: C EXTRA}
  - id: s
    kind: scale
    inputs: [g]
    with: {by: 3}
  - id: w
    kind: raw
    inputs: [s]
    with: {path: "OUT"}
`)
}

func itoa(i int) string { return strconv.Itoa(i) }

func sortedStrings(s []string) []string { sort.Strings(s); return s }

func mustParse(t *testing.T, src string) *Recipe {
	t.Helper()
	r, err := Parse("test.yaml", []byte(src), nil, testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// expectRaw rebuilds the expected file from the generator's formula and the
// scale factor, independently of the engine.
func expectRaw(tensors, rows, cols int) []byte {
	var b bytes.Buffer
	b.WriteString(rawHeader)
	for t := 0; t < tensors; t++ {
		for r := 0; r < rows; r++ {
			for c := 0; c < cols; c++ {
				binary.Write(&b, binary.LittleEndian, math.Float32bits(genValue(int64(t), int64(r), int64(c))*3))
			}
		}
	}
	return b.Bytes()
}

func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestExecuteWritesExpectedBytesWhateverTheThreads(t *testing.T) {
	want := expectRaw(3, 257, 33)
	for _, threads := range []int{1, 2, 7} {
		for _, mem := range []int64{4 << 10, 1 << 30} {
			dir := t.TempDir()
			out := filepath.Join(dir, "o.raw")
			r := mustParse(t, recipe(out, 3, 257, 33, ""))
			res, err := Run(context.Background(), r, RunOptions{Threads: threads, Memory: mem, Version: "test"})
			if err != nil {
				t.Fatalf("threads %d mem %d: %v", threads, mem, err)
			}
			got, _ := os.ReadFile(out)
			if !bytes.Equal(got, want) {
				t.Fatalf("threads %d mem %d: output differs", threads, mem)
			}
			if res.Manifest != out+".manifest.json" {
				t.Errorf("manifest at %q", res.Manifest)
			}
			if names := leftovers(t, dir); len(names) != 2 {
				t.Errorf("dir holds %v, want the output and its manifest", names)
			}
		}
	}
}

func TestSpanTree(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	out := filepath.Join(t.TempDir(), "o.raw")
	r := mustParse(t, recipe(out, 2, 10, 8, ""))
	if _, err := Run(context.Background(), r, RunOptions{Threads: 2, Tracer: tp.Tracer("test")}); err != nil {
		t.Fatal(err)
	}
	spans := exp.GetSpans()
	byID := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		byID[s.SpanContext.SpanID().String()] = s
	}
	parent := func(s tracetest.SpanStub) string {
		if p, ok := byID[s.Parent.SpanID().String()]; ok {
			return p.Name
		}
		return ""
	}
	var tree []string
	attrs := map[string]map[string]string{}
	for _, s := range spans {
		tree = append(tree, parent(s)+" > "+s.Name)
		attrs[s.Name] = map[string]string{}
		for _, a := range s.Attributes {
			attrs[s.Name][string(a.Key)] = a.Value.String()
		}
	}
	want := []string{" > run", "run > stage g", "run > stage s", "run > stage w", "stage w > tensor t0", "stage w > tensor t1"}
	if got := sortedStrings(tree); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("span tree:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if a := attrs["tensor t1"]; a["tensor.bytes"] != "320" || a["tensor.dtype"] != "F32" {
		t.Errorf("tensor span attributes %v", a)
	}
	if a := attrs["stage s"]; a["stage.kind"] != "scale" || a["stage.bytes"] != "640" {
		t.Errorf("stage span attributes %v", a)
	}
}

func TestCancelLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "o.raw")
	r := mustParse(t, recipe(out, 4, 4096, 64, ", delay_ms: 5"))
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(150*time.Millisecond, cancel)
	start := time.Now()
	_, err := Run(ctx, r, RunOptions{Threads: 2, Memory: 64 << 10})
	if !ErrCanceled(err) {
		t.Fatalf("want cancellation, got %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cancellation took %v", d)
	}
	if names := leftovers(t, dir); len(names) != 0 {
		t.Errorf("left behind: %v", names)
	}
}

func TestFailureMidStreamLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "o.raw")
	if err := os.WriteFile(filepath.Join(dir, "unrelated"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := mustParse(t, recipe(out, 3, 2000, 16, ", fail_at_row: 1500"))
	_, err := Run(context.Background(), r, RunOptions{Threads: 2, Memory: 32 << 10})
	if err == nil || !strings.Contains(err.Error(), `tensor "t1"`) || !strings.Contains(err.Error(), "injected failure at row 1500") {
		t.Fatalf("want the injected failure naming the tensor, got %v", err)
	}
	if names := leftovers(t, dir); len(names) != 1 || names[0] != "unrelated" {
		t.Errorf("dir holds %v, want only the unrelated file", names)
	}
}

func TestRowLargerThanBudgetIsAnError(t *testing.T) {
	out := filepath.Join(t.TempDir(), "o.raw")
	r := mustParse(t, recipe(out, 1, 2, 4096, ""))
	_, err := Run(context.Background(), r, RunOptions{Threads: 1, Memory: 1024})
	if err == nil || !strings.Contains(err.Error(), "more than the memory budget") {
		t.Fatalf("got %v", err)
	}
}

// TestOutputsGetCreateModeNotTempMode runs itself again in a child process
// under umask 027, where an output must be 0640 as os.Create would make it
// (CreateTemp's 0600 or a fixed 0644 would be wrong), and so its manifest.
func TestOutputsGetCreateModeNotTempMode(t *testing.T) {
	if os.Getenv("MLMF_TEST_UMASK_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestOutputsGetCreateModeNotTempMode$", "-test.count=1")
		cmd.Env = append(os.Environ(), "MLMF_TEST_UMASK_CHILD=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("child: %v\n%s", err, out)
		} else if !strings.Contains(string(out), "PASS") {
			t.Fatalf("child ran no test:\n%s", out)
		}
		return
	}
	syscall.Umask(0o027)
	out := filepath.Join(t.TempDir(), "o.raw")
	if _, err := Run(context.Background(), mustParse(t, recipe(out, 1, 2, 2, "")), RunOptions{Threads: 1}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{out, out + ".manifest.json"} {
		st, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o640 {
			t.Errorf("%s: mode %v, want -rw-r----- under umask 027", p, st.Mode().Perm())
		}
	}
}

func TestNoManifest(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "o.raw")
	res, err := Run(context.Background(), mustParse(t, recipe(out, 1, 2, 2, "")), RunOptions{Threads: 1, NoManifest: true})
	if err != nil {
		t.Fatal(err)
	}
	if names := leftovers(t, dir); len(names) != 1 || res.Manifest != "" {
		t.Errorf("dir holds %v, manifest %q; want the output alone", names, res.Manifest)
	}
}
