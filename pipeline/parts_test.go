package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// partsRecipe is threeBranches with a var, so a test can change the plan.
func partsRecipe(t *testing.T, dir string, vars map[string]string) *Recipe {
	t.Helper()
	src := "vars: {by: 3}\n" + strings.Replace(threeBranches(dir, ""), "by: 3 ", `by: "${by}"`, 1)
	r, err := Parse("parts.yaml", []byte(src), vars, testRegistry())
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func runPart(t *testing.T, r *Recipe, part PartOptions) error {
	t.Helper()
	_, err := Run(context.Background(), r, RunOptions{Threads: 2, Memory: 8 << 10, Part: part})
	return err
}

// runParts runs the given parts of n at once, as separate processes would
// (a part given twice runs twice).
func runParts(t *testing.T, dir string, n int, parts ...int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(parts))
	for k, i := range parts {
		wg.Go(func() { errs[k] = runPart(t, partsRecipe(t, dir, nil), PartOptions{N: n, I: i}) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

func checkThreeBranches(t *testing.T, dir string) {
	t.Helper()
	for name, by := range map[string]float32{"a.raw": 2, "b.raw": 3, "g.raw": 1} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, scaledRaw(3, 301, 17, by)) {
			t.Errorf("%s differs from the generator's values times %g", name, by)
		}
	}
}

func TestSplitCoversEveryRowOnceBalanced(t *testing.T) {
	rows := []int64{1, 301, 7, 1000, 2}
	costs := []int64{5, 3, 100, 1, 40}
	var groups []*group
	var total, most int64
	for i, n := range rows {
		// rowCost is the root's row bytes plus nothing: no placements.
		groups = append(groups, &group{root: &node{rowBytes: costs[i]}, rows: n, places: []*placement{}})
		total += n * costs[i]
		most = max(most, costs[i])
	}
	for _, n := range []int{1, 2, 3, 4, 7, 16, 2000} {
		parts := splitSpans(groups, n)
		next := make([]int64, len(groups)) // the next row each group expects
		at := 0
		for i, spans := range parts {
			for _, s := range spans {
				k := slicesIndex(groups, s.g)
				if k < at || s.lo != next[k] || s.hi <= s.lo {
					t.Fatalf("n=%d part %d: span %d..%d of group %d out of order (next row %d)", n, i, s.lo, s.hi, k, next[k])
				}
				at, next[k] = k, s.hi
			}
			if c := spanCost(spans); c < total/int64(n)-most || c > total/int64(n)+most {
				t.Errorf("n=%d part %d costs %d, want %d within one row (%d)", n, i, c, total/int64(n), most)
			}
		}
		for k, g := range groups {
			if next[k] != g.rows {
				t.Errorf("n=%d: group %d covered to row %d of %d", n, k, next[k], g.rows)
			}
		}
	}
}

func slicesIndex(gs []*group, g *group) int {
	for i, x := range gs {
		if x == g {
			return i
		}
	}
	return -1
}

func TestPartsThenFinalizeEqualOneRun(t *testing.T) {
	for _, n := range []int{1, 4} {
		dir := t.TempDir()
		runParts(t, dir, n, seq(n)...)
		if _, err := os.Stat(filepath.Join(dir, "a.raw")); err == nil {
			t.Fatal("a part put an output under its final name")
		}
		if err := runPart(t, partsRecipe(t, dir, nil), PartOptions{N: n, Finalize: true}); err != nil {
			t.Fatal(err)
		}
		checkThreeBranches(t, dir)
		man, err := os.ReadFile(filepath.Join(dir, "a.raw.manifest.json"))
		if err != nil || !bytes.Contains(man, []byte(`"sha256"`)) {
			t.Fatalf("manifest: %v %s", err, man)
		}
		left := leftovers(t, dir)
		if strings.Join(left, " ") != "a.raw a.raw.manifest.json b.raw g.raw" {
			t.Errorf("n=%d: folder holds %v, want the outputs and the manifest alone", n, left)
		}
	}
}

// TestMorePartsThanRows: parts left without rows still complete, and the
// finalize needs their records too.
func TestMorePartsThanRows(t *testing.T) {
	out := filepath.Join(t.TempDir(), "o.raw")
	for i := range 3 {
		if err := runPart(t, mustParse(t, recipe(out, 1, 2, 3, "")), PartOptions{N: 3, I: i}); err != nil {
			t.Fatal(err)
		}
	}
	if err := runPart(t, mustParse(t, recipe(out, 1, 2, 3, "")), PartOptions{N: 3, Finalize: true}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(out); !bytes.Equal(got, expectRaw(1, 2, 3)) {
		t.Errorf("got % x, want % x", got, expectRaw(1, 2, 3))
	}
}

func seq(n int) []int {
	s := make([]int, n)
	for i := range s {
		s[i] = i
	}
	return s
}

func TestPartRerunIsIdempotent(t *testing.T) {
	dir := t.TempDir()
	runParts(t, dir, 3, 0, 1, 2)
	runParts(t, dir, 3, 1)
	runParts(t, dir, 3, 1, 1) // two copies at once, as a requeued task beside its first run
	if err := runPart(t, partsRecipe(t, dir, nil), PartOptions{N: 3, Finalize: true}); err != nil {
		t.Fatal(err)
	}
	checkThreeBranches(t, dir)
}

func TestFinalizeWithAPartMissingWritesNothing(t *testing.T) {
	dir := t.TempDir()
	runParts(t, dir, 4, 0, 1, 3)
	before := leftovers(t, dir)
	err := runPart(t, partsRecipe(t, dir, nil), PartOptions{N: 4, Finalize: true})
	if !errors.Is(err, ErrPartMissing) || !strings.Contains(err.Error(), "part 2 of 4") {
		t.Fatalf("got %v, want part 2 of 4 named as not completed", err)
	}
	if after := leftovers(t, dir); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Errorf("finalize changed the folder: %v, then %v", before, after)
	}
	for _, name := range before {
		if !strings.HasPrefix(name, ".") {
			t.Errorf("a part or the finalize wrote %s under a final name", name)
		}
	}
	runParts(t, dir, 4, 2)
	if err := runPart(t, partsRecipe(t, dir, nil), PartOptions{N: 4, Finalize: true}); err != nil {
		t.Fatal(err)
	}
	checkThreeBranches(t, dir)
}

func TestFinalizeRefusesAStalePart(t *testing.T) {
	dir := t.TempDir()
	runParts(t, dir, 2, 0)
	if err := runPart(t, partsRecipe(t, dir, map[string]string{"by": "4"}), PartOptions{N: 2, I: 1}); err != nil {
		t.Fatal(err)
	}
	err := runPart(t, partsRecipe(t, dir, nil), PartOptions{N: 2, Finalize: true})
	if !errors.Is(err, ErrPartStale) || !strings.Contains(err.Error(), `var by was "4", now "3"`) {
		t.Fatalf("got %v, want part 1 stale for var by", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "a.raw")); err == nil {
		t.Fatal("finalize wrote an output")
	}
}

// TestFinalizeRefusesChangedBytes: a byte of a part's range changed after
// it recorded it is found, naming the part to run again.
func TestFinalizeRefusesChangedBytes(t *testing.T) {
	dir := t.TempDir()
	runParts(t, dir, 2, 0, 1)
	temps, _ := filepath.Glob(filepath.Join(dir, ".b.raw.part-*"))
	if len(temps) != 1 {
		t.Fatalf("shared temporaries of b.raw: %v", temps)
	}
	f, err := os.OpenFile(temps[0], os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat()
	f.WriteAt([]byte{0xff}, st.Size()-3) // the last tensor's last row: part 1
	f.Close()
	err = runPart(t, partsRecipe(t, dir, nil), PartOptions{N: 2, Finalize: true})
	if !errors.Is(err, ErrPartStale) || !strings.Contains(err.Error(), "run part 1 again") {
		t.Fatalf("got %v", err)
	}
	runParts(t, dir, 2, 1)
	if err := runPart(t, partsRecipe(t, dir, nil), PartOptions{N: 2, Finalize: true}); err != nil {
		t.Fatal(err)
	}
	checkThreeBranches(t, dir)
}

// TestPartKilledThenRerun runs part 1 of 3 in a child process that stops
// for good in the middle of its rows, SIGKILLs it there, and runs it
// again: the finalize must give the one-process bytes.
func TestPartKilledThenRerun(t *testing.T) {
	if dir := os.Getenv("MLMF_TEST_PART_CHILD"); dir != "" {
		stallAt = func(tn, row, n int64) {
			if tn == 1 && row <= 150 && 150 < row+n {
				os.WriteFile(filepath.Join(dir, "stalled"), nil, 0o644)
				select {}
			}
		}
		runPart(t, partsRecipe(t, dir, nil), PartOptions{N: 3, I: 1})
		t.Fatal("the part did not stall")
	}
	dir := t.TempDir()
	runParts(t, dir, 3, 0, 2)
	cmd := exec.Command(os.Args[0], "-test.run=^TestPartKilledThenRerun$", "-test.count=1")
	cmd.Env = append(os.Environ(), "MLMF_TEST_PART_CHILD="+dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(dir, "stalled")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("the child never stalled:\n%s", out.String())
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	os.Remove(filepath.Join(dir, "stalled"))
	err := runPart(t, partsRecipe(t, dir, nil), PartOptions{N: 3, Finalize: true})
	if !errors.Is(err, ErrPartMissing) || !strings.Contains(err.Error(), "part 1 of 3") {
		t.Fatalf("after the kill, finalize says %v; want part 1 missing", err)
	}
	runParts(t, dir, 3, 1)
	if err := runPart(t, partsRecipe(t, dir, nil), PartOptions{N: 3, Finalize: true}); err != nil {
		t.Fatal(err)
	}
	checkThreeBranches(t, dir)
}

func TestPartOutOfRange(t *testing.T) {
	err := runPart(t, partsRecipe(t, t.TempDir(), nil), PartOptions{N: 2, I: 2})
	if err == nil || !strings.Contains(err.Error(), "expected a part from 0 to 1") {
		t.Fatalf("got %v", err)
	}
}

// FuzzPartRecord: whatever a record file holds, reading it is an error or
// a record that matches the plan, never a panic.
func FuzzPartRecord(f *testing.F) {
	id := planIdentity{Tool: "mlmf-run", Version: "dev", Parts: 2, Vars: map[string]string{}}
	plan := id.digest()
	want := []extent{{File: "o.raw", Offset: 4, Bytes: 8}}
	f.Add([]byte(`{"plan":"` + plan + `","part":1,"extents":[{"file":"o.raw","offset":4,"bytes":8,"xxh64":"` + strings.Repeat("ab", 8) + `"}]}`))
	f.Add([]byte(`{"plan":"x","part":1}`))
	f.Add([]byte(`{"plan":"` + plan + `","part":1,"extents":[{"file":"o.raw","offset":4,"bytes":8,"xxh64":"zz"}]}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseRecord(b, 1, id, plan, want)
		if err == nil && (r.Plan != plan || len(r.Extents) != 1 || len(r.Extents[0].XXH64) != 16) {
			t.Fatalf("accepted %s", b)
		}
		if err != nil && !errors.Is(err, ErrPartStale) {
			t.Fatalf("error %v does not wrap ErrPartStale", err)
		}
		_ = fmt.Sprint(err)
	})
}

func TestPartBytesAddUp(t *testing.T) {
	r := partsRecipe(t, t.TempDir(), nil)
	res, err := Run(context.Background(), r, RunOptions{DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	var all int64
	for _, o := range res.Plan.Outputs {
		all += o.TensorBytes()
	}
	for _, n := range []int{1, 3, 4} {
		var sum int64
		for i := range n {
			sum += PartBytes(res.Plan, i, n)
		}
		if sum != all {
			t.Errorf("%d parts write %d bytes together, the plan's tensors are %d", n, sum, all)
		}
	}
}
