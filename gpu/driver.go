package gpu

import (
	"errors"
	"fmt"
)

// driver is the part of the CUDA driver API that discovery needs, with Go
// types. The real one calls libcuda.so.1 through purego (dl_cuda.go); tests
// give fakes, so every path through discovery and selection runs on a
// machine without a GPU.
type driver interface {
	// Init is cuInit(0); Version is cuDriverGetVersion (e.g. 13000).
	Init() error
	Version() (int, error)
	// Count is cuDeviceGetCount.
	Count() (int, error)
	// Name and Capability describe device i (cuDeviceGetName,
	// cuDeviceGetAttribute).
	Name(i int) (string, error)
	Capability(i int) (major, minor int, err error)
	// FreeMem is cuMemGetInfo_v2 in device i's primary context, which it
	// retains and releases: the memory other processes hold is not ours.
	FreeMem(i int) (free, total int64, err error)
}

// cuResult is a CUresult other than CUDA_SUCCESS, with the call that gave it.
type cuResult struct {
	call string
	code int
	text string // cuGetErrorString's, when the driver gave one
}

// The CUresult values discovery tells apart (cuda.h).
const (
	cuErrorNoDevice        = 100
	cuErrorInsufficientDrv = 35
)

func (e *cuResult) Error() string {
	if e.text != "" {
		return fmt.Sprintf("%s: CUDA error %d (%s)", e.call, e.code, e.text)
	}
	return fmt.Sprintf("%s: CUDA error %d", e.call, e.code)
}

// errNotBuilt is what the loader of a binary built without the cuda tag
// says: such a binary stays fully static and never looks for a driver.
var errNotBuilt = errors.New("this binary was built without GPU support (build with -tags cuda; docs/gpu.md)")

// errNoDriver wraps a failed dlopen of libcuda.so.1.
var errNoDriver = errors.New("no CUDA driver")
