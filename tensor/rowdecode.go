package tensor

// DecodeRow decodes one row of dtype from into dst, with the fast paths
// Convert's sources use, for sources that encode rows their own way (the
// quantizers that take importance weights).
func DecodeRow(from DType, src []byte, dst []float32) error {
	return (&converted{from: from}).decode(src, dst)
}
