package stages

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"

	"github.com/mlmf-run/mlmf-run/pipeline"
	"github.com/mlmf-run/mlmf-run/tensor"
)

// readLog records every byte range read from the model's files.
type readLog struct {
	mu     sync.Mutex
	ranges [][2]int64 // [off, end) per file, all files in one list: the test reads one file
}

type countingReaderAt struct {
	r   io.ReaderAt
	log *readLog
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.log.mu.Lock()
	c.log.ranges = append(c.log.ranges, [2]int64{off, off + int64(n)})
	c.log.mu.Unlock()
	return n, err
}

// countingLoad is the real load stage with every tensor's file reads
// counted: the test sees what the executor pulls from disk.
type countingLoad struct {
	pipeline.Stage
	log *readLog
}

func (c *countingLoad) Plan(ctx context.Context, env *pipeline.Env, in []*pipeline.Model) (*pipeline.Model, error) {
	m, err := c.Stage.Plan(ctx, env, in)
	if err != nil {
		return nil, err
	}
	wrapped := map[io.ReaderAt]io.ReaderAt{}
	for _, t := range m.Tensors {
		sec, ok := t.Src.(*tensor.Section)
		if !ok {
			return nil, fmt.Errorf("tensor %s: source %T, want a file section", t.Name, t.Src)
		}
		if wrapped[sec.R] == nil {
			wrapped[sec.R] = &countingReaderAt{r: sec.R, log: c.log}
		}
		sec.R = wrapped[sec.R]
	}
	return m, nil
}

func (c *countingLoad) Close() error {
	if cl, ok := c.Stage.(io.Closer); ok {
		return cl.Close()
	}
	return nil
}

func countingRegistry(log *readLog) pipeline.Registry {
	r := registry{}
	for _, s := range all {
		r[s.Kind] = s
	}
	load := *loadSpec
	load.New = func(p pipeline.Params) (pipeline.Stage, error) {
		s, err := loadSpec.New(p)
		if err != nil {
			return nil, err
		}
		return &countingLoad{Stage: s, log: log}, nil
	}
	r["load"] = &load
	return r
}

func branchRecipe(types []string, dir string) string {
	s := fmt.Sprintf(`version: 1
stages:
  - {id: src, kind: load, with: {path: %q}}
  - {id: arch, kind: detect, inputs: [src]}
  - {id: names, kind: remap, inputs: [arch]}
`, filepath.Join("..", "testdata", "tiny-llama"))
	for _, ty := range types {
		s += fmt.Sprintf(`  - {id: q%[1]s, kind: quantize, inputs: [names], with: {type: %[1]s}}
  - {id: out%[1]s, kind: export, inputs: [q%[1]s], with: {path: %[2]q}}
`, ty, filepath.Join(dir, ty+".gguf"))
	}
	return s
}

func runRecipe(t *testing.T, src string, reg pipeline.Registry) *pipeline.Plan {
	t.Helper()
	r, err := pipeline.Parse("fanout.yaml", []byte(src), nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	res, err := pipeline.Run(context.Background(), r, pipeline.RunOptions{Threads: 3, Memory: 4 << 20, NoManifest: true})
	if err != nil {
		t.Fatal(err)
	}
	return res.Plan
}

// TestFanOutReadsEachSourceByteOnce runs three branches (BF16, F16, Q8_0)
// off one remap and checks, in the reader, that every byte of every tensor
// was read exactly once, and that each file equals the one a run with that
// branch alone writes.
func TestFanOutReadsEachSourceByteOnce(t *testing.T) {
	types := []string{"BF16", "F16", "Q8_0"}
	together, alone := t.TempDir(), t.TempDir()
	log := &readLog{}
	plan := runRecipe(t, branchRecipe(types, together), countingRegistry(log))

	var want int64 // every tensor's bytes, from the file's own header
	set, err := openTinyHeader()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range set {
		want += n
	}
	sort.Slice(log.ranges, func(i, j int) bool { return log.ranges[i][0] < log.ranges[j][0] })
	var got int64
	for i, r := range log.ranges {
		if i > 0 && r[0] < log.ranges[i-1][1] {
			t.Fatalf("bytes [%d,%d) read twice (also in [%d,%d))", r[0], min(r[1], log.ranges[i-1][1]), log.ranges[i-1][0], log.ranges[i-1][1])
		}
		got += r[1] - r[0]
	}
	if got != want {
		t.Fatalf("read %d bytes of tensors, the file holds %d", got, want)
	}
	for _, st := range plan.Stages {
		if st.Decl.ID == "src" && (st.Bytes() != want || st.Total() != want) {
			t.Errorf("the load stage counted %d of %d bytes; the file's tensors are %d", st.Bytes(), st.Total(), want)
		}
	}

	for _, ty := range types {
		runRecipe(t, branchRecipe([]string{ty}, alone), Registry())
		a, err := os.ReadFile(filepath.Join(together, ty+".gguf"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(alone, ty+".gguf"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s: the fanned-out file (%d bytes) differs from the single run's (%d bytes)", ty, len(a), len(b))
		}
	}
}

// openTinyHeader reads the bundled model's safetensors header with the
// standard library alone and returns each tensor's byte count.
func openTinyHeader() (map[string]int64, error) {
	raw, err := os.ReadFile(filepath.Join("..", "testdata", "tiny-llama", "model.safetensors"))
	if err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint64(raw)
	var h map[string]json.RawMessage
	if err := json.Unmarshal(raw[8:8+n], &h); err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for k, v := range h {
		if k == "__metadata__" {
			continue
		}
		var e struct {
			Offsets [2]int64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(v, &e); err != nil {
			return nil, err
		}
		out[k] = e.Offsets[1] - e.Offsets[0]
	}
	return out, nil
}
