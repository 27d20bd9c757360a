package gpu

import "unsafe"

// cudaAPI is the driver API the worker uses, with Go types: discovery's
// calls and those that load kernels, hold memory and run streams. The real
// one is libcuda through purego (dl_cuda.go); tests give a fake that keeps
// "device memory" in Go slices and runs each kernel with the CPU codecs,
// so the worker's batching, copies and error paths run without a GPU.
type cudaAPI interface {
	driver
	// Context retains device i's primary context (cuDevicePrimaryCtxRetain).
	Context(i int) (uintptr, error)
	// SetCurrent makes ctx current on the calling OS thread.
	SetCurrent(ctx uintptr) error
	// LoadModule loads PTX text (cuModuleLoadData; the driver JITs it).
	LoadModule(ptx []byte) (uintptr, error)
	// Function looks up a kernel by name (cuModuleGetFunction).
	Function(mod uintptr, name string) (uintptr, error)
	// Alloc and Free hold device memory (cuMemAlloc_v2, cuMemFree_v2).
	Alloc(n int64) (uint64, error)
	Free(p uint64) error
	// HostAlloc and HostFree hold page-locked host memory, which copies
	// reach by DMA (cuMemAllocHost_v2, cuMemFreeHost).
	HostAlloc(n int64) ([]byte, error)
	HostFree(b []byte) error
	// NewStream makes a non-blocking stream (cuStreamCreate).
	NewStream() (uintptr, error)
	// CopyIn and CopyOut queue copies on a stream (cuMemcpyHtoDAsync_v2,
	// cuMemcpyDtoHAsync_v2); host buffers must be HostAlloc's.
	CopyIn(dst uint64, src []byte, stream uintptr) error
	CopyOut(dst []byte, src uint64, stream uintptr) error
	// Launch queues a kernel of grid×block threads (cuLaunchKernel);
	// params point at each argument's value.
	Launch(fn uintptr, grid, block uint32, stream uintptr, params []unsafe.Pointer) error
	// Sync waits for a stream's work (cuStreamSynchronize).
	Sync(stream uintptr) error
}
