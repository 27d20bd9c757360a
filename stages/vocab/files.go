package vocab

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// maxJSONSize bounds the JSON files read whole; tokenizer.json of the
// largest vocabularies is some tens of MiB.
const maxJSONSize = 512 << 20

// sourceNames are the files of a model folder that Load may read.
var sourceNames = []string{"tokenizer.model", "tokenizer.json", "tokenizer_config.json", "config.json",
	"added_tokens.json", "chat_template.jinja", "chat_template.json", "tiktoken.model", "hy.tiktoken"}

// Files lists the files of dir that Load may read, those present: a run
// must neither write over them nor leave them out of its manifest. Only
// regular files are listed: Load refuses the others when it reads them,
// and one it does not read (a named pipe) must not be hashed either.
func Files(dir string) []string {
	var cands []string
	for _, n := range sourceNames {
		cands = append(cands, filepath.Join(dir, n))
	}
	extra, _ := filepath.Glob(filepath.Join(dir, "additional_chat_templates", "*.jinja"))
	sort.Strings(extra)
	var out []string
	for _, p := range append(cands, extra...) {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			out = append(out, p)
		}
	}
	return out
}

// readFile reads a whole file after checking its size.
func readFile(path string) ([]byte, error) {
	f, st, err := tensor.OpenInput(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st.Size() > maxJSONSize {
		return nil, fmt.Errorf("%s: %d bytes, more than the %d this reader takes", path, st.Size(), maxJSONSize)
	}
	return io.ReadAll(io.LimitReader(f, maxJSONSize+1))
}

// readJSONObject reads a JSON object with numbers kept as json.Number.
func readJSONObject(path string) (map[string]any, error) {
	b, err := readFile(path)
	if err != nil {
		return nil, err
	}
	v, err := decodeGeneric(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: want a JSON object", path)
	}
	return m, nil
}

// readOptionalObject is readJSONObject, or nil when the file is absent.
func readOptionalObject(path string) (map[string]any, error) {
	if !isFile(path) {
		return nil, nil
	}
	return readJSONObject(path)
}

// member is one key of a JSON object, in file order.
type member struct {
	Key   string
	Value json.RawMessage
}

// orderedMembers decodes a JSON object keeping its key order, which decides
// which entry wins where the converter walks a dict and overwrites.
func orderedMembers(b []byte) ([]member, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	t, err := d.Token()
	if err != nil {
		return nil, err
	}
	if t != json.Delim('{') {
		return nil, fmt.Errorf("want a JSON object")
	}
	var out []member
	for d.More() {
		k, err := d.Token()
		if err != nil {
			return nil, err
		}
		var v json.RawMessage
		if err := d.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, member{k.(string), v})
	}
	if _, err := d.Token(); err != nil {
		return nil, err
	}
	return out, nil
}
