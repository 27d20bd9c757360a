package gpu

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPTXIsFresh fails when a kernel source changed and its PTX was not
// regenerated (scripts/gen-ptx.sh): each .ptx names, in its header, the
// sha256 of its .cu and of common.cuh. Every .cu has a .ptx and every .ptx
// a .cu.
func TestPTXIsFresh(t *testing.T) {
	cus, _ := filepath.Glob(filepath.Join("kernels", "*.cu"))
	ptxs, _ := filepath.Glob(filepath.Join("kernels", "*.ptx"))
	if len(cus) == 0 {
		t.Fatal("no kernels/*.cu")
	}
	for _, p := range ptxs {
		if _, err := os.Stat(strings.TrimSuffix(p, ".ptx") + ".cu"); err != nil {
			t.Errorf("%s has no source: remove it", p)
		}
	}
	for _, cu := range cus {
		p := strings.TrimSuffix(cu, ".cu") + ".ptx"
		named, err := ptxHashes(p)
		if err != nil {
			t.Errorf("%s: %v; run scripts/gen-ptx.sh", cu, err)
			continue
		}
		for _, src := range []string{cu, filepath.Join("kernels", "common.cuh")} {
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(b)
			if got, want := named[filepath.Base(src)], hex.EncodeToString(sum[:]); got != want {
				t.Errorf("%s was compiled from %s with sha256 %q, which is now %s: run scripts/gen-ptx.sh", p, src, got, want)
			}
		}
	}
}

// ptxHashes reads the "// sha256 FILE HEX" lines at the top of a PTX file.
func ptxHashes(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() && strings.HasPrefix(s.Text(), "//") {
		if rest, ok := strings.CutPrefix(s.Text(), "// sha256 "); ok {
			if name, sum, ok := strings.Cut(rest, " "); ok {
				out[name] = sum
			}
		}
	}
	return out, s.Err()
}

// TestPTXHasEveryKernel: each encoder and the LoRA merge is an entry
// point of the PTX, and the PTX asks for nothing the kernels must not use
// (fused float32 multiply-adds, approximate division or square root,
// flushing subnormals to zero, calls into libdevice).
func TestPTXHasEveryKernel(t *testing.T) {
	all := ""
	ptxs, _ := filepath.Glob(filepath.Join("kernels", "*.ptx"))
	for _, p := range ptxs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		all += string(b)
		for _, bad := range []string{"fma.rn.f32", "div.approx", "div.full", "sqrt.approx", ".ftz.", "call.uni"} {
			if strings.Contains(string(b), bad) {
				t.Errorf("%s contains %q: the kernels would not be bit-exact", p, bad)
			}
		}
	}
	var entries []string
	for _, k := range kernelTypes {
		for _, s := range kernelSources {
			entries = append(entries, k.name+"_from_"+s.name)
		}
	}
	entries = append(entries, "lora_delta")
	for _, e := range entries {
		if !strings.Contains(all, ".entry "+e+"(") {
			t.Errorf("no PTX entry point %s", e)
		}
	}
}
