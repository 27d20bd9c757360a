package quant_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/quant"
)

// The byte-identity test of the row quantizers against ggml's own
// ggml_quantize_chunk, through scripts/ggml_quantize_rows.c built against the
// ggml of ../shared/tools/build-llama-tools.sh ($LLAMA_TOOLS, $LLAMA_SRC).
// Where the harness cannot be built the outputs are checked against
// testdata/ggml-rows.sum, the sha256 of what ggml wrote for the same rows
// (rewritten from ggml, never from our code, by -update-ggml-rows).

var updateGGMLRows = flag.Bool("update-ggml-rows", false, "rewrite testdata/ggml-rows.sum from ggml's quantizers (needs the harness)")

const ggmlRowsSum = "testdata/ggml-rows.sum"

// rowRefTypes are the types compared, with the row lengths tried (256·k
// where the block is 256, odd multiples of the block where it is smaller;
// Q1_0 and Q2_0 ignore the weights in ggml and must here too), whether ggml
// refuses to run without importance weights, the row kinds on which
// ggml aborts (GGML_ASSERT(grid_index >= 0): every neighbour's distance
// overflows), left out of the comparison (our quantizers still run on
// them), and whether the edge kinds are compared too.
var rowRefTypes = []struct {
	typ      tensor.DType
	lens     []int
	needsImx bool
	aborts   []string
	edge     bool
}{
	{tensor.IQ4_NL, []int{32, 96, 256, 544}, false, nil, false},
	{tensor.IQ4_XS, []int{256, 768}, false, nil, false},
	{tensor.IQ3_XXS, []int{256, 512}, false, []string{"huge"}, false},
	{tensor.IQ3_S, []int{256, 512}, false, []string{"huge"}, false},
	{tensor.IQ2_XXS, []int{256, 512}, true, []string{"huge"}, false},
	{tensor.IQ2_XS, []int{256, 512}, true, []string{"huge"}, false},
	{tensor.IQ2_S, []int{256, 512}, false, []string{"huge"}, false},
	{tensor.IQ1_S, []int{256, 512}, true, nil, false},
	{tensor.IQ1_M, []int{256, 512}, false, nil, false},
	{tensor.Q1_0, []int{128, 384}, false, nil, true},
	{tensor.Q2_0, []int{64, 192}, false, nil, true},
}

// rowKind makes one adversarial or ordinary row of n values. Edge kinds
// (last in rowKinds, so that the rows before them stay the same) are
// compared only for the types that ask for them: the scalar quantizers,
// whose handling of NaN, infinities and exact halves is plain arithmetic
// worth pinning down.
type rowKind struct {
	name string
	reps int // rows of this kind per case
	make func(r *rand.Rand, n int) []float32
	edge bool
}

func fillRow(n int, f func(i int) float32) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = f(i)
	}
	return x
}

var rowKinds = []rowKind{
	{"gauss", 12, func(r *rand.Rand, n int) []float32 {
		return fillRow(n, func(int) float32 { return float32(r.NormFloat64()) })
	}, false},
	{"weights", 12, func(r *rand.Rand, n int) []float32 {
		return fillRow(n, func(int) float32 { return float32(0.02 * r.NormFloat64()) })
	}, false},
	{"heavy", 8, func(r *rand.Rand, n int) []float32 {
		return fillRow(n, func(int) float32 { g := r.NormFloat64(); return float32(g * g * g) })
	}, false},
	{"positive", 4, func(r *rand.Rand, n int) []float32 {
		return fillRow(n, func(int) float32 { return float32(r.Float64()) })
	}, false},
	{"outliers", 8, func(r *rand.Rand, n int) []float32 {
		return fillRow(n, func(i int) float32 {
			if i%37 == 5 {
				return float32(40 * r.NormFloat64())
			}
			return float32(r.NormFloat64())
		})
	}, false},
	{"gaps", 2, func(r *rand.Rand, n int) []float32 { // every other group of 32 zero
		return fillRow(n, func(i int) float32 {
			if i/32%2 == 0 {
				return 0
			}
			return float32(r.NormFloat64())
		})
	}, false},
	{"zeros", 1, func(r *rand.Rand, n int) []float32 { return make([]float32, n) }, false},
	{"constant", 1, func(r *rand.Rand, n int) []float32 { return fillRow(n, func(int) float32 { return 0.75 }) }, false},
	{"negative", 1, func(r *rand.Rand, n int) []float32 { return fillRow(n, func(int) float32 { return -3 }) }, false},
	{"spike", 1, func(r *rand.Rand, n int) []float32 {
		return fillRow(n, func(i int) float32 {
			if i == n/3 {
				return -7
			}
			return 0
		})
	}, false},
	{"alternating", 1, func(r *rand.Rand, n int) []float32 {
		return fillRow(n, func(i int) float32 { return float32(1 - 2*(i%2)) })
	}, false},
	{"ramp", 1, func(r *rand.Rand, n int) []float32 {
		return fillRow(n, func(i int) float32 { return float32(i)/float32(n) - 0.5 })
	}, false},
	{"subnormal", 1, func(r *rand.Rand, n int) []float32 {
		return fillRow(n, func(int) float32 { return float32(1e-41 * r.NormFloat64()) })
	}, false},
	{"tiny", 1, func(r *rand.Rand, n int) []float32 {
		return fillRow(n, func(int) float32 { return float32(1e-9 * r.NormFloat64()) })
	}, false},
	{"huge", 1, func(r *rand.Rand, n int) []float32 {
		return fillRow(n, func(int) float32 { return float32(1e15 * r.NormFloat64()) })
	}, false},
	{"halfmax", 1, func(r *rand.Rand, n int) []float32 {
		return fillRow(n, func(int) float32 { return float32(6e4 * r.NormFloat64()) })
	}, false},
	{"halves", 1, func(r *rand.Rand, n int) []float32 { // -2 to 2 in steps of 1/2, and -0
		return fillRow(n, func(i int) float32 {
			if i%10 == 9 {
				return float32(math.Copysign(0, -1))
			}
			return float32(i%9-4) / 2
		})
	}, true},
	{"nonfinite", 2, func(r *rand.Rand, n int) []float32 {
		special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.Copysign(0, -1))}
		return fillRow(n, func(i int) float32 {
			if r.IntN(8) == 0 {
				return special[r.IntN(len(special))]
			}
			return float32(r.NormFloat64())
		})
	}, true},
	{"allnan", 1, func(r *rand.Rand, n int) []float32 {
		return fillRow(n, func(int) float32 { return float32(math.NaN()) })
	}, true},
}

// weightKinds are the importance weights tried: none, imatrix-like (positive,
// spread over orders of magnitude) and sparse (a quarter zero).
var weightKinds = []struct {
	name string
	make func(r *rand.Rand, n int) []float32
}{
	{"none", func(*rand.Rand, int) []float32 { return nil }},
	{"imatrix", func(r *rand.Rand, n int) []float32 {
		return fillRow(n, func(int) float32 { return float32(math.Exp(2 * r.NormFloat64())) })
	}},
	{"sparse", func(r *rand.Rand, n int) []float32 {
		return fillRow(n, func(i int) float32 {
			if i%4 == 1 {
				return 0
			}
			return float32(r.Float64())
		})
	}},
}

// rowCase is one call of ggml: every row kind at one length, with one kind
// of weights.
type rowCase struct {
	key   string
	n     int
	rows  []float32
	kinds []string
	w     []float32
}

func rowCases(typ tensor.DType, lens []int, needsImx bool, aborts []string, edge bool) []rowCase {
	var out []rowCase
	for _, n := range lens {
		for wi, wk := range weightKinds {
			if needsImx && wk.name == "none" {
				continue
			}
			r := rand.New(rand.NewPCG(uint64(n), uint64(wi)))
			c := rowCase{key: fmt.Sprintf("%v n=%d w=%s", typ, n, wk.name), n: n, w: wk.make(r, n)}
			for _, k := range rowKinds {
				for rep := range k.reps {
					x := k.make(r, n)
					if slices.Contains(aborts, k.name) || k.edge && !edge {
						continue
					}
					c.rows = append(c.rows, x...)
					c.kinds = append(c.kinds, fmt.Sprintf("%s#%d", k.name, rep))
				}
			}
			out = append(out, c)
		}
	}
	return out
}

func TestRowQuantizersMatchGGML(t *testing.T) {
	harness := buildGGMLRows(t)
	sums := readRowSums(t)
	var cases []rowCase
	var types []tensor.DType
	for _, rt := range rowRefTypes {
		for _, c := range rowCases(rt.typ, rt.lens, rt.needsImx, rt.aborts, rt.edge) {
			cases, types = append(cases, c), append(types, rt.typ)
		}
	}
	// ggml's bytes, then ggml's decoding of them.
	var want, wantF [][]byte
	if harness != "" {
		jobs := make([]ggmlJob, len(cases))
		for i, c := range cases {
			jobs[i] = ggmlJob{strings.ToLower(types[i].String()), c.n, f32bytes(c.rows), c.w, rowBytes(t, types[i], c)}
		}
		want = runGGML(t, harness, jobs)
		for i, c := range cases {
			jobs[i] = ggmlJob{"dequant:" + strings.ToLower(types[i].String()), c.n, want[i], nil, 4 * len(c.rows)}
		}
		wantF = runGGML(t, harness, jobs)
	}
	fresh := map[string]string{}
	for i, c := range cases {
		t.Run(strings.ReplaceAll(c.key, " ", "/"), func(t *testing.T) {
			got := quantizeRows(t, types[i], c)
			ref := got
			if harness != "" {
				ref = want[i]
			}
			y := make([]float32, len(c.rows))
			if err := quant.Dequantize(types[i], ref, y); err != nil {
				t.Fatal(err)
			}
			gotF := f32bytes(y)
			if harness == "" {
				for _, d := range []struct{ key, sum string }{{c.key, digest(got)}, {"dequant " + c.key, digest(gotF)}} {
					switch ref, ok := sums[d.key]; {
					case !ok:
						t.Errorf("no digest for %q in %s: run with the harness and -update-ggml-rows", d.key, ggmlRowsSum)
					case d.sum != ref:
						t.Errorf("%s: sha256 %s, ggml's %s (%s)", d.key, d.sum, ref, ggmlRowsSum)
					}
				}
				return
			}
			fresh[c.key], fresh["dequant "+c.key] = digest(want[i]), digest(wantF[i])
			for _, k := range []string{c.key, "dequant " + c.key} {
				if !*updateGGMLRows && sums[k] != fresh[k] {
					t.Errorf("ggml's digest %s differs from %s's %q for %s: update it with -update-ggml-rows", fresh[k], ggmlRowsSum, sums[k], k)
				}
			}
			compareRows(t, types[i], c, got, want[i])
			if !bytes.Equal(gotF, wantF[i]) {
				for j := range y {
					if g, w := binary.LittleEndian.Uint32(gotF[4*j:]), binary.LittleEndian.Uint32(wantF[i][4*j:]); g != w {
						t.Fatalf("decoding ggml's bytes: element %d (row %q) is %g, ggml's %g",
							j, c.kinds[j/c.n], math.Float32frombits(g), math.Float32frombits(w))
					}
				}
			}
		})
	}
	if *updateGGMLRows {
		if harness == "" {
			t.Fatal("-update-ggml-rows needs the harness")
		}
		writeRowSums(t, fresh)
	}
}

func rowBytes(t *testing.T, typ tensor.DType, c rowCase) int {
	t.Helper()
	rb, err := typ.RowBytes(int64(c.n))
	if err != nil {
		t.Fatal(err)
	}
	return int(rb) * len(c.kinds)
}

// TestRowQuantizersNoPanic runs the row kinds ggml aborts on: ours must
// return (what they write is unspecified).
func TestRowQuantizersNoPanic(t *testing.T) {
	for _, rt := range rowRefTypes {
		for _, k := range rowKinds {
			if !slices.Contains(rt.aborts, k.name) {
				continue
			}
			n := rt.lens[0]
			x := k.make(rand.New(rand.NewPCG(1, 2)), n)
			w := weightKinds[1].make(rand.New(rand.NewPCG(3, 4)), n)
			quantizeRows(t, rt.typ, rowCase{n: n, rows: x, kinds: []string{k.name}, w: w})
		}
	}
}

func quantizeRows(t *testing.T, typ tensor.DType, c rowCase) []byte {
	t.Helper()
	got := make([]byte, rowBytes(t, typ, c))
	if err := quant.QuantizeRows(typ, c.rows, c.n, c.w, got); err != nil {
		t.Fatal(err)
	}
	return got
}

// compareRows names the first row and block that differ.
func compareRows(t *testing.T, typ tensor.DType, c rowCase, got, want []byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d bytes, ggml wrote %d", len(got), len(want))
	}
	rb := len(got) / len(c.kinds)
	bb := int(typ.Info().BlockBytes)
	bad := 0
	for i, k := range c.kinds {
		g, w := got[i*rb:(i+1)*rb], want[i*rb:(i+1)*rb]
		if bytes.Equal(g, w) {
			continue
		}
		bad++
		for b := 0; b < rb; b += bb {
			if !bytes.Equal(g[b:b+bb], w[b:b+bb]) {
				t.Errorf("row %q block %d:\n ours %x\n ggml %x", k, b/bb, g[b:b+bb], w[b:b+bb])
				break
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d of %d rows differ from ggml", bad, len(c.kinds))
	}
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// buildGGMLRows compiles the harness, or returns "" where it cannot be
// built (fatal in CI: there the comparison with ggml itself must run).
func buildGGMLRows(t *testing.T) string {
	t.Helper()
	tools, src := os.Getenv("LLAMA_TOOLS"), os.Getenv("LLAMA_SRC")
	cc, ccErr := exec.LookPath("cc")
	why := ""
	switch {
	case tools == "" || src == "":
		why = "LLAMA_TOOLS/LLAMA_SRC not set (eval \"$(../shared/tools/build-llama-tools.sh)\")"
	case ccErr != nil:
		why = "no C compiler: " + ccErr.Error()
	}
	if why != "" {
		if corpus.InCI() {
			t.Fatalf("cannot build the ggml harness: %s", why)
		}
		t.Logf("comparing with %s only: %s", ggmlRowsSum, why)
		return ""
	}
	root, err := corpus.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "ggml_quantize_rows")
	out, err := exec.Command(cc, "-O2", "-I", filepath.Join(src, "ggml", "include"),
		filepath.Join(root, "scripts", "ggml_quantize_rows.c"), "-L", tools, "-l:libggml-base.so",
		"-Wl,-rpath,"+tools, "-o", bin).CombinedOutput()
	if err != nil {
		t.Fatalf("building the ggml harness: %v\n%s", err, out)
	}
	return bin
}

// ggmlJob is one call of the harness: type (or dequant:type), row length,
// the input (float32 rows, or encoded bytes to decode), optional weights, and
// the size of the output it must write.
type ggmlJob struct {
	typ  string
	n    int
	in   []byte
	w    []float32
	size int
}

func f32bytes(v []float32) []byte {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return b
}

// runGGML runs every job in one harness process and returns each output.
func runGGML(t *testing.T, bin string, jobs []ggmlJob) [][]byte {
	t.Helper()
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var args []string
	for i, j := range jobs {
		wp := "-"
		if j.w != nil {
			wp = write(fmt.Sprintf("w%d.f32", i), f32bytes(j.w))
		}
		args = append(args, j.typ, fmt.Sprint(j.n), write(fmt.Sprintf("in%d", i), j.in), wp)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("ggml harness: %v\n%s", err, stderr.Bytes())
	}
	res := make([][]byte, len(jobs))
	for i, j := range jobs {
		if len(out) < j.size {
			t.Fatalf("ggml harness wrote %d bytes too few", j.size-len(out))
		}
		res[i], out = out[:j.size], out[j.size:]
	}
	if len(out) != 0 {
		t.Fatalf("ggml harness wrote %d bytes too many", len(out))
	}
	return res
}

func readRowSums(t *testing.T) map[string]string {
	t.Helper()
	m := map[string]string{}
	f, err := os.Open(ggmlRowsSum)
	if os.IsNotExist(err) && *updateGGMLRows {
		return m
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		sum, key, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("%s: bad line %q", ggmlRowsSum, line)
		}
		m[key] = sum
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return m
}

func writeRowSums(t *testing.T, m map[string]string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("# sha256 of ggml_quantize_chunk's output for the rows of iqref_test.go (scripts/ggml_quantize_rows.c),\n")
	b.WriteString("# written by go test ./tensor/quant -run TestRowQuantizersMatchGGML -update-ggml-rows\n")
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}) {
		fmt.Fprintf(&b, "%s  %s\n", m[k], k)
	}
	if err := os.WriteFile(ggmlRowsSum, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
