package gpu

import "errors"

// errNoKernels is why a GPU is not used by a build that carries no
// kernels: the PTX is embedded only with -tags cuda (ptx_cuda.go).
var errNoKernels = errors.New("this build carries no GPU kernels (build with -tags cuda)")
