package gpu

import "errors"

// errNoKernels is why a usable GPU still does not encode rows: the CUDA C
// kernels in kernels/ are checked bit for bit on the host (host_test.go)
// and their PTX is embedded in the GPU build (ptx_cuda.go), but the worker
// that loads it and feeds it batches is not built yet (docs/gpu.md). Until
// it is, selection says so rather than pretend.
var errNoKernels = errors.New("this build has no GPU worker yet, so the CPU encodes (docs/gpu.md)")

// kernelsBuilt reports whether this build can run rows on a GPU.
func kernelsBuilt() error { return errNoKernels }
