//go:build cuda && linux && (amd64 || arm64)

package gpu

import (
	"embed"
	"io/fs"
)

// ptx holds the kernels compiled to PTX (scripts/gen-ptx.sh), which the
// driver compiles for the GPU at hand when cuModuleLoadData loads them.
// Only the GPU build carries them.
//
//go:embed kernels/*.ptx
var ptx embed.FS

// kernelsFS is the embedded PTX, kernels/*.ptx.
func kernelsFS() fs.FS { return ptx }
