package imatrix

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The files under testdata/imatrix were written by llama-imatrix
// (scripts/make-imatrix-refs.sh): the .dat is the .gguf converted by
// llama-imatrix itself, so both must give the same weights.
const refDir = "../../testdata/imatrix"

func TestGGUFAndLegacyAgree(t *testing.T) {
	g, err := Open(filepath.Join(refDir, "tiny-llama-spm.imatrix.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	d, err := Open(filepath.Join(refDir, "tiny-llama-spm.imatrix.dat"))
	if err != nil {
		t.Fatal(err)
	}
	if g.Legacy || !d.Legacy || !g.HasMetadata {
		t.Fatalf("formats: gguf legacy=%v metadata=%v, dat legacy=%v", g.Legacy, g.HasMetadata, d.Legacy)
	}
	// llama-imatrix ran over 27 chunks of 64 tokens on calibration.txt.
	for _, m := range []*Matrix{g, d} {
		if m.ChunkCount != 27 || len(m.Datasets) != 1 || m.Datasets[0] != "calibration.txt" {
			t.Errorf("%s: chunks %d datasets %q, want 27 [calibration.txt]", m.File, m.ChunkCount, m.Datasets)
		}
	}
	if g.ChunkSize != 64 {
		t.Errorf("chunk size %d, want 64", g.ChunkSize)
	}
	gw, err := g.Select(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	dw, err := d.Select(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(gw) != 14 || len(dw) != 14 {
		t.Fatalf("entries: gguf %d, dat %d, want 14 (7 matrices × 2 layers; no output.weight)", len(gw), len(dw))
	}
	for name, a := range gw {
		b := dw[name]
		if len(a) != len(b) {
			t.Fatalf("%s: %d vs %d values", name, len(a), len(b))
		}
		for i := range a {
			if math.Abs(float64(a[i]-b[i])) > 1e-6*math.Abs(float64(a[i])) {
				t.Fatalf("%s[%d]: gguf %v, dat %v", name, i, a[i], b[i])
			}
		}
	}
	if n := len(gw["blk.0.ffn_down.weight"]); n != 512 {
		t.Errorf("ffn_down has %d columns, want 512", n)
	}
}

func TestSelect(t *testing.T) {
	m := &Matrix{File: "x", Legacy: true, Entries: map[string]*Entry{
		"blk.0.attn_q.weight":   {Sums: []float32{2}, Counts: []int64{2}},
		"blk.0.ffn_down.weight": {Sums: []float32{4}, Counts: []int64{0}},
		"blk.1.attn_q.weight":   {Sums: []float32{9}, Counts: []int64{3}},
	}}
	for _, c := range []struct {
		inc, exc []string
		want     map[string]float32
	}{
		{nil, nil, map[string]float32{"blk.0.attn_q.weight": 1, "blk.0.ffn_down.weight": 4, "blk.1.attn_q.weight": 3}},
		{[]string{"attn_q"}, nil, map[string]float32{"blk.0.attn_q.weight": 1, "blk.1.attn_q.weight": 3}},
		{nil, []string{"blk.0."}, map[string]float32{"blk.1.attn_q.weight": 3}},
		{[]string{"nothing"}, nil, map[string]float32{}},
	} {
		got, err := m.Select(c.inc, c.exc)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(c.want) {
			t.Errorf("include %q exclude %q: %d entries, want %d", c.inc, c.exc, len(got), len(c.want))
		}
		for k, v := range c.want {
			if w := got[k]; len(w) != 1 || w[0] != v {
				t.Errorf("include %q exclude %q: %s = %v, want [%v]", c.inc, c.exc, k, w, v)
			}
		}
	}
	if _, err := m.Select([]string{"a"}, []string{"b"}); err == nil {
		t.Error("include and exclude together were accepted")
	}
	m.Entries["blk.1.attn_q.weight"].Sums[0] = float32(math.NaN())
	_, err := m.Select(nil, nil)
	if err == nil || !strings.Contains(err.Error(), `"blk.1.attn_q.weight"`) || !strings.Contains(err.Error(), "NaN") {
		t.Errorf("NaN weight: %v, want an error naming the entry and NaN", err)
	}
	m.Entries["blk.1.attn_q.weight"].Sums[0] = -3
	_, err = m.Select(nil, nil)
	if err == nil || !strings.Contains(err.Error(), `"blk.1.attn_q.weight"`) || !strings.Contains(err.Error(), "want >= 0") {
		t.Errorf("negative weight: %v, want an error naming the entry and the bound", err)
	}
}

// TestMoEWeights: per-expert counts divide their own slice of the sums, and
// an expert the calibration never reached gets weight 1 in every column
// (llama-quantize's load_imatrix).
func TestMoEWeights(t *testing.T) {
	m := &Matrix{}
	e := &Entry{Sums: []float32{2, 4, 6, 8, 10, 12}, Counts: []int64{2, 0, 4}}
	got := m.Weights(e)
	want := []float32{1, 2, 1, 1, 2.5, 3}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("weights %v, want %v", got, want)
		}
	}
}

func legacyFile(entries ...[]byte) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, int32(len(entries)))
	for _, e := range entries {
		b.Write(e)
	}
	return b.Bytes()
}

func legacyEntry(name string, ncall int32, vals ...float32) []byte {
	var b bytes.Buffer
	binary.Write(&b, binary.LittleEndian, int32(len(name)))
	b.WriteString(name)
	binary.Write(&b, binary.LittleEndian, ncall)
	binary.Write(&b, binary.LittleEndian, int32(len(vals)))
	binary.Write(&b, binary.LittleEndian, vals)
	return b.Bytes()
}

func TestLegacyErrorsNameOffsets(t *testing.T) {
	good := legacyEntry("a.weight", 1, 1, 2)
	for _, c := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "offset 0: entry count"},
		{"no entries", legacyFile(), "entry count 0"},
		{"truncated values", legacyFile(good)[:len(legacyFile(good))-1], "value count 2"},
		{"negative name length", legacyFile(append([]byte{0xff, 0xff, 0xff, 0xff}, make([]byte, 16)...)), "offset 4: entry 0: name length -1"},
		{"too many entries", append([]byte{0, 0, 0, 1}, good...), "entry count 16777216"},
	} {
		_, err := Read(bytes.NewReader(c.b), int64(len(c.b)), "m.dat")
		if err == nil || !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "m.dat: ") {
			t.Errorf("%s: %v, want an ErrFormat naming m.dat and %q", c.name, err, c.want)
		}
	}
}

func TestGGUFErrors(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(refDir, "tiny-llama-spm.imatrix.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	// Renaming one .counts tensor leaves its .in_sum2 without a partner.
	bad := bytes.Replace(b, []byte("blk.0.attn_k.weight.counts"), []byte("blk.0.attn_k.weight.countz"), 1)
	_, err = Read(bytes.NewReader(bad), int64(len(bad)), "i.gguf")
	if err == nil || !errors.Is(err, ErrFormat) || !strings.Contains(err.Error(), `"blk.0.attn_k.weight" has .in_sum2 without .counts`) {
		t.Errorf("unpaired sums: %v", err)
	}
	// Without imatrix.chunk_size the file lacks the metadata llama-quantize wants.
	bad = bytes.Replace(b, []byte("imatrix.chunk_size"), []byte("imatrix.chunk_sizz"), 1)
	m, err := Read(bytes.NewReader(bad), int64(len(bad)), "i.gguf")
	if err != nil || m.HasMetadata {
		t.Errorf("missing chunk_size: %v, metadata %v; want read, without metadata", err, m != nil && m.HasMetadata)
	}
	_, err = Read(bytes.NewReader(b[:len(b)-40]), int64(len(b)-40), "i.gguf")
	if err == nil || !errors.Is(err, ErrFormat) || !strings.HasPrefix(err.Error(), "i.gguf: ") {
		t.Errorf("truncated: %v", err)
	}
}
