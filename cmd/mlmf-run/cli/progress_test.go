package cli

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mlmf-run/mlmf-run/pipeline"
	"github.com/mlmf-run/mlmf-run/stages"
)

// TestProgressLineETA: 1 of 4 MB in 10 s leaves 3 MB at 100 KB/s, 30 s.
func TestProgressLineETA(t *testing.T) {
	l := progressLine("out.gguf", 1_000_000, 4_000_000, 10*time.Second)
	if !strings.Contains(l, "eta 30s") || !strings.Contains(l, " 25.0%") {
		t.Fatalf("line %q, want 25.0%% and eta 30s", l)
	}
}

// TestProgressLineNeverAbove100: a counter past its total (a source read
// by several consumers would do it) is shown as done, not as 300%.
func TestProgressLineNeverAbove100(t *testing.T) {
	l := progressLine("src", 3_000, 1_000, time.Second)
	if !strings.Contains(l, "100.0%") || !strings.Contains(l, "eta -") {
		t.Fatalf("line %q, want 100.0%% and no eta", l)
	}
}

// TestProgressPlainBlockPrintedOnce: when nothing moved since the last
// block, a plain (not terminal) render prints nothing.
func TestProgressPlainBlockPrintedOnce(t *testing.T) {
	var b bytes.Buffer
	g := &progress{p: tinyPlan(t), w: &b, start: time.Now(), done: make(chan struct{})}
	g.render()
	first := b.String()
	g.render()
	if first == "" || b.String() != first {
		t.Fatalf("two renders of an unchanged state printed:\n%s", b.String())
	}
	g.phase("manifest: sha256 of 2 files, 1 KiB")
	if !strings.HasSuffix(b.String(), "manifest: sha256 of 2 files, 1 KiB\n") {
		t.Fatalf("no phase line:\n%s", b.String())
	}
}

// tinyPlan plans the bundled model's conversion to one GGUF.
func tinyPlan(t *testing.T) *pipeline.Plan {
	t.Helper()
	model, err := filepath.Abs("../../../testdata/tiny-llama")
	if err != nil {
		t.Fatal(err)
	}
	src := fmt.Sprintf(`version: 1
stages:
  - {id: src, kind: load, with: {path: %q}}
  - {id: arch, kind: detect, inputs: [src]}
  - {id: names, kind: remap, inputs: [arch]}
  - {id: out, kind: export, inputs: [names], with: {path: %q}}
`, model, filepath.Join(t.TempDir(), "tiny.gguf"))
	r, err := pipeline.Parse("p.yaml", []byte(src), nil, stages.Registry())
	if err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.Build(context.Background(), r, pipeline.Env{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}
