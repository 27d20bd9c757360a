package tensor

import (
	"bytes"
	"errors"
	"math"
	"strings"
	"testing"
)

// recordingDevice encodes F32->BF16 itself (by the CPU's rule, so its
// output is checkable), declines everything else, and fails on demand.
type recordingDevice struct {
	calls int
	fail  error
}

func (d *recordingDevice) Name() string           { return "test:0" }
func (d *recordingDevice) Memory() (int64, int64) { return 1, 1 }
func (d *recordingDevice) Merge(from, to DType, cols, n int64, in []byte, deltas []LoRA, dst []byte) (bool, error) {
	return false, nil
}
func (d *recordingDevice) Encode(from, to DType, rowLen, n int64, in, dst []byte) (bool, error) {
	d.calls++
	if d.fail != nil {
		return false, d.fail
	}
	if from != F32 || to != BF16 {
		return false, nil
	}
	f := make([]float32, rowLen*n)
	if err := ToFloat32(F32, in, f); err != nil {
		return false, err
	}
	return true, FromFloat32(BF16, f, dst)
}

// TestConvertOnDevice: rows go to the device, a declined pair is encoded
// on the CPU, and a device's failure names the rows and the device.
func TestConvertOnDevice(t *testing.T) {
	vals := []float32{1, -2.5, 3.25, 1e-3, 65504, float32(math.Copysign(0, -1)), 7, 8}
	raw := make([]byte, 4*len(vals))
	if err := FromFloat32(F32, vals, raw); err != nil {
		t.Fatal(err)
	}
	src := &Bytes{Data: raw, RowBytes: 16, What: "x"}
	for _, to := range []DType{BF16, F16} {
		cpu, _ := Convert(src, F32, to, 4)
		want := make([]byte, 2*len(vals))
		if err := cpu.ReadRows(0, 2, want); err != nil {
			t.Fatal(err)
		}
		dev := &recordingDevice{}
		on, err := ConvertOn(dev, src, F32, to, 4)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(want))
		if err := on.ReadRows(0, 2, got); err != nil || !bytes.Equal(got, want) || dev.calls != 1 {
			t.Errorf("%v: %x, %v after %d device calls; want %x after 1", to, got, err, dev.calls, want)
		}
	}
	dev := &recordingDevice{fail: errors.New("launch failed")}
	on, _ := ConvertOn(dev, src, F32, BF16, 4)
	err := on.ReadRows(1, 1, make([]byte, 8))
	if err == nil || !strings.Contains(err.Error(), "rows 1..2 on test:0: launch failed") || !errors.Is(err, dev.fail) {
		t.Errorf("failing device: %v", err)
	}
	if same, _ := ConvertOn(dev, src, F32, F32, 4); same != Source(src) {
		t.Errorf("F32->F32 on a device is not the source itself")
	}
}
