package cli

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// slowCheckpoint writes a torch checkpoint whose pickle is a dict of
// 100,000 ints and no tensors (so it takes a tenth of a second or more to
// plan), and an index naming n links to it as shards: planning it takes
// seconds, reading no weights.
func slowCheckpoint(t *testing.T, n int) string {
	t.Helper()
	var p bytes.Buffer
	p.Write([]byte{0x80, 2, '}'}) // PROTO 2, EMPTY_DICT
	for batch := range 100 {
		p.WriteByte('(') // MARK
		for i := range 1000 {
			key := fmt.Sprintf("k%d", batch*1000+i)
			p.WriteByte('X') // BINUNICODE
			p.Write(binary.LittleEndian.AppendUint32(nil, uint32(len(key))))
			p.WriteString(key)
			p.WriteByte('J') // BININT
			p.Write(binary.LittleEndian.AppendUint32(nil, uint32(i)))
		}
		p.WriteByte('u') // SETITEMS
	}
	p.WriteByte('.')
	var z bytes.Buffer
	zw := zip.NewWriter(&z)
	for name, data := range map[string][]byte{"archive/data.pkl": p.Bytes(), "archive/byteorder": []byte("little")} {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	one := filepath.Join(dir, "one.bin")
	if err := os.WriteFile(one, z.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	wm := map[string]string{}
	for i := range n {
		shard := fmt.Sprintf("pytorch_model-%05d.bin", i)
		if err := os.Symlink(one, filepath.Join(dir, shard)); err != nil {
			t.Fatal(err)
		}
		wm[shard] = shard
	}
	b, err := json.Marshal(map[string]any{"weight_map": wm})
	if err != nil {
		t.Fatal(err)
	}
	index := filepath.Join(dir, "pytorch_model.bin.index.json")
	if err := os.WriteFile(index, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return index
}

// TestSIGTERMWhilePlanningExits143 sends SIGTERM while the load stage opens
// 60 shards that take several seconds to plan (a tenth of a second or more
// each): planning must stop at the next shard and the run exit 143 at once.
// Planning used to ignore signals until it was done.
func TestSIGTERMWhilePlanningExits143(t *testing.T) {
	index := slowCheckpoint(t, 60)
	dir := t.TempDir()
	recipe := filepath.Join(dir, "r.yaml")
	if err := os.WriteFile(recipe, []byte("version: 1\nstages:\n  - {id: src, kind: load, with: {path: \""+index+"\"}}\n"+
		"  - {id: out, kind: export, inputs: [src], with: {path: \""+filepath.Join(dir, "o.safetensors")+"\"}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	type result struct {
		code int
		errs string
	}
	done := make(chan result, 1)
	go func() {
		code, _, errs := runCLI(recipe, "-q")
		done <- result{code, errs}
	}()
	time.Sleep(300 * time.Millisecond)
	must(t, syscall.Kill(os.Getpid(), syscall.SIGTERM))
	sent := time.Now()
	select {
	case r := <-done:
		if r.code != exitSIGTERM || !strings.Contains(r.errs, "terminated") {
			t.Errorf("exit %d, stderr %q; want %d, terminated", r.code, r.errs, exitSIGTERM)
		}
		if took := time.Since(sent); took > 2*time.Second {
			t.Errorf("exited %v after SIGTERM", took)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("still running 30 s after SIGTERM")
	}
	if ents, err := os.ReadDir(dir); err != nil || len(ents) != 1 {
		t.Errorf("output folder holds %v (%v), want only the recipe", ents, err)
	}
}
