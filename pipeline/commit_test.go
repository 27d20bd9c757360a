package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// commitRegistry is the test registry with a multi-file sink, rawset, and
// a gen that can report files as read.
func commitRegistry() fakeRegistry {
	reg := testRegistry()
	strs := map[string]any{"type": "array", "items": map[string]any{"type": "string"}}
	reg["gen"].Params["properties"].(map[string]any)["files"] = strs
	reg["rawset"] = &Spec{Kind: "rawset", Summary: "write raw, tensor i to paths[i % len(paths)]", MinInputs: 1, MaxInputs: 1,
		Params: map[string]any{"type": "object", "additionalProperties": false, "required": []any{"paths"},
			"properties": map[string]any{"paths": strs}},
		New: func(p Params) (Stage, error) {
			var s rawSetSink
			return &s, p.Decode(&s)
		}}
	return reg
}

func parseSet(t *testing.T, src string) *Recipe {
	t.Helper()
	r, err := Parse("test.yaml", []byte(src), nil, commitRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func setRecipe(paths []string, tensors int) string {
	q := make([]string, len(paths))
	for i, p := range paths {
		q[i] = fmt.Sprintf("%q", p)
	}
	return fmt.Sprintf(`version: 1
stages:
  - id: g
    kind: gen
    with: {tensors: %d, rows: 64, cols: 16}
  - id: w
    kind: rawset
    inputs: [g]
    with: {paths: [%s]}
`, tensors, strings.Join(q, ", "))
}

func writeFiles(t *testing.T, files map[string]string) {
	t.Helper()
	for p, s := range files {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// wantContents fails unless each file holds exactly the given text.
func wantContents(t *testing.T, files map[string]string) {
	t.Helper()
	for p, want := range files {
		got, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
		} else if string(got) != want {
			t.Errorf("%s holds %d bytes %.8q..., want the old %q", p, len(got), got, want)
		}
	}
}

// wantNames fails unless dir holds exactly names (sorted).
func wantNames(t *testing.T, dir string, names ...string) {
	t.Helper()
	if got := strings.Join(leftovers(t, dir), " "); got != strings.Join(names, " ") {
		t.Errorf("dir holds [%s], want [%s]", got, strings.Join(names, " "))
	}
}

// A commit that fails on its second file must not leave the first file new
// and the second old: the old set stays whole.
func TestFailedCommitKeepsTheOldSet(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.raw"), filepath.Join(dir, "b.raw")
	old := map[string]string{a: "old a", b: "old b"}
	writeFiles(t, old)
	whileStreaming = func() {
		// b becomes a folder behind the run's back: its rename must fail.
		if err := os.Remove(b); err != nil {
			t.Errorf("setting up the failing rename: %v", err)
		}
		if err := os.MkdirAll(filepath.Join(b, "x"), 0o755); err != nil {
			t.Errorf("setting up the failing rename: %v", err)
		}
	}
	defer func() { whileStreaming = nil }()
	_, err := Run(context.Background(), parseSet(t, setRecipe([]string{a, b}, 4)), RunOptions{Threads: 1})
	if err == nil || !strings.Contains(err.Error(), b) {
		t.Fatalf("want an error naming %s, got %v", b, err)
	}
	wantContents(t, map[string]string{a: old[a]})
	wantNames(t, dir, "a.raw", "b.raw")
}

// failRename makes the rename onto final fail, once.
func failRename(t *testing.T, final string) {
	t.Helper()
	saved := renameFile
	t.Cleanup(func() { renameFile = saved })
	renameFile = func(from, to string) error {
		if to == final && strings.Contains(filepath.Base(from), tmpInfix) {
			return &os.LinkError{Op: "rename", Old: from, New: to, Err: errors.New("injected failure")}
		}
		return saved(from, to)
	}
}

func TestFailedRenameRestoresEveryOldFile(t *testing.T) {
	for _, failing := range []string{"b.raw", "c.raw", "a.raw.manifest.json"} {
		t.Run(failing, func(t *testing.T) {
			dir := t.TempDir()
			a, b, c := filepath.Join(dir, "a.raw"), filepath.Join(dir, "b.raw"), filepath.Join(dir, "c.raw")
			old := map[string]string{a: "old a", b: "old b", a + ".manifest.json": "old manifest"}
			writeFiles(t, old)
			failRename(t, filepath.Join(dir, failing))
			_, err := Run(context.Background(), parseSet(t, setRecipe([]string{a, b, c}, 6)), RunOptions{Threads: 2})
			if err == nil || !strings.Contains(err.Error(), "injected failure") {
				t.Fatalf("want the injected failure, got %v", err)
			}
			wantContents(t, old)
			wantNames(t, dir, "a.raw", "a.raw.manifest.json", "b.raw")
		})
	}
}

// A manifest that cannot be written fails the run, and then the outputs
// must not be in place either.
func TestManifestFailureLeavesTheOldOutput(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "o.raw")
	writeFiles(t, map[string]string{out: "old"})
	gone := filepath.Join(dir, "vanished.bin")
	r := parseSet(t, recipe(out, 2, 8, 8, fmt.Sprintf(", files: [%q]", gone)))
	_, err := Run(context.Background(), r, RunOptions{Threads: 1})
	wantContents(t, map[string]string{out: "old"})
	wantNames(t, dir, "o.raw")
	if err == nil || !strings.Contains(err.Error(), "manifest") || !strings.Contains(err.Error(), "vanished.bin") {
		t.Errorf("want a manifest error naming the missing input, got %v", err)
	}
}

func TestManifestHashingStopsWhenCanceled(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(p, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := digest(ctx, p, p); !errors.Is(err, context.Canceled) {
		t.Fatalf("hashing under a canceled context: %v, want context.Canceled", err)
	}
}

// Two runs writing one output: the second fails at once, naming the
// output, and the first one's file and manifest agree.
func TestSecondRunOnOneOutputFails(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "o.raw")
	first := make(chan error, 1)
	go func() {
		_, err := Run(context.Background(), mustParse(t, recipe(out, 3, 64, 8, ", delay_ms: 20")), RunOptions{Threads: 1, Memory: 4 << 10})
		first <- err
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !hasTemp(t, dir, "o.raw") {
		if time.Now().After(deadline) {
			t.Fatal("the first run made no temporary in 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	_, err := Run(context.Background(), mustParse(t, recipe(out, 1, 2, 2, "")), RunOptions{Threads: 1})
	if !errors.Is(err, ErrOutputBusy) || !strings.Contains(err.Error(), out) {
		t.Errorf("second run: %v, want ErrOutputBusy naming %s", err, out)
	}
	if err := <-first; err != nil {
		t.Fatalf("first run: %v", err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, expectRaw(3, 64, 8)) {
		t.Error("the output is not the first run's")
	}
	var m Manifest
	if b, err := os.ReadFile(out + ".manifest.json"); err != nil || json.Unmarshal(b, &m) != nil || len(m.Outputs) != 1 {
		t.Fatalf("manifest: %v", err)
	}
	if sum := sha256.Sum256(got); m.Outputs[0].SHA256 != hex.EncodeToString(sum[:]) {
		t.Error("the manifest describes another file than the output")
	}
	wantNames(t, dir, "o.raw", "o.raw.manifest.json")
}

func hasTemp(t *testing.T, dir, base string) bool {
	for _, n := range leftovers(t, dir) {
		if strings.HasPrefix(n, "."+base+".tmp-") {
			return true
		}
	}
	return false
}

// Temporaries and backups that a killed run left are removed by the next
// run writing the same output; look-alikes are not touched.
func TestStaleTemporariesAreRemoved(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "o.raw")
	stale := []string{".o.raw.tmp-123", ".o.raw.old-4567", ".o.raw.manifest.json.tmp-89"}
	kept := []string{".o.raw.tmp-12a", ".o.raw.tmp-", ".p.raw.tmp-5", "o.raw.tmp-5"}
	for _, n := range append(append([]string{}, stale...), kept...) {
		writeFiles(t, map[string]string{filepath.Join(dir, n): "x"})
	}
	if _, err := Run(context.Background(), mustParse(t, recipe(out, 1, 2, 2, "")), RunOptions{Threads: 1}); err != nil {
		t.Fatal(err)
	}
	wantNames(t, dir, ".o.raw.tmp-", ".o.raw.tmp-12a", ".p.raw.tmp-5", "o.raw", "o.raw.manifest.json", "o.raw.tmp-5")
}
