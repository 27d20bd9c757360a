package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
)

func runCLI(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

// TestInspectJSONMatchesGGUFPy checks `inspect --json --hash` on every corpus
// GGUF against llama.cpp's gguf-py description of the same file.
func TestInspectJSONMatchesGGUFPy(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(corpus.Dir(t), "*", "*.gguf"))
	must(t, err)
	if len(files) == 0 {
		t.Fatal("no GGUF files in the corpus")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			code, out, errs := runCLI("inspect", "--json", "--hash", f)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errs)
			}
			var got struct {
				Format   string                   `json:"format"`
				Metadata map[string]corpus.RefKey `json:"metadata"`
				Tensors  []struct {
					Name   string  `json:"name"`
					DType  string  `json:"dtype"`
					Shape  []int64 `json:"shape"`
					NBytes int64   `json:"nbytes"`
					SHA256 string  `json:"sha256"`
				} `json:"tensors"`
			}
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatal(err)
			}
			ref, err := corpus.LoadReference(f + ".json")
			if err != nil {
				t.Fatal(err)
			}
			if got.Format != "gguf" || len(got.Metadata) != len(ref.KV) {
				t.Errorf("format %q, %d keys; want gguf, %d keys", got.Format, len(got.Metadata), len(ref.KV))
			}
			for k, want := range ref.KV {
				if !reflect.DeepEqual(got.Metadata[k], want) {
					t.Errorf("key %s: %+v, want %+v", k, got.Metadata[k], want)
				}
			}
			var order []string
			for _, tn := range got.Tensors {
				order = append(order, tn.Name)
				w := ref.Tensors[tn.Name]
				if tn.DType != w.Type || !reflect.DeepEqual(tn.Shape, w.Shape) || tn.NBytes != w.NBytes || !strings.HasPrefix(tn.SHA256, w.Digest) {
					t.Errorf("tensor %s: %s %v %d %s, want %s %v %d %s", tn.Name, tn.DType, tn.Shape, tn.NBytes, tn.SHA256, w.Type, w.Shape, w.NBytes, w.Digest)
				}
			}
			if !reflect.DeepEqual(order, ref.TensorOrder) {
				t.Errorf("tensor order %v, want %v", order, ref.TensorOrder)
			}
		})
	}
}

func TestBadRecipeExits2WithEveryProblem(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bad.yaml")
	must(t, os.WriteFile(p, []byte("version: 1\nstages:\n  - {id: a, kind: lod}\n  - {id: b, kind: export, inputs: [zz], with: {path: x.gguf}}\n"), 0o644))
	code, _, errs := runCLI(p)
	if code != exitUsage {
		t.Fatalf("exit %d, want %d", code, exitUsage)
	}
	for _, want := range []string{p + `:3:19: stage "a": "lod" is not allowed`, p + `:4:36: stage "b": unknown input "zz"`} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
}

// writeSparseCheckpoint writes a safetensors file whose data is one big F32
// tensor of zeros, made instantly by truncation: large enough that copying
// it takes a while under a small memory budget.
func writeSparseCheckpoint(t *testing.T, path string, rows, cols int64) {
	t.Helper()
	hdr := fmt.Sprintf(`{"w":{"dtype":"F32","shape":[%d,%d],"data_offsets":[0,%d]}}`, rows, cols, rows*cols*4)
	for len(hdr)%8 != 0 {
		hdr += " "
	}
	var b bytes.Buffer
	n := uint64(len(hdr))
	for i := 0; i < 8; i++ {
		b.WriteByte(byte(n >> (8 * i)))
	}
	b.WriteString(hdr)
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Write(b.Bytes())
	if err == nil {
		err = f.Truncate(int64(b.Len()) + rows*cols*4)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	must(t, err)
}

// must fails the test on an error from its own setup.
func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestSIGINTExits130AndLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "in.safetensors")
	writeSparseCheckpoint(t, src, 1<<16, 1<<12) // 1 GiB of zeros
	outDir := filepath.Join(dir, "out")
	must(t, os.Mkdir(outDir, 0o755))
	recipe := filepath.Join(dir, "copy.yaml")
	must(t, os.WriteFile(recipe, []byte(`version: 1
stages:
  - {id: src, kind: load, with: {path: "`+src+`"}}
  - {id: out, kind: export, inputs: [src], with: {path: "`+filepath.Join(outDir, "copy.safetensors")+`"}}
`), 0o644))
	done := make(chan int)
	start := time.Now()
	go func() {
		code, _, _ := runCLI(recipe, "-q", "-j", "1", "--memory", "2MiB")
		done <- code
	}()
	time.Sleep(300 * time.Millisecond)
	must(t, syscall.Kill(os.Getpid(), syscall.SIGINT))
	var code int
	select {
	case code = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("still running 5 s after SIGINT")
	}
	if code != exitSIGINT {
		t.Fatalf("exit %d after %v, want %d", code, time.Since(start), exitSIGINT)
	}
	if ents, err := os.ReadDir(outDir); err != nil || len(ents) != 0 {
		t.Errorf("left behind: %v (%v); want an empty folder", ents, err)
	}
}

// TestTraceFileHasTheSpanTree runs the bundled default recipe with
// --trace-file and checks the JSON lines hold the run, stage and tensor spans.
func TestTraceFileHasTheSpanTree(t *testing.T) {
	root, err := corpus.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	trace := filepath.Join(dir, "trace.jsonl")
	code, _, errs := runCLI(filepath.Join(root, "recipes", "llama-to-gguf-q4.yaml"), "-q",
		"--set", "model="+filepath.Join(root, "testdata", "tiny-llama"), "--set", "out="+filepath.Join(dir, "m.gguf"), "--trace-file", trace)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	b, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]int{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var span struct{ Name string }
		if err := json.Unmarshal([]byte(line), &span); err != nil {
			t.Fatalf("not a JSON line: %q", line)
		}
		names[strings.Fields(span.Name)[0]]++
	}
	if names["run"] != 1 || names["stage"] != 5 || names["tensor"] != 21 {
		t.Errorf("spans by kind %v, want 1 run, 5 stages, 21 tensors", names)
	}
}
