package tensor

// Device encodes batches of whole rows somewhere other than the calling
// goroutine: a GPU worker (package gpu). A Convert source built with
// ConvertOn hands every batch the executor derives to its device, and
// encodes on the CPU what the device declines, so no stage and no executor
// knows which one ran. Results must be byte-identical to the CPU's.
type Device interface {
	// Name says which device, for plans and messages ("cuda:0,1").
	Name() string
	// Encode re-encodes n rows of rowLen elements from dtype from (in) to
	// dtype to (dst, exactly n encoded rows). handled is false, with dst
	// untouched, when the device does not encode this pair; the caller
	// then does it on the CPU. It may be called concurrently.
	Encode(from, to DType, rowLen, n int64, in, dst []byte) (handled bool, err error)
	// Merge decodes n rows of cols elements of dtype from (in), adds each
	// LoRA delta in order, and encodes the sums as dtype to (dst), as
	// stages/lora merges on the CPU. handled is false when it does not.
	Merge(from, to DType, cols, n int64, in []byte, deltas []LoRA, dst []byte) (handled bool, err error)
	// Memory reports the device memory free and in all, in bytes.
	Memory() (free, total int64)
}

// ConvertOn is Convert with its rows encoded on dev (nil: the CPU).
func ConvertOn(dev Device, src Source, from, to DType, rowLen int64) (Source, error) {
	s, err := Convert(src, from, to, rowLen)
	if c, ok := s.(*converted); ok && dev != nil {
		c.dev = dev
	}
	return s, err
}

// LoRA is one delta of a merge, for the rows of one batch: ΔW[r][i] is
// Σ_k L[r][k]·R[k][i], accumulated in k order with one fused multiply-add
// per step (in float64, rounded to float32), times Scale, rounded to Round
// (the adapter's dtype), times Weight when Weighted.
type LoRA struct {
	L, R     []float32 // the batch's rows × Rank, and Rank × cols
	Rank     int
	Scale    float32
	Weight   float32
	Weighted bool
	Round    DType
}
