package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
	"github.com/mlmf-run/mlmf-run/tensor"
)

// sha256sum is the digest users check a manifest with: the coreutils tool's,
// not ours.
func sha256sum(t *testing.T, path string) string {
	t.Helper()
	if _, err := exec.LookPath("sha256sum"); err != nil {
		if corpus.InCI() {
			t.Fatal("sha256sum is not installed (coreutils)")
		}
		t.Skip("sha256sum is not installed")
	}
	out, err := exec.Command("sha256sum", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(string(out))[0]
}

// Files written in random chunk order, with padding between tensors and
// after the last, chunks landing both at the hashed frontier and beyond it:
// the digest is the file's plain sha256.
func TestOutHashIsTheFilesSha256(t *testing.T) {
	dir := t.TempDir()
	r := rand.New(rand.NewPCG(7, 8))
	for round := range 40 {
		o := &OutputFile{Path: filepath.Join(dir, "o.bin"), Prefix: []byte(strings.Repeat("H", 1+r.IntN(100)))}
		off := int64(len(o.Prefix))
		type piece struct {
			off  int64
			data []byte
		}
		var pieces []piece
		for ti := range 1 + r.IntN(6) {
			off += int64(r.IntN(3)) * int64(r.IntN(40)) // padding, sometimes none
			rows, rowBytes := int64(1+r.IntN(20)), int64(4*(1+r.IntN(50)))
			if round%5 == 0 && ti == 0 {
				rows = 0 // a tensor without data
			}
			o.Tensors = append(o.Tensors, Placed{T: &tensor.Desc{Name: "t", DType: tensor.F32, Shape: []int64{rows, rowBytes / 4}}, Offset: off})
			for row := int64(0); row < rows; {
				n := min(int64(1+r.IntN(5)), rows-row)
				b := make([]byte, n*rowBytes)
				for i := range b {
					b[i] = byte(r.Uint32())
				}
				pieces = append(pieces, piece{off + row*rowBytes, b})
				row += n
			}
			off += rows * rowBytes
		}
		o.Size = off + int64(r.IntN(50))
		f, err := os.Create(o.Path)
		if err != nil {
			t.Fatal(err)
		}
		f.Write(o.Prefix)
		f.Truncate(o.Size)
		h := newOutHash(o, f)
		// Mostly in order, with neighbours swapped as two workers would.
		for i := range pieces {
			if j := i + 1 + r.IntN(3); j < len(pieces) && r.IntN(2) == 0 {
				pieces[i], pieces[j] = pieces[j], pieces[i]
			}
		}
		for _, p := range pieces {
			if _, err := f.WriteAt(p.data, p.off); err != nil {
				t.Fatal(err)
			}
			if err := h.wrote(p.off, p.data); err != nil {
				t.Fatal(err)
			}
		}
		if err := h.finish(context.Background()); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if want := sha256sum(t, o.Path); h.sum != want {
			t.Fatalf("round %d: stream sha256 %s, sha256sum %s", round, h.sum, want)
		}
		if h.broken || len(h.ahead) != 0 {
			t.Fatalf("round %d: broken %v, %d chunks never reached", round, h.broken, len(h.ahead))
		}
	}
}

// A run's manifest gives, for each output, what sha256sum prints, though
// four workers finish chunks out of order and the writer hashes as it goes;
// and the writers leave nothing for the manifest to read again.
func TestManifestOutputDigestsAreSha256sum(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "o.raw")
	var left int
	_, err := Run(context.Background(), mustParse(t, recipe(out, 7, 300, 33, "")),
		RunOptions{Threads: 4, Memory: 64 << 10, OnManifest: func(files int, _ int64) { left = files }})
	if err != nil {
		t.Fatal(err)
	}
	var m Manifest
	if b, err := os.ReadFile(out + ".manifest.json"); err != nil || json.Unmarshal(b, &m) != nil || len(m.Outputs) != 1 {
		t.Fatalf("manifest: %v", err)
	}
	if want := sha256sum(t, out); m.Outputs[0].SHA256 != want {
		t.Errorf("manifest sha256 %s, sha256sum %s", m.Outputs[0].SHA256, want)
	}
	if left != 0 {
		t.Errorf("the manifest hashed %d files after the run, want 0 (the output was hashed as written)", left)
	}
}

// Inputs are hashed while the run streams: a run that takes a while leaves
// none for the manifest to hash after its outputs are written, and their
// digests are what sha256sum prints.
func TestManifestInputsHashedWhileStreaming(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "weights.bin")
	b := make([]byte, 3<<20)
	r := rand.New(rand.NewPCG(1, 1))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	if err := os.WriteFile(in, b, 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "o.raw")
	left := -1
	_, err := Run(context.Background(), parseSet(t, recipe(out, 4, 64, 8, `, delay_ms: 30, files: ["`+in+`"]`)),
		RunOptions{Threads: 2, Memory: 4 << 10, OnManifest: func(files int, _ int64) { left = files }})
	if err != nil {
		t.Fatal(err)
	}
	var m Manifest
	if b, err := os.ReadFile(out + ".manifest.json"); err != nil || json.Unmarshal(b, &m) != nil || len(m.Inputs) != 1 {
		t.Fatalf("manifest: %v", err)
	}
	if want := sha256sum(t, in); m.Inputs[0].SHA256 != want || m.Inputs[0].Bytes != int64(len(b)) {
		t.Errorf("manifest input %+v, sha256sum %s of %d bytes", m.Inputs[0], want, len(b))
	}
	if left != 0 {
		t.Errorf("the manifest had %d files to hash after the run, want 0", left)
	}
}

// The read-back buffers of hashed outputs come out of the memory budget:
// with the rows' share they never add up to more than --memory, however
// many outputs a run has, and the rows keep at least three quarters.
func TestReadBackBuffersCountInBudget(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []int{1, 3, 40} {
		var outs []*OutputFile
		for i := range n {
			outs = append(outs, &OutputFile{Path: filepath.Join(dir, fmt.Sprintf("o%d-%d.bin", n, i)), Size: 1 << 20})
		}
		files, err := createTemps(outs, true)
		if err != nil {
			t.Fatal(err)
		}
		for _, memory := range []int64{4 << 10, 64 << 10, 1 << 20, DefaultMemory} {
			rows := reserveReadBack(files, memory)
			var bufs int64
			for _, f := range files {
				if f.hash.bufSize < 1 || f.hash.bufSize > maxReadBack {
					t.Errorf("%d outputs, budget %d: a read-back buffer of %d bytes", n, memory, f.hash.bufSize)
				}
				bufs += int64(f.hash.bufSize)
			}
			if rows+bufs > memory || rows < memory/4*3 {
				t.Errorf("%d outputs, budget %d: rows get %d and read-back buffers %d", n, memory, rows, bufs)
			}
		}
		removeTemps(files)
	}
	if rows := reserveReadBack([]*outFile{{}}, 1<<20); rows != 1<<20 {
		t.Errorf("an output not hashed took %d bytes of the budget", 1<<20-rows)
	}
}
