package pipeline

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// threeBranches feeds one generator to two scales and to a raw copy.
func threeBranches(dir, failB string) string {
	return fmt.Sprintf(`version: 1
stages:
  - {id: g, kind: gen, with: {tensors: 3, rows: 301, cols: 17}}
  - {id: a, kind: scale, inputs: [g], with: {by: 2}}
  - {id: b, kind: scale, inputs: [g], with: {by: 3 %s}}
  - {id: wa, kind: raw, inputs: [a], with: {path: %q}}
  - {id: wb, kind: raw, inputs: [b], with: {path: %q}}
  - {id: wg, kind: raw, inputs: [g], with: {path: %q}}
`, failB, filepath.Join(dir, "a.raw"), filepath.Join(dir, "b.raw"), filepath.Join(dir, "g.raw"))
}

// scaledRaw is the file a raw sink writes of gen's tensors times by,
// computed from the generator's formula, not by the engine.
func scaledRaw(tensors, rows, cols int, by float32) []byte {
	var b bytes.Buffer
	b.WriteString(rawHeader)
	for t := 0; t < tensors; t++ {
		for r := 0; r < rows; r++ {
			for c := 0; c < cols; c++ {
				binary.Write(&b, binary.LittleEndian, math.Float32bits(genValue(int64(t), int64(r), int64(c))*by))
			}
		}
	}
	return b.Bytes()
}

func TestFanOutGeneratesEachRowOnce(t *testing.T) {
	for _, threads := range []int{1, 4} {
		dir := t.TempDir()
		r := mustParse(t, threeBranches(dir, ""))
		genRows.Store(0)
		if _, err := Run(context.Background(), r, RunOptions{Threads: threads, Memory: 8 << 10, NoManifest: true}); err != nil {
			t.Fatal(err)
		}
		if got := genRows.Load(); got != 3*301 {
			t.Errorf("threads %d: the generator made %d rows for 3 outputs of 3x301 rows, want each once (903)", threads, got)
		}
		for name, by := range map[string]float32{"a.raw": 2, "b.raw": 3, "g.raw": 1} {
			got, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, scaledRaw(3, 301, 17, by)) {
				t.Errorf("threads %d: %s differs from the generator's values times %g", threads, name, by)
			}
		}
	}
}

// TestFanOutFailureLeavesNoBranch: one branch failing mid-tensor leaves
// no output of any branch, final or temporary.
func TestFanOutFailureLeavesNoBranch(t *testing.T) {
	dir := t.TempDir()
	r := mustParse(t, threeBranches(dir, ", fail_at_row: 250"))
	_, err := Run(context.Background(), r, RunOptions{Threads: 3, Memory: 8 << 10, NoManifest: true})
	if err == nil || !strings.Contains(err.Error(), "injected failure at row 250") {
		t.Fatalf("got %v, want the injected failure", err)
	}
	if left := leftovers(t, dir); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
}

// TestFanOutCancelLeavesNoBranch: Ctrl-C while three branches stream.
func TestFanOutCancelLeavesNoBranch(t *testing.T) {
	dir := t.TempDir()
	src := strings.Replace(threeBranches(dir, ""), "cols: 17}", "cols: 17, delay_ms: 5}", 1)
	r := mustParse(t, src)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	genRows.Store(0)
	go func() {
		_, err := Run(ctx, r, RunOptions{Threads: 2, Memory: 8 << 10, NoManifest: true})
		done <- err
	}()
	for genRows.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; !ErrCanceled(err) {
		t.Fatalf("got %v, want a cancellation", err)
	}
	if left := leftovers(t, dir); len(left) != 0 {
		t.Fatalf("left behind: %v", left)
	}
}
