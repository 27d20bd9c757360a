package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
)

// TestMain lets a test run the command line in a child process: with
// MLMF_CLI_MAIN set, the test binary is mlmf-run.
func TestMain(m *testing.M) {
	if os.Getenv("MLMF_CLI_MAIN") == "1" {
		if os.Getenv("MLMF_TEST_FINALIZE_POLL") != "" {
			finalizePoll = 50 * time.Millisecond
		}
		os.Exit(Main(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// cliProcess is mlmf-run with args in a child process.
func cliProcess(env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(os.Environ(), "MLMF_CLI_MAIN=1"), env...)
	return cmd
}

// TestPartsAsProcessesEqualOneProcess runs each recipe once in one
// process, and again as 4 parts in 4 processes at once (the index from
// $SLURM_ARRAY_TASK_ID, as in an array job) plus a finalize: every file
// must be byte-identical. One GGUF (a K-quant mix, so parts differ in
// compute), a GGUF split set, and a sharded HF export.
func TestPartsAsProcessesEqualOneProcess(t *testing.T) {
	model := corpus.Path(t, "tiny-llama-spm")
	cases := []struct {
		name, recipe string
		sets         []string
		files        int
	}{
		{"gguf", "hf-to-gguf", []string{"type=Q4_K_M", "out=OUT/m.gguf"}, 1},
		{"gguf split", "hf-to-gguf", []string{"type=Q8_0", "split_max_tensors=5", "out=OUT/m.gguf"}, 5},
		{"hf shards", "reshard", []string{"max_shard_size=300KB", "out=OUT/hf"}, 6},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			one, four := t.TempDir(), t.TempDir()
			args := func(out string) []string {
				a := []string{c.recipe, "-q", "-j", "2", "--set", "model=" + model}
				for _, s := range c.sets {
					a = append(a, "--set", strings.ReplaceAll(s, "OUT", out))
				}
				return a
			}
			if code, _, errs := runCLI(args(one)...); code != 0 {
				t.Fatalf("one process: exit %d: %s", code, errs)
			}
			var procs []*exec.Cmd
			var outs []*bytes.Buffer
			for i := range 4 {
				cmd := cliProcess([]string{"SLURM_ARRAY_TASK_ID=" + string(rune('0'+i))}, append(args(four), "--parts", "4")...)
				var b bytes.Buffer
				cmd.Stdout, cmd.Stderr = &b, &b
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				procs, outs = append(procs, cmd), append(outs, &b)
			}
			for i, cmd := range procs {
				if err := cmd.Wait(); err != nil {
					t.Fatalf("part %d: %v\n%s", i, err, outs[i])
				}
			}
			if code, _, errs := runCLI(append(args(four), "--parts", "4", "--finalize")...); code != 0 {
				t.Fatalf("finalize: exit %d: %s", code, errs)
			}
			if n := sameTree(t, one, four); n < c.files {
				t.Errorf("%d files, want %d or more", n, c.files)
			}
		})
	}
}

// sameTree compares every file under a and b but the manifests, which
// name their own paths and times.
func sameTree(t *testing.T, a, b string) int {
	t.Helper()
	list := func(root string) []string {
		var names []string
		filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".manifest.json") {
				rel, _ := filepath.Rel(root, p)
				names = append(names, rel)
			}
			return err
		})
		return names
	}
	na, nb := list(a), list(b)
	if !slices.Equal(na, nb) {
		t.Fatalf("one process wrote %v, the parts %v", na, nb)
	}
	for _, n := range na {
		x, _ := os.ReadFile(filepath.Join(a, n))
		y, _ := os.ReadFile(filepath.Join(b, n))
		if !bytes.Equal(x, y) {
			t.Errorf("%s: the parts' file differs from one process's (%d and %d bytes)", n, len(y), len(x))
		}
	}
	t.Logf("%d files compared: %v", len(na), na)
	return len(na)
}

func TestPartFlagsRefused(t *testing.T) {
	t.Setenv("SLURM_ARRAY_TASK_ID", "")
	os.Unsetenv("SLURM_ARRAY_TASK_ID")
	t.Setenv("JOB_COMPLETION_INDEX", "")
	os.Unsetenv("JOB_COMPLETION_INDEX")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--part", "1"}, "--part and --finalize need --parts N"},
		{[]string{"--parts", "4"}, "which part?"},
		{[]string{"--parts", "4", "--part", "4"}, "expected 0 to 3"},
		{[]string{"--parts", "4", "--part", "1", "--finalize"}, "not both"},
		{[]string{"--parts", "4", "--wait", "1h"}, "--wait needs --finalize"},
	} {
		code, _, errs := runCLI(append([]string{"hf-to-gguf", "--set", "model=x", "--set", "out=y"}, c.args...)...)
		if code != exitUsage || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", c.args, code, errs, c.want)
		}
	}
}

// TestFinalizeWaitsForParts: a finalize started before the last part
// waits for it (as the Kubernetes finalize Job does), and one whose wait
// ends first fails naming the part.
func TestFinalizeWaitsForParts(t *testing.T) {
	defer func(p time.Duration) { finalizePoll = p }(finalizePoll)
	finalizePoll = 50 * time.Millisecond
	dir := t.TempDir()
	args := []string{"hf-to-gguf", "-q", "--set", "model=" + tinyModel(t), "--set", "out=" + filepath.Join(dir, "m.gguf"), "--set", "type=Q8_0", "--parts", "2"}
	if code, _, errs := runCLI(append(args, "--part", "0")...); code != 0 {
		t.Fatal(errs)
	}
	code, _, errs := runCLI(append(args, "--finalize", "--wait", "200ms")...)
	if code != exitFailed || !strings.Contains(errs, "after waiting 200ms") || !strings.Contains(errs, "part 1 of 2") {
		t.Fatalf("exit %d: %s; want 1, part 1 of 2 named after the wait", code, errs)
	}
	fin := cliProcess([]string{"MLMF_TEST_FINALIZE_POLL=1"}, append(args, "--finalize", "--wait", "1m")...)
	var out bytes.Buffer
	fin.Stdout, fin.Stderr = &out, &out
	if err := fin.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if code, _, errs := runCLI(append(args, "--part", "1")...); code != 0 {
		t.Fatal(errs)
	}
	if err := fin.Wait(); err != nil {
		t.Fatalf("finalize: %v\n%s", err, out.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "m.gguf")); err != nil {
		t.Fatal(err)
	}
}

// TestPartProgressCountsItsShare: a part's progress line counts to its own
// share of the bytes, not the whole run's.
func TestPartProgressCountsItsShare(t *testing.T) {
	out := filepath.Join(t.TempDir(), "m.gguf")
	code, _, errs := runCLI("hf-to-gguf", "--set", "model="+tinyModel(t), "--set", "out="+out, "--set", "type=Q8_0", "--parts", "2", "--part", "1")
	if code != 0 || !strings.Contains(errs, "part 1 of 2") || !strings.Contains(errs, "100.0%") {
		t.Fatalf("exit %d, stderr %q; want part 1 of 2 at 100.0%%", code, errs)
	}
}

func TestDryRunShowsEveryPartsShare(t *testing.T) {
	code, out, errs := runCLI("hf-to-gguf", "--dry-run", "--set", "model="+tinyModel(t), "--set", "out=m.gguf", "--parts", "3")
	if code != 0 || !strings.Contains(out, "part 0 of 3: ") || !strings.Contains(out, "part 2 of 3: ") {
		t.Fatalf("exit %d: %s%s", code, out, errs)
	}
}
