package torch

import (
	"fmt"

	"github.com/mlmf-run/mlmf-run/tensor"
)

// The restricted unpickler builds only these Go values: nil (None), bool,
// int64, float64, string, []byte, tuple, *list, *dict, and the torch objects
// below. Nothing else can come out of a pickle, so nothing else can run.

// tuple is an immutable Python tuple (also used for frozensets).
type tuple []any

// list is a mutable Python list (also used for sets). It is a pointer so that
// APPEND through a memo reference changes the one shared object.
type list struct{ items []any }

// dict is an insertion-ordered Python dict or OrderedDict. Keys of scalar
// types are deduplicated like Python does; others are kept in order as is.
type dict struct {
	keys, vals []any
	index      map[any]int
}

// bytesKey keeps bytes keys apart from equal str keys, as Python does.
type bytesKey string

func (d *dict) set(k, v any) {
	hk, ok := hashKey(k)
	if ok {
		if i, dup := d.index[hk]; dup {
			d.vals[i] = v
			return
		}
		if d.index == nil {
			d.index = map[any]int{}
		}
		d.index[hk] = len(d.keys)
	}
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
}

// hashKey returns a comparable map key for scalar and identity-hashed values.
func hashKey(k any) (any, bool) {
	switch k := k.(type) {
	case nil, bool, int64, float64, string:
		return k, true
	case []byte:
		return bytesKey(k), true
	case *global, *storage, *torchTensor, *list, *dict:
		return k, true
	}
	return nil, false
}

// globalKind says what an allowed global may be used for.
type globalKind int

const (
	kindRebuildTensor globalKind = iota + 1 // torch._utils._rebuild_tensor
	kindRebuildTensorV2
	kindRebuildTensorV3
	kindRebuildParameter
	kindRebuildFromType // torch._tensor._rebuild_from_type_v2: a rebuilder plus Python state
	kindTensorType      // torch.Tensor, Parameter: only a _rebuild_from_type_v2 argument
	kindOrderedDict
	kindCodecsEncode // _codecs.encode, protocol 2's spelling of bytes
	kindStorage      // a torch.*Storage class: only a persistent-load argument
	kindDType        // a torch dtype object: only a _rebuild_tensor_v3 argument
)

// global is one whitelisted Python global.
type global struct {
	module, name string
	kind         globalKind
	dtype        tensor.DType // kindStorage, kindDType: Invalid for untyped or unsupported
}

func (g *global) String() string { return g.module + "." + g.name }

// storage is a persistent reference to a zip entry data/<key>.
type storage struct {
	class *global
	key   string
	numel int64 // elements of class.dtype; bytes for untyped storages
}

// torchTensor is what a tensor rebuilder returns: a strided view of a storage.
type torchTensor struct {
	st     *storage
	dtype  tensor.DType
	offset int64 // in elements of dtype
	size   []int64
	stride []int64
}

// typeName names a value's Python type for messages, without walking into it.
func typeName(v any) string {
	switch v := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int64:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case tuple:
		return "tuple"
	case *list:
		return "list"
	case *dict:
		return "dict"
	case *global:
		return v.String()
	case *storage:
		return "storage"
	case *torchTensor:
		return "tensor"
	}
	return fmt.Sprintf("%T", v)
}

var allowed = map[string]*global{}

func allow(module, name string, kind globalKind, dt tensor.DType) {
	allowed[module+"."+name] = &global{module: module, name: name, kind: kind, dtype: dt}
}

func init() {
	allow("torch._utils", "_rebuild_tensor", kindRebuildTensor, 0)
	allow("torch._utils", "_rebuild_tensor_v2", kindRebuildTensorV2, 0)
	allow("torch._utils", "_rebuild_tensor_v3", kindRebuildTensorV3, 0)
	allow("torch._utils", "_rebuild_parameter", kindRebuildParameter, 0)
	allow("torch._utils", "_rebuild_parameter_with_state", kindRebuildParameter, 0)
	allow("torch._tensor", "_rebuild_from_type_v2", kindRebuildFromType, 0)
	allow("torch", "Tensor", kindTensorType, 0)
	allow("torch._tensor", "Tensor", kindTensorType, 0)
	allow("torch.nn.parameter", "Parameter", kindTensorType, 0)
	allow("collections", "OrderedDict", kindOrderedDict, 0)
	allow("_codecs", "encode", kindCodecsEncode, 0)
	// Legacy typed storage classes, as torch.save still writes them for the
	// classic dtypes; the complex and quantized ones are known but refused
	// when used, with a message naming them.
	for name, dt := range map[string]tensor.DType{
		"FloatStorage": tensor.F32, "HalfStorage": tensor.F16, "BFloat16Storage": tensor.BF16,
		"DoubleStorage": tensor.F64, "LongStorage": tensor.I64, "IntStorage": tensor.I32,
		"ShortStorage": tensor.I16, "CharStorage": tensor.I8, "ByteStorage": tensor.U8,
		"BoolStorage": tensor.Bool, "UntypedStorage": tensor.Invalid,
		"ComplexFloatStorage": tensor.Invalid, "ComplexDoubleStorage": tensor.Invalid,
		"QInt8Storage": tensor.Invalid, "QUInt8Storage": tensor.Invalid, "QInt32Storage": tensor.Invalid,
	} {
		allow("torch", name, kindStorage, dt)
	}
	// dtype objects, which torch 2.x pickles by name next to an
	// UntypedStorage for the dtypes newer than the legacy storage classes.
	for name, dt := range map[string]tensor.DType{
		"float32": tensor.F32, "float": tensor.F32, "float16": tensor.F16, "half": tensor.F16,
		"bfloat16": tensor.BF16, "float64": tensor.F64, "double": tensor.F64,
		"int64": tensor.I64, "long": tensor.I64, "int32": tensor.I32, "int": tensor.I32,
		"int16": tensor.I16, "short": tensor.I16, "int8": tensor.I8, "uint8": tensor.U8,
		"bool": tensor.Bool, "uint16": tensor.U16, "uint32": tensor.U32, "uint64": tensor.U64,
		"float8_e4m3fn": tensor.F8E4M3, "float8_e5m2": tensor.F8E5M2,
		"complex64": tensor.Invalid, "complex128": tensor.Invalid,
		"float8_e4m3fnuz": tensor.Invalid, "float8_e5m2fnuz": tensor.Invalid,
	} {
		allow("torch", name, kindDType, dt)
	}
}

// lookupGlobal resolves a GLOBAL/STACK_GLOBAL/INST reference against the
// whitelist; anything else is refused by name before it could be used.
func lookupGlobal(module, name string) (*global, error) {
	if g, ok := allowed[module+"."+name]; ok {
		return g, nil
	}
	return nil, &ForbiddenError{Global: truncate(module) + "." + truncate(name)}
}

// ForbiddenError reports a pickle global outside the whitelist.
type ForbiddenError struct {
	Global string // module.name
}

func (e *ForbiddenError) Error() string {
	return fmt.Sprintf("global %q is not allowed (only tensor rebuilders and plain containers)", e.Global)
}
