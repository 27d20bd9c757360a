package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// planProblem plans src as a dry run and returns its one problem's message.
func planProblem(t *testing.T, src string) string {
	t.Helper()
	_, err := Run(context.Background(), parseSet(t, src), RunOptions{DryRun: true})
	ps, ok := AsProblems(err)
	if !ok || len(ps) != 1 {
		t.Fatalf("want one plan problem, got %v", err)
	}
	return ps[0].Error()
}

// An output is compared with the files the run reads by identity, so a
// symlinked folder, another spelling or a hard link does not hide an input.
func TestOutputThatIsAnInputIsRefused(t *testing.T) {
	dir := t.TempDir()
	model := filepath.Join(dir, "model")
	if err := os.Mkdir(model, 0o755); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(model, "config.json")
	writeFiles(t, map[string]string{in: "{}"})
	if err := os.Symlink(model, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(in, filepath.Join(dir, "hard.json")); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{
		in,
		filepath.Join(dir, "link", "config.json"),
		model + "/../model/config.json",
		filepath.Join(dir, "hard.json"),
	} {
		src := recipe(out, 1, 2, 2, fmt.Sprintf(", files: [%q]", in))
		msg := planProblem(t, src)
		if !strings.Contains(msg, out+" would overwrite an input") {
			t.Errorf("output %s: %s", out, msg)
		}
		if !strings.HasPrefix(msg, `test.yaml:10:5: stage "w": `) {
			t.Errorf("output %s: problem not at the sink stage: %s", out, msg)
		}
		wantContents(t, map[string]string{in: "{}"})
	}
}

func TestOutputsThatAreOneFileAreRefused(t *testing.T) {
	dir := t.TempDir()
	if err := os.Symlink(dir, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	a := filepath.Join(dir, "a.raw")
	msg := planProblem(t, setRecipe([]string{a, filepath.Join(dir, "link", "a.raw")}, 2))
	if !strings.Contains(msg, "link/a.raw is written twice") {
		t.Error(msg)
	}
}

// An existing folder, a path ending in a slash, a FIFO: refused when
// planning (so by validate and --dry-run too), and left as they are.
func TestOutputThatIsNoRegularFileIsRefused(t *testing.T) {
	dir := t.TempDir()
	folder := filepath.Join(dir, "folder")
	fifo := filepath.Join(dir, "fifo")
	if err := os.Mkdir(folder, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(folder, filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}
	for out, want := range map[string]string{
		folder:                          folder + " is an existing folder",
		filepath.Join(dir, "new") + "/": filepath.Join(dir, "new") + "/ ends in a slash",
		filepath.Join(dir, "link"):      "link is a symbolic link to a folder",
		fifo:                            fifo + " is a named pipe (FIFO), not a regular file: refusing to replace it",
	} {
		if msg := planProblem(t, recipe(out, 1, 2, 2, "")); !strings.Contains(msg, want) {
			t.Errorf("output %s: %s", out, msg)
		}
	}
	if st, err := os.Lstat(fifo); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the FIFO was replaced: %v %v", st.Mode(), err)
	}
}

// The manifest path is checked like an output, unless no manifest is
// written.
func TestManifestPathThatIsAFolderIsRefused(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "o.raw")
	if err := os.Mkdir(out+".manifest.json", 0o755); err != nil {
		t.Fatal(err)
	}
	if msg := planProblem(t, recipe(out, 1, 2, 2, "")); !strings.Contains(msg, "manifest "+out+".manifest.json is an existing folder") {
		t.Error(msg)
	}
	if _, err := Run(context.Background(), parseSet(t, recipe(out, 1, 2, 2, "")), RunOptions{DryRun: true, NoManifest: true}); err != nil {
		t.Errorf("with no manifest: %v", err)
	}
}

// A special file appearing at an output after planning is refused too,
// not replaced.
func TestSpecialFileAppearingAfterPlanningIsNotReplaced(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "o.raw")
	opt := RunOptions{Threads: 1, OnPlan: func(*Plan) {
		if err := syscall.Mkfifo(out, 0o644); err != nil {
			t.Error(err)
		}
	}}
	_, err := Run(context.Background(), parseSet(t, recipe(out, 1, 2, 2, "")), opt)
	if err == nil || !strings.Contains(err.Error(), "is a named pipe (FIFO)") {
		t.Fatalf("got %v", err)
	}
	if st, err := os.Lstat(out); err != nil || st.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the FIFO was replaced: %v", err)
	}
	wantNames(t, dir, "o.raw")
}
