package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/gpu"
)

// TestDeviceCUDAWithoutGPU: --device cuda (and a stage's device: cuda) on
// a machine with no usable GPU ends the run at plan time with exit 2, one
// line naming the reason, and no output file. This machine (and CI) has
// no GPU; a binary built without the cuda tag never has one.
func TestDeviceCUDAWithoutGPU(t *testing.T) {
	if c, err := gpu.Choose(gpu.Spec{Kind: "cuda"}); err == nil {
		t.Skipf("this machine has a usable GPU (%v): the refusal cannot be shown here", c.GPUs)
	}
	model := filepath.Join(moduleRoot(t), "testdata", "tiny-llama")
	dir := t.TempDir()
	out := filepath.Join(dir, "m.gguf")
	recipe := filepath.Join(dir, "q.yaml")
	if err := os.WriteFile(recipe, []byte(`version: 1
stages:
  - {id: src, kind: load, with: {path: "`+model+`"}}
  - {id: arch, kind: detect, inputs: [src]}
  - {id: names, kind: remap, inputs: [arch]}
  - {id: q, kind: quantize, inputs: [names], with: {type: Q8_0, device: "cuda:0"}}
  - {id: out, kind: export, inputs: [q], with: {path: "`+out+`"}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"convert", model, "-o", out, "--type", "Q8_0", "--device", "cuda"},
		{"hf-to-gguf", "--set", "model=" + model, "--set", "out=" + out, "--device", "cuda:0,1"},
		{recipe, "--device", "cpu"},
	} {
		code, stdout, errs := runCLI(args...)
		lines := strings.Split(strings.TrimSpace(errs), "\n")
		if code != exitUsage || len(lines) != 1 || !strings.Contains(errs, "no usable GPU for cuda") || stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d and one line saying why no GPU", args, code, stdout, errs, exitUsage)
		}
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("%s: %v, want nothing written", out, err)
	}
}

// TestDeviceBadSpec: a --device or device: value that names no device is
// refused before anything is read, naming what is accepted.
func TestDeviceBadSpec(t *testing.T) {
	model := filepath.Join(moduleRoot(t), "testdata", "tiny-llama")
	out := filepath.Join(t.TempDir(), "m.gguf")
	code, _, errs := runCLI("convert", model, "-o", out, "--device", "gpu0")
	if code != exitUsage || !strings.Contains(errs, `--device: "gpu0": expected auto, cpu, cuda, or cuda:N[,N...]`) {
		t.Errorf("--device gpu0: exit %d, stderr %q", code, errs)
	}
	dir := t.TempDir()
	recipe := filepath.Join(dir, "q.yaml")
	if err := os.WriteFile(recipe, []byte(`version: 1
stages:
  - {id: src, kind: load, with: {path: "`+model+`"}}
  - {id: arch, kind: detect, inputs: [src]}
  - {id: names, kind: remap, inputs: [arch]}
  - {id: q, kind: quantize, inputs: [names], with: {type: Q8_0, device: "gpu"}}
  - {id: out, kind: export, inputs: [q], with: {path: "`+out+`"}}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errs = runCLI(recipe, "--dry-run")
	if code != exitUsage || !strings.Contains(errs, "q.yaml:6:") || !strings.Contains(errs, `device: "gpu": expected auto, cpu, cuda`) {
		t.Errorf("device: gpu: exit %d, stderr %q; want an error at line 6 naming device and what it takes", code, errs)
	}
}

// TestDeviceAutoRunsOnCPU: the default, auto, converts on this machine
// without a GPU (and device: cpu in a stage too).
func TestDeviceAutoRunsOnCPU(t *testing.T) {
	model := filepath.Join(moduleRoot(t), "testdata", "tiny-llama")
	out := filepath.Join(t.TempDir(), "m.gguf")
	if code, _, errs := runCLI("convert", model, "-o", out, "--type", "Q8_0", "--device", "auto", "-q", "--no-manifest"); code != exitOK {
		t.Fatalf("--device auto: exit %d: %s", code, errs)
	}
	if _, err := os.Stat(out); err != nil {
		t.Fatal(err)
	}
}
