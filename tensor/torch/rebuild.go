package torch

import (
	"errors"
	"fmt"

	"github.com/mlmf-run/mlmf-run/tensor"
)

const maxDims = 64

// storageTable resolves torch's persistent ids, ('storage', class, key,
// location, numel), to one *storage per key, so that tensors sharing a
// storage (tied weights, views) share it here too.
type storageTable map[string]*storage

func (t storageTable) load(pid any) (any, error) {
	p, ok := pid.(tuple)
	if !ok || len(p) != 5 {
		return nil, fmt.Errorf("persistent id is a %s, not a 5-tuple ('storage', type, key, location, numel)", typeName(pid))
	}
	if s := asString(p[0]); s != "storage" {
		return nil, fmt.Errorf("persistent id of kind %q, want \"storage\"", truncate(s))
	}
	class, ok := p[1].(*global)
	if !ok || class.kind != kindStorage {
		return nil, fmt.Errorf("storage type is a %s, not a torch storage class", typeName(p[1]))
	}
	if class.dtype == tensor.Invalid && class.name != "UntypedStorage" {
		return nil, fmt.Errorf("storage type %s is not supported", class)
	}
	key, ok := p[2].(string)
	if !ok {
		return nil, fmt.Errorf("storage key is a %s, not a str", typeName(p[2]))
	}
	numel, ok := p[4].(int64)
	if !ok || numel < 0 || numel > 1<<60/elemSize(class.dtype) {
		return nil, fmt.Errorf("storage %q: bad element count %s", truncate(key), quote(p[4]))
	}
	if s, seen := t[key]; seen {
		if s.class != class || s.numel != numel {
			return nil, fmt.Errorf("storage %q is referenced as both %s[%d] and %s[%d]", truncate(key), s.class, s.numel, class, numel)
		}
		return s, nil
	}
	s := &storage{class: class, key: key, numel: numel}
	t[key] = s
	return s, nil
}

func asString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	}
	return typeName(v)
}

// elemSize is the byte size of one element; untyped storages count bytes.
func elemSize(dt tensor.DType) int64 {
	if dt == tensor.Invalid {
		return 1
	}
	return dt.Info().BlockBytes
}

// rebuildTensor interprets torch._utils._rebuild_tensor{,_v2,_v3}:
// (storage, storage_offset, size, stride[, requires_grad, backward_hooks
// [, dtype (v3)][, metadata]]). Gradients, hooks and metadata do not change
// the weights and are ignored.
func rebuildTensor(kind globalKind, a tuple) (any, error) {
	lo, hi := 4, 4
	switch kind {
	case kindRebuildTensorV2:
		lo, hi = 6, 7
	case kindRebuildTensorV3:
		lo, hi = 7, 8
	}
	if len(a) < lo || len(a) > hi {
		return nil, fmt.Errorf("takes %d to %d arguments, got %d", lo, hi, len(a))
	}
	st, ok := a[0].(*storage)
	if !ok {
		return nil, fmt.Errorf("storage is a %s, not a persistent storage", typeName(a[0]))
	}
	t := &torchTensor{st: st, dtype: st.class.dtype}
	if t.dtype == tensor.Invalid {
		t.dtype = tensor.U8 // an UntypedStorage holds bytes
	}
	if kind == kindRebuildTensorV3 {
		g, ok := a[6].(*global)
		if !ok || g.kind != kindDType {
			return nil, fmt.Errorf("dtype is a %s, not a torch dtype", typeName(a[6]))
		}
		if g.dtype == tensor.Invalid {
			return nil, fmt.Errorf("dtype %s is not supported", g)
		}
		t.dtype = g.dtype
	}
	off, ok := a[1].(int64)
	if !ok || off < 0 {
		return nil, fmt.Errorf("storage_offset is %s, not a non-negative int", quote(a[1]))
	}
	t.offset = off
	var err error
	if t.size, err = dims("size", a[2]); err != nil {
		return nil, err
	}
	if t.stride, err = dims("stride", a[3]); err != nil {
		return nil, err
	}
	if len(t.size) != len(t.stride) {
		return nil, fmt.Errorf("size %v and stride %v differ in rank", t.size, t.stride)
	}
	return t, nil
}

// dims reads a size or stride tuple of non-negative ints.
func dims(what string, v any) ([]int64, error) {
	tp, ok := v.(tuple)
	if !ok {
		return nil, fmt.Errorf("%s is a %s, not a tuple", what, typeName(v))
	}
	if len(tp) > maxDims {
		return nil, fmt.Errorf("%s has %d dimensions, more than %d", what, len(tp), maxDims)
	}
	out := make([]int64, len(tp))
	for i, x := range tp {
		n, ok := x.(int64)
		if !ok || n < 0 {
			return nil, fmt.Errorf("%s[%d] is %s, not a non-negative int", what, i, quote(x))
		}
		out[i] = n
	}
	return out, nil
}

var errOverflow = errors.New("element count overflows")

// extent returns the number of elements and the storage span (1 + the
// largest element index reached, relative to the offset) of a strided view.
func (t *torchTensor) extent() (numel, span int64, err error) {
	numel = 1
	for _, s := range t.size {
		if s != 0 && numel > (1<<62)/s {
			return 0, 0, errOverflow
		}
		numel *= s
	}
	if numel == 0 {
		return 0, 0, nil
	}
	span = 1
	for i, s := range t.size {
		if t.stride[i] != 0 && s-1 > ((1<<62)-span)/t.stride[i] {
			return 0, 0, errOverflow
		}
		span += (s - 1) * t.stride[i]
	}
	return numel, span, nil
}

// contiguous reports whether the strides are row-major, ignoring dimensions
// of size 1, whose stride torch leaves arbitrary.
func (t *torchTensor) contiguous() bool {
	want := int64(1)
	for i := len(t.size) - 1; i >= 0; i-- {
		if t.size[i] != 1 && t.stride[i] != want {
			return false
		}
		want *= t.size[i]
	}
	return true
}
