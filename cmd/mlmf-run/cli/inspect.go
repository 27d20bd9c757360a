package cli

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/mlmf-run/mlmf-run/tensor"
	"github.com/mlmf-run/mlmf-run/tensor/gguf"
	"github.com/mlmf-run/mlmf-run/tensor/safetensors"
	"github.com/mlmf-run/mlmf-run/tensor/torch"
)

func inspectCmd(stdout io.Writer) *cobra.Command {
	var asJSON, hash bool
	c := &cobra.Command{
		Use:   "inspect PATH",
		Short: "Describe a GGUF, safetensors or PyTorch file, or an HF folder: metadata and every tensor",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := inspect(args[0], hash)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", " ")
				return enc.Encode(in)
			}
			printInspect(stdout, in)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print JSON: {format, metadata, tensors: [{name, dtype, shape, offset, nbytes, sha256}]}")
	c.Flags().BoolVar(&hash, "hash", false, "hash every tensor's bytes (sha256)")
	return c
}

// inspection is the JSON inspect prints. For GGUF it is gguf.Describe's
// view (ggml type names, ne-order shapes, gguf-py's metadata rendering); for
// safetensors and PyTorch, shapes are as stored (row-major).
type inspection struct {
	Format   string        `json:"format"`
	Metadata any           `json:"metadata"`
	Tensors  []tensorEntry `json:"tensors"`
}

type tensorEntry struct {
	Name   string  `json:"name"`
	DType  string  `json:"dtype"`
	Shape  []int64 `json:"shape"`
	Offset int64   `json:"offset"`
	NBytes int64   `json:"nbytes"`
	SHA256 string  `json:"sha256,omitempty"`
}

func inspect(path string, hash bool) (any, error) {
	target, format, err := inspectTarget(path)
	if err != nil {
		return nil, err
	}
	switch format {
	case "gguf":
		f, c, err := gguf.OpenSet(target)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		return gguf.Describe(f, hash)
	case "safetensors":
		s, err := safetensors.Open(target)
		if err != nil {
			return nil, err
		}
		defer s.Close()
		return describe("safetensors", s.Metadata, s.Tensors, hash)
	default:
		f, c, err := torch.Open(target)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		return describe("pytorch", map[string]string{}, f.Tensors, hash)
	}
}

// folderModels are the files inspect looks for in a folder, in order: a
// model's, then a PEFT adapter's.
var folderModels = []string{safetensors.IndexName, safetensors.SingleName, "pytorch_model.bin", "adapter_model.safetensors", "adapter_model.bin"}

// inspectTarget resolves a folder to its model file and tells a file's
// format by its first bytes (by its extension when they say nothing, so a
// damaged file still gets its own reader's error); when nothing fits, the
// error names what was looked for.
func inspectTarget(path string) (target, format string, err error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", "", err
	}
	target = path
	if st.IsDir() {
		if target, err = folderModel(path); err != nil {
			return "", "", err
		}
	}
	head := make([]byte, 9)
	f, err := os.Open(target)
	if err != nil {
		return "", "", err
	}
	n, _ := io.ReadFull(f, head)
	f.Close()
	head = head[:n]
	ext := strings.ToLower(filepath.Ext(target))
	switch {
	case bytes.HasPrefix(head, []byte("GGUF")):
		return target, "gguf", nil
	case bytes.HasPrefix(head, []byte("PK\x03\x04")):
		return target, "torch", nil
	case n == 9 && head[8] == '{', ext == ".safetensors", strings.HasSuffix(target, ".index.json"):
		return target, "safetensors", nil
	case ext == ".gguf":
		return target, "gguf", nil
	case ext == ".bin" || ext == ".pt" || ext == ".pth":
		return target, "torch", nil
	}
	return "", "", fmt.Errorf("%s: not a model file: looked for a GGUF (starts with \"GGUF\"), a safetensors file "+
		"(an 8-byte header length, then '{') or a PyTorch zip checkpoint (starts with \"PK\"); it starts with %q", target, head)
}

func folderModel(dir string) (string, error) {
	for _, n := range folderModels {
		if _, err := os.Stat(filepath.Join(dir, n)); err == nil {
			return filepath.Join(dir, n), nil
		}
	}
	for _, pat := range []string{"*.safetensors", "*.gguf"} {
		if ms, _ := filepath.Glob(filepath.Join(dir, pat)); len(ms) == 1 {
			return ms[0], nil
		}
	}
	return "", fmt.Errorf("%s: no model file in the folder (looked for %s, or a single *.safetensors or *.gguf)", dir, strings.Join(folderModels, ", "))
}

func describe(format string, meta map[string]string, ts []*tensor.Desc, hash bool) (*inspection, error) {
	if meta == nil {
		meta = map[string]string{}
	}
	in := &inspection{Format: format, Metadata: meta, Tensors: []tensorEntry{}}
	for _, t := range ts {
		e := tensorEntry{Name: t.Name, DType: t.DType.String(), Shape: t.Shape, NBytes: t.NBytes()}
		if s, ok := t.Src.(*tensor.Section); ok {
			e.Offset = s.Off
		}
		if hash {
			sum, err := hashTensor(t)
			if err != nil {
				return nil, err
			}
			e.SHA256 = sum
		}
		in.Tensors = append(in.Tensors, e)
	}
	return in, nil
}

// hashTensor digests a tensor's bytes in bounded chunks.
func hashTensor(t *tensor.Desc) (string, error) {
	h := sha256.New()
	rb := t.RowBytes()
	per := max(int64(1), (4<<20)/max(rb, 1))
	buf := make([]byte, per*rb)
	for r := int64(0); r < t.Rows(); r += per {
		n := min(per, t.Rows()-r)
		if err := t.Src.ReadRows(r, n, buf[:n*rb]); err != nil {
			return "", err
		}
		h.Write(buf[:n*rb])
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func printInspect(w io.Writer, v any) {
	if g, ok := v.(gguf.Inspect); ok {
		fmt.Fprintf(w, "format: gguf\nmetadata: %d keys\n", len(g.Metadata))
		for _, k := range g.Metadata {
			s := fmt.Sprint(printableValue(k.Value))
			if k.Len > 0 || (len(k.Type) > 0 && k.Type[0] == "ARRAY") {
				head := make([]any, len(k.Head))
				for i, h := range k.Head {
					head[i] = printableValue(h)
				}
				s = fmt.Sprintf("[%d items] %v ...", k.Len, head)
			}
			if r := []rune(s); len(r) > 100 {
				s = string(r[:100]) + "..."
			}
			fmt.Fprintf(w, "  %-44s %-16s %s\n", printable(k.Key), strings.Join(k.Type, ","), s)
		}
		v = &inspection{Format: "gguf", Tensors: ggufTensors(g)}
	}
	b, _ := json.Marshal(v)
	var in inspection
	json.Unmarshal(b, &in)
	if in.Format != "gguf" {
		fmt.Fprintf(w, "format: %s\n", in.Format)
		m, _ := in.Metadata.(map[string]any)
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "  %s: %v\n", printable(k), printableValue(m[k]))
		}
	}
	fmt.Fprintf(w, "tensors: %d\n", len(in.Tensors))
	for _, t := range in.Tensors {
		fmt.Fprintf(w, "  %-44s %-8s %-18s off %-10d %10s %s\n", printable(t.Name), t.DType, fmt.Sprint(t.Shape), t.Offset, humanBytes(t.NBytes), t.SHA256)
	}
}

// printable quotes s, Go-style, when it holds anything a terminal would
// act on or hide (control and format characters, invalid UTF-8): names and
// strings come from the file, and a crafted one must not drive the terminal.
func printable(s string) string {
	if utf8.ValidString(s) && strings.IndexFunc(s, func(r rune) bool { return !strconv.IsPrint(r) }) < 0 {
		return s
	}
	return strconv.Quote(s)
}

// printableValue is printable for strings and leaves other values alone.
func printableValue(v any) any {
	if s, ok := v.(string); ok {
		return printable(s)
	}
	return v
}

func ggufTensors(g gguf.Inspect) []tensorEntry {
	var out []tensorEntry
	for _, t := range g.Tensors {
		out = append(out, tensorEntry{t.Name, t.DType, t.Shape, t.Offset, t.NBytes, t.SHA256})
	}
	return out
}
