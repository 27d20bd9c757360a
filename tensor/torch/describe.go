package torch

import (
	"fmt"
	"math"
	"math/big"
	"strconv"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// maxNesting bounds how deep describe looks for tensors: state dicts are one
// level, training checkpoints two or three.
const maxNesting = 16

// maxRepeat bounds the bytes a checkpoint's tensors may total, as a
// multiple of the file's size. Tensors may reuse bytes: tied weights share
// a storage, models with shared layers (ALBERT) name one storage up to 12
// times, and expand() saves a view with stride 0 that torch (and so
// llama.cpp's converter) materializes in full. Such views are read as they
// are, but a 4-byte storage must not plan a 16 GiB tensor, nor one storage
// named a million times a million copies: past this multiple no input
// justifies the output.
const maxRepeat = 16

// walker collects tensors from the unpickled root in order.
type walker struct {
	a       *archive
	out     []*tensor.Desc
	names   map[string]bool
	bytes   int64 // the tensors' bytes so far, repeats included
	visits  int
	seen    map[any]*visit      // containers walked, by identity
	located map[string][2]int64 // storage key -> offset, size in the file
}

// describe turns the root object into descriptors. The root must be a dict;
// nested dicts, lists and tuples are walked with dotted names, and values
// that are neither tensors nor containers (epoch numbers, config strings) are
// not weights and are skipped.
func (a *archive) describe(root any) ([]*tensor.Desc, error) {
	d, ok := root.(*dict)
	if !ok {
		return nil, fmt.Errorf("%s: %sdata.pkl holds a %s, not a state dict", a.name, a.prefix, typeName(root))
	}
	w := &walker{a: a, names: map[string]bool{}, located: map[string][2]int64{}, seen: map[any]*visit{}}
	if err := w.walk("", d, 0); err != nil {
		return nil, fmt.Errorf("%s: %w", a.name, err)
	}
	return w.out, nil
}

func (w *walker) walk(name string, v any, depth int) error {
	w.visits++
	if w.visits > maxObjects {
		return fmt.Errorf("%q: more than %d objects to walk", truncate(name), maxObjects)
	}
	if id := identity(v); id != nil {
		if at, ok := w.seen[id]; ok {
			if at.done && !at.tensors {
				return nil // shared metadata (a tuple of ints, say) holds no weights
			}
			return fmt.Errorf("%q: the container of %q appears again; shared containers are not state dicts", truncate(name), truncate(at.name))
		}
		at := &visit{name: name}
		w.seen[id] = at
		before := len(w.out)
		defer func() { at.done, at.tensors = true, len(w.out) > before }()
	}
	switch v := v.(type) {
	case *torchTensor:
		return w.add(name, v)
	case *dict:
		if depth >= maxNesting {
			return fmt.Errorf("%q: containers nested deeper than %d", truncate(name), maxNesting)
		}
		for i, k := range v.keys {
			var ks string
			switch k := k.(type) {
			case string:
				ks = k
			case int64:
				ks = strconv.FormatInt(k, 10)
			default:
				return fmt.Errorf("%q: dict key is a %s, not a str", truncate(name), typeName(k))
			}
			if err := w.walk(join(name, ks), v.vals[i], depth+1); err != nil {
				return err
			}
		}
	case *list:
		return w.walkSeq(name, v.items, depth)
	case tuple:
		return w.walkSeq(name, v, depth)
	}
	return nil
}

func (w *walker) walkSeq(name string, items []any, depth int) error {
	if depth >= maxNesting {
		return fmt.Errorf("%q: containers nested deeper than %d", truncate(name), maxNesting)
	}
	for i, it := range items {
		if err := w.walk(join(name, strconv.Itoa(i)), it, depth+1); err != nil {
			return err
		}
	}
	return nil
}

// visit records where a container was first met and whether it held tensors.
type visit struct {
	name          string
	done, tensors bool
}

// identity returns what makes a container itself (nil for other values), so
// that a structure sharing containers cannot make the walk exponential.
func identity(v any) any {
	switch v := v.(type) {
	case *dict, *list:
		return v
	case tuple:
		if len(v) > 0 {
			return &v[0]
		}
	}
	return nil
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// add checks a tensor against its storage and the zip entry holding it, and
// maps it onto the file.
func (w *walker) add(name string, t *torchTensor) error {
	if w.names[name] {
		return fmt.Errorf("tensor %q appears twice", truncate(name))
	}
	w.names[name] = true
	d := &tensor.Desc{Name: name, DType: t.dtype, Shape: t.size}
	src, err := w.source(name, t)
	if err != nil {
		return fmt.Errorf("tensor %q (%s %v, storage %q): %w", truncate(name), t.dtype, t.size, truncate(t.st.key), err)
	}
	d.Src = src
	w.out = append(w.out, d)
	return nil
}

func (w *walker) source(name string, t *torchTensor) (tensor.Source, error) {
	esz := t.dtype.Info().BlockBytes
	if !w.a.little && esz > 1 {
		return nil, fmt.Errorf("big-endian checkpoint with %d-byte elements is not supported", esz)
	}
	numel, span, err := t.extent()
	if err != nil {
		return nil, err
	}
	stBytes := t.st.numel * elemSize(t.st.class.dtype)
	if numel > 0 && (t.offset > (1<<62)/esz-span || (t.offset+span)*esz > stBytes) {
		return nil, fmt.Errorf("elements [%d, %d) of %d bytes each exceed the storage of %d bytes", t.offset, t.offset+span, esz, stBytes)
	}
	if err := w.charge(t, numel, esz, stBytes); err != nil {
		return nil, err
	}
	loc, ok := w.located[t.st.key]
	if !ok {
		off, size, err := w.a.storageAt(t.st.key)
		if err != nil {
			return nil, err
		}
		loc = [2]int64{off, size}
		w.located[t.st.key] = loc
	}
	if stBytes > loc[1] {
		return nil, fmt.Errorf("storage declares %d bytes but its zip entry holds %d", stBytes, loc[1])
	}
	base := loc[0] + t.offset*esz
	if numel == 0 || t.contiguous() {
		return &tensor.Section{R: w.a.r, Off: base, RowBytes: rowLen(t.size) * esz, Name: w.a.name, Tensor: name}, nil
	}
	return &strided{r: w.a.r, base: base, esz: esz, size: t.size, stride: t.stride, name: w.a.name, tensor: name}, nil
}

// charge adds a tensor's bytes to the file's total and refuses it when the
// total passes maxRepeat times the file's size.
func (w *walker) charge(t *torchTensor, numel, esz, stBytes int64) error {
	limit := int64(math.MaxInt64)
	if w.a.size <= limit/maxRepeat {
		limit = w.a.size * maxRepeat
	}
	if numel <= (limit-w.bytes)/esz {
		w.bytes += numel * esz
		return nil
	}
	n := new(big.Int).Mul(big.NewInt(numel), big.NewInt(esz)) // may pass int64
	what := n.String() + " bytes"
	if n.Cmp(big.NewInt(stBytes)) > 0 {
		what += fmt.Sprintf(", a view repeating a storage of %d bytes (stride %v),", stBytes, t.stride)
	}
	return fmt.Errorf("%s would bring the file's tensors to %s bytes, more than %d times the %d-byte file; "+
		"shared storages and expanded views may repeat bytes, but not without bound", what, n.Add(n, big.NewInt(w.bytes)), maxRepeat, w.a.size)
}

// rowLen is the element count of the last dimension (1 for a scalar).
func rowLen(size []int64) int64 {
	if len(size) == 0 {
		return 1
	}
	return size[len(size)-1]
}
