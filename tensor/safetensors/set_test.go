package safetensors

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/internal/corpus"
	"github.com/mlmf-run/mlmf-run/tensor"
)

func TestOpenCorpus(t *testing.T) {
	dir := corpus.Dir(t)
	spm := filepath.Join(dir, "tiny-llama-spm")
	var index struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	raw, err := os.ReadFile(filepath.Join(spm, IndexName))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &index); err != nil {
		t.Fatal(err)
	}
	shards := []string{
		filepath.Join(spm, "model-00001-of-00004.safetensors"),
		filepath.Join(spm, "model-00002-of-00004.safetensors"),
		filepath.Join(spm, "model-00003-of-00004.safetensors"),
		filepath.Join(spm, "model-00004-of-00004.safetensors"),
	}
	for _, path := range []string{spm, filepath.Join(spm, IndexName)} {
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(s.Files, shards) {
			t.Errorf("Files = %v", s.Files)
		}
		if !reflect.DeepEqual(s.Metadata, map[string]string{"format": "pt"}) {
			t.Errorf("Metadata = %v", s.Metadata)
		}
		if len(s.Tensors) != len(index.WeightMap) {
			t.Errorf("%d tensors, index lists %d", len(s.Tensors), len(index.WeightMap))
		}
		// Shard order, then data order within each shard.
		shard, last := 0, int64(-1)
		for _, d := range s.Tensors {
			sec := d.Src.(*tensor.Section)
			i := indexOf(shards, sec.Name)
			if i < shard || i == shard && sec.Off <= last {
				t.Errorf("%s out of order", d.Name)
			}
			shard, last = i, sec.Off
			if filepath.Base(sec.Name) != index.WeightMap[d.Name] {
				t.Errorf("%s read from %s, index says %s", d.Name, sec.Name, index.WeightMap[d.Name])
			}
			if _, err := tensor.ReadAll(d); err != nil {
				t.Error(err)
			}
		}
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	}
	for _, path := range []string{filepath.Join(dir, "tiny-llama-bpe"), filepath.Join(dir, "tiny-llama-bpe", SingleName)} {
		s, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Files) != 1 || filepath.Base(s.Files[0]) != SingleName || len(s.Tensors) != 21 {
			t.Errorf("%s: files %v, %d tensors", path, s.Files, len(s.Tensors))
		}
		s.Close()
	}
	// A folder whose only safetensors file has another name.
	s, err := Open(filepath.Join(dir, "tiny-llama-spm-lora"))
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(s.Files[0]) != "adapter_model.safetensors" {
		t.Errorf("lora folder opened %v", s.Files)
	}
	s.Close()
}

func indexOf(xs []string, x string) int {
	for i, v := range xs {
		if v == x {
			return i
		}
	}
	return -1
}

// writeShard writes a small safetensors file of U8 tensors named names.
func writeShard(t *testing.T, path string, names ...string) {
	t.Helper()
	var ts []*tensor.Desc
	for _, n := range names {
		ts = append(ts, desc(n, tensor.U8, 2))
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	err = Write(f, ts, map[string]string{"format": "pt"})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}

func writeIndex(t *testing.T, dir, weightMap string) {
	t.Helper()
	doc := `{"metadata": {"total_size": 0}, "weight_map": ` + weightMap + `}`
	if err := os.WriteFile(filepath.Join(dir, IndexName), []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestOpenIndexDisagreements(t *testing.T) {
	cases := []struct {
		name      string
		shards    map[string][]string
		weightMap string
		want      []string // substrings of the error
	}{
		{"listed but missing", map[string][]string{"a.safetensors": {"x"}},
			`{"x": "a.safetensors", "y": "a.safetensors"}`, []string{`"y" is listed in a.safetensors but missing`}},
		{"not listed", map[string][]string{"a.safetensors": {"x", "z"}},
			`{"x": "a.safetensors"}`, []string{`"z" in a.safetensors is not listed`}},
		{"in two shards", map[string][]string{"a.safetensors": {"x"}, "b.safetensors": {"x", "y"}},
			`{"x": "a.safetensors", "y": "b.safetensors"}`, []string{`"x" is in both a.safetensors and b.safetensors`}},
		{"wrong shard", map[string][]string{"a.safetensors": {"x"}, "b.safetensors": {"y"}},
			`{"x": "b.safetensors", "y": "a.safetensors"}`, []string{`"x" is in a.safetensors but the index lists it in b.safetensors`, `"y" is in b.safetensors but the index lists it in a.safetensors`}},
		{"missing shard file", map[string][]string{"a.safetensors": {"x"}},
			`{"x": "a.safetensors", "y": "gone.safetensors"}`, []string{`shard "gone.safetensors"`, "no such file"}},
		{"shard outside the folder", map[string][]string{"a.safetensors": {"x"}},
			`{"x": "../a.safetensors"}`, []string{`outside the index's folder`}},
		{"duplicate index key", map[string][]string{"a.safetensors": {"x"}},
			`{"x": "a.safetensors", "x": "a.safetensors"}`, []string{`key "x": duplicate key in weight_map`}},
		{"no weight_map", map[string][]string{"a.safetensors": {"x"}},
			`null, "other": 1`, []string{"expected weight_map"}},
		{"not JSON", map[string][]string{"a.safetensors": {"x"}},
			`{"x": "a.safetensors"`, []string{"invalid JSON"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			for file, names := range c.shards {
				writeShard(t, filepath.Join(dir, file), names...)
			}
			writeIndex(t, dir, c.weightMap)
			s, err := Open(dir)
			if err == nil {
				s.Close()
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

func TestOpenFolderErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "no model.safetensors.index.json") {
		t.Errorf("empty folder: %v", err)
	}
	writeShard(t, filepath.Join(dir, "a.safetensors"), "x")
	writeShard(t, filepath.Join(dir, "b.safetensors"), "y")
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "a.safetensors, b.safetensors") {
		t.Errorf("two files: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "missing.safetensors")); err == nil {
		t.Error("missing file: no error")
	}
	bad := filepath.Join(dir, "bad.safetensors")
	if err := os.WriteFile(bad, []byte("short"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(bad); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Errorf("bad file: %v", err)
	}
}
