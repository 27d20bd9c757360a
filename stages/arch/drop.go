package arch

// droppedByRule reports a tensor whose rule's drop_if holds for the config:
// the converter leaves it out (Hunyuan drops a stored lm_head when the
// embeddings are tied). An expression that does not resolve keeps the
// tensor, as the converter's hparams.get(..., False) does.
func droppedByRule(h *hparams, m match) bool {
	if m.r == nil || m.r.src.DropIf == "" {
		return false
	}
	v, err := h.evalNum(m.r.src.DropIf)
	return err == nil && v != 0
}
