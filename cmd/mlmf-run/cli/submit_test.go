package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	batchv1 "k8s.io/api/batch/v1"
)

// tinyModel is the bundled model, for runs that need no corpus.
func tinyModel(t *testing.T) string {
	t.Helper()
	m, err := filepath.Abs(filepath.Join("..", "..", "..", "testdata", "tiny-llama"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// decodeJobs decodes the YAML documents of submit k8s with the Kubernetes
// API types, refusing any field they do not have.
func decodeJobs(t *testing.T, text string) []batchv1.Job {
	t.Helper()
	var jobs []batchv1.Job
	dec := yaml.NewDecoder(strings.NewReader(text))
	for {
		var doc any
		if err := dec.Decode(&doc); err != nil {
			if err.Error() == "EOF" {
				return jobs
			}
			t.Fatal(err)
		}
		b, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		var j batchv1.Job
		jd := json.NewDecoder(bytes.NewReader(b))
		jd.DisallowUnknownFields()
		if err := jd.Decode(&j); err != nil {
			t.Fatalf("not a batch/v1 Job: %v\n%s", err, b)
		}
		jobs = append(jobs, j)
	}
}

// TestSubmitK8sPrintsRunnableJobs decodes the two Jobs with the Kubernetes
// types, then runs what their pods would run, in a folder standing for
// the volume: the N indexed pods at once, then the finalize pod; the
// output must equal a run in one process.
func TestSubmitK8sPrintsRunnableJobs(t *testing.T) {
	vol := t.TempDir()
	if err := os.Symlink(tinyModel(t), filepath.Join(vol, "tiny-llama")); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI("submit", "k8s", "hf-to-gguf", "--parts", "3", "--image", "reg/mlmf-run:1", "--claim", "models",
		"--set", "model=tiny-llama", "--set", "out=out/m.gguf", "--set", "type=Q8_0", "-j", "2", "--name", "tiny", "--device", "cpu")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	jobs := decodeJobs(t, out)
	if len(jobs) != 2 {
		t.Fatalf("%d Jobs, want the parts and the finalize", len(jobs))
	}
	parts, final := jobs[0], jobs[1]
	ps, fs := parts.Spec.Template.Spec, final.Spec.Template.Spec
	switch {
	case parts.Name != "tiny-parts" || final.Name != "tiny-finalize":
		t.Errorf("names %q, %q", parts.Name, final.Name)
	case parts.Spec.CompletionMode == nil || *parts.Spec.CompletionMode != batchv1.IndexedCompletion:
		t.Errorf("parts: completionMode %v, want Indexed", parts.Spec.CompletionMode)
	case *parts.Spec.Completions != 3 || *parts.Spec.Parallelism != 3 || *final.Spec.Completions != 1:
		t.Errorf("completions %d, parallelism %d, finalize %d", *parts.Spec.Completions, *parts.Spec.Parallelism, *final.Spec.Completions)
	case ps.Volumes[0].PersistentVolumeClaim.ClaimName != "models" || ps.Containers[0].VolumeMounts[0].MountPath != "/data" ||
		ps.Containers[0].WorkingDir != "/data" || ps.Containers[0].Image != "reg/mlmf-run:1":
		t.Errorf("parts pod: %+v", ps)
	case !strings.Contains(strings.Join(ps.Containers[0].Args, " "), "--device cpu --parts 3"):
		t.Errorf("parts args %q, want --device cpu passed on", ps.Containers[0].Args)
	case ps.Containers[0].Resources.Requests.Cpu().Value() != 2:
		t.Errorf("cpu request %v, want 2 (-j 2)", ps.Containers[0].Resources.Requests.Cpu())
	}
	one := t.TempDir()
	if code, _, errs := runCLI("hf-to-gguf", "-q", "--set", "model="+tinyModel(t), "--set", "out="+filepath.Join(one, "m.gguf"), "--set", "type=Q8_0"); code != 0 {
		t.Fatalf("one process: %s", errs)
	}
	pod := func(args []string, env ...string) *exec.Cmd {
		c := cliProcess(env, args...)
		c.Dir = vol // the pod's workingDir
		return c
	}
	var procs []*exec.Cmd
	for i := range 3 {
		c := pod(ps.Containers[0].Args, fmt.Sprintf("JOB_COMPLETION_INDEX=%d", i))
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, c)
	}
	for i, c := range procs {
		if err := c.Wait(); err != nil {
			t.Fatalf("pod %d: %v", i, err)
		}
	}
	if b, err := pod(fs.Containers[0].Args).CombinedOutput(); err != nil {
		t.Fatalf("finalize pod: %v\n%s", err, b)
	}
	sameTree(t, one, filepath.Join(vol, "out"))
}

func TestSubmitK8sRefusesBadNames(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--claim", "c"}, "--image is required"},
		{[]string{"--image", "i"}, "--claim is required"},
		{[]string{"--image", "i", "--claim", "c", "--name", "Big_Name"}, "--name"},
		{[]string{"--image", "i", "--claim", "c", "--parts", "0"}, "--parts 0"},
		{[]string{"--image", "i", "--claim", "c", "--device", "tpu"}, "--device"},
	} {
		args := append([]string{"submit", "k8s", "hf-to-gguf", "--parts", "2", "--set", "model=m", "--set", "out=o"}, c.args...)
		if code, _, errs := runCLI(args...); code != exitUsage || !strings.Contains(errs, c.want) {
			t.Errorf("%v: exit %d %q, want 2 and %q", c.args, code, errs, c.want)
		}
	}
}

// fakeSbatch is an sbatch that logs its arguments, one call a line, and
// prints job ids 101, 102, ... as --parsable does (with a cluster name).
func fakeSbatch(t *testing.T) (bin, log string) {
	t.Helper()
	dir := t.TempDir()
	bin, log = filepath.Join(dir, "sbatch"), filepath.Join(dir, "calls")
	script := fmt.Sprintf("#!/bin/sh\necho \"$*\" >> %s\necho \"$((100 + $(wc -l < %s)));testcluster\"\n", log, log)
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, log
}

// TestSubmitSlurmScriptsRun submits through a fake sbatch, checks the two
// calls (the finalize after the array job, sbatch options passed to both),
// then runs the scripts as Slurm would: every array task at once with its
// $SLURM_ARRAY_TASK_ID, then the finalize. The output must equal a run in
// one process.
func TestSubmitSlurmScriptsRun(t *testing.T) {
	sbatch, log := fakeSbatch(t)
	dir, scripts := t.TempDir(), t.TempDir()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI("submit", "slurm", "hf-to-gguf", "--parts", "4", "--set", "model="+tinyModel(t),
		"--set", "out="+filepath.Join(dir, "m.gguf"), "--set", "type=Q4_K_M", "--sbatch", sbatch, "--script-dir", scripts,
		"--binary", self, "--name", "tiny", "--", "--partition=debug", "--time=10")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "parts: job 101 (array 0-3") || !strings.Contains(out, "finalize: job 102") {
		t.Errorf("printed %q, want both job ids", out)
	}
	calls, _ := os.ReadFile(log)
	want := fmt.Sprintf("--parsable --partition=debug --time=10 %s\n--parsable --dependency=afterok:101 --partition=debug --time=10 %s\n",
		filepath.Join(scripts, "tiny-parts.sbatch"), filepath.Join(scripts, "tiny-finalize.sbatch"))
	if string(calls) != want {
		t.Fatalf("sbatch calls:\n%s\nwant:\n%s", calls, want)
	}
	text, _ := os.ReadFile(filepath.Join(scripts, "tiny-parts.sbatch"))
	if !strings.Contains(string(text), "#SBATCH --array=0-3\n") {
		t.Errorf("parts script:\n%s", text)
	}
	one := t.TempDir()
	if code, _, errs := runCLI("hf-to-gguf", "-q", "--set", "model="+tinyModel(t), "--set", "out="+filepath.Join(one, "m.gguf"), "--set", "type=Q4_K_M"); code != 0 {
		t.Fatalf("one process: %s", errs)
	}
	var procs []*exec.Cmd
	for i := range 4 {
		c := exec.Command("bash", filepath.Join(scripts, "tiny-parts.sbatch"))
		c.Env = append(os.Environ(), "MLMF_CLI_MAIN=1", fmt.Sprintf("SLURM_ARRAY_TASK_ID=%d", i), "SLURM_CPUS_PER_TASK=1")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, c)
	}
	for i, c := range procs {
		if err := c.Wait(); err != nil {
			t.Fatalf("array task %d: %v", i, err)
		}
	}
	c := exec.Command("bash", filepath.Join(scripts, "tiny-finalize.sbatch"))
	c.Env = append(os.Environ(), "MLMF_CLI_MAIN=1")
	if b, err := c.CombinedOutput(); err != nil {
		t.Fatalf("finalize: %v\n%s", err, b)
	}
	sameTree(t, one, dir)
}

// TestSubmitSlurmPlansFirst: a recipe that cannot be planned submits
// nothing.
func TestSubmitSlurmPlansFirst(t *testing.T) {
	sbatch, log := fakeSbatch(t)
	code, _, errs := runCLI("submit", "slurm", "hf-to-gguf", "--parts", "2", "--set", "model="+filepath.Join(t.TempDir(), "none"),
		"--set", "out=o.gguf", "--sbatch", sbatch, "--script-dir", t.TempDir())
	if code != exitUsage || !strings.Contains(errs, "none") {
		t.Errorf("exit %d: %s", code, errs)
	}
	if _, err := os.Stat(log); err == nil {
		t.Error("sbatch was called")
	}
}
