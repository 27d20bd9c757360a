package torch

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// TestExpandedViewsBounded checks that views repeating their storage's
// bytes (stride 0, as expand() saves them, or many names over one storage)
// are read as torch would materialize them, but refused once a file's
// tensors pass 16 times the file's size: a 4-byte storage planned a 16 GiB
// tensor.
func TestExpandedViewsBounded(t *testing.T) {
	four := map[string][]byte{"0": f32s(1, 2, 3, 4)}
	t.Run("stride 0 over 4 bytes", func(t *testing.T) {
		z := torchZip(t, stateDict(tspec{"w", "FloatStorage", "0", 1, 0, []int32{65536, 65536}, []int32{0, 0}}), map[string][]byte{"0": f32s(7)}, "0")
		_, err := NewReader(bytes.NewReader(z), int64(len(z)), "m.bin")
		want := fmt.Sprintf(`m.bin: tensor "w" (F32 [65536 65536], storage "0"): 17179869184 bytes, a view repeating a storage of 4 bytes (stride [0 0]), `+
			`would bring the file's tensors to 17179869184 bytes, more than 16 times the %d-byte file`, len(z))
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("got  %v\nwant %s", err, want)
		}
	})
	t.Run("bytes past int64", func(t *testing.T) {
		// 2147483647^2 elements of 8 bytes: 36893488113059364872 bytes (by Python).
		z := torchZip(t, stateDict(tspec{"w", "DoubleStorage", "0", 1, 0, []int32{2147483647, 2147483647}, []int32{0, 0}}), map[string][]byte{"0": make([]byte, 8)}, "0")
		_, err := NewReader(bytes.NewReader(z), int64(len(z)), "m.bin")
		want := `m.bin: tensor "w" (F64 [2147483647 2147483647], storage "0"): 36893488113059364872 bytes, a view repeating a storage of 8 bytes (stride [0 0]), ` +
			`would bring the file's tensors to 36893488113059364872 bytes`
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("got  %v\nwant %s", err, want)
		}
	})
	t.Run("many names over one storage", func(t *testing.T) {
		big := map[string][]byte{"0": make([]byte, 1<<16)}
		var ts []tspec
		for i := range 40 {
			ts = append(ts, tspec{fmt.Sprintf("t%02d", i), "FloatStorage", "0", 1 << 14, 0, []int32{1 << 14}, []int32{1}})
		}
		z := torchZip(t, stateDict(ts...), big, "0")
		first := 16 * len(z) / (1 << 16) // t00..: the first whose bytes pass 16 times the file
		_, err := NewReader(bytes.NewReader(z), int64(len(z)), "m.bin")
		want := fmt.Sprintf(`m.bin: tensor "t%02d" (F32 [16384], storage "0"): 65536 bytes would bring the file's tensors to %d bytes, more than 16 times the %d-byte file`,
			first, (first+1)<<16, len(z))
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("got  %v\nwant %s", err, want)
		}
	})
	// Within the bound, expanded views read as torch materializes them.
	for _, tc := range []struct {
		name         string
		size, stride []int32
		want         []float32
	}{
		{"rows repeated", []int32{3, 4}, []int32{0, 1}, []float32{1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4}},
		{"one element repeated", []int32{5}, []int32{0}, []float32{1, 1, 1, 1, 1}},
		{"columns repeated", []int32{2, 3}, []int32{2, 0}, []float32{1, 1, 1, 3, 3, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			z := torchZip(t, stateDict(tspec{"w", "FloatStorage", "0", 4, 0, tc.size, tc.stride}), four, "0")
			f, err := NewReader(bytes.NewReader(z), int64(len(z)), "m.bin")
			if err != nil {
				t.Fatal(err)
			}
			got, err := tensor.ReadAll(f.Tensors[0])
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, f32s(tc.want...)) {
				t.Errorf("read %v, want %v", got, f32s(tc.want...))
			}
		})
	}
}
