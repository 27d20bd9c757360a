//go:build cuda && linux && (amd64 || arm64)

package gpu

import (
	"fmt"
	"runtime"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// libcuda is the driver library as the NVIDIA driver installs it. Only the
// driver (not the toolkit) is needed: kernels are PTX the driver compiles.
const libcuda = "libcuda.so.1"

// cudaLib holds the addresses of the driver entry points used. Names are
// the ones CUDA 12 and 13 export: calls whose ABI changed carry their
// version suffix (_v2); the unsuffixed names are the CUDA 3.x ABI kept for
// old binaries, with 32-bit sizes.
type cudaLib struct {
	init, driverVersion, deviceCount, deviceGet, deviceName, deviceAttr,
	memInfo, retain, release, setCurrent, errorString uintptr
}

var (
	loadOnce sync.Once
	loaded   *cudaLib
	loadErr  error
)

// loadDriver dlopens libcuda.so.1 once per process and resolves every
// symbol, so a driver too old for one of them is found before any call.
func loadDriver() (driver, error) {
	loadOnce.Do(func() {
		h, err := purego.Dlopen(libcuda, purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err != nil {
			loadErr = fmt.Errorf("%w: %v", errNoDriver, err)
			return
		}
		l := &cudaLib{}
		for _, s := range []struct {
			name string
			at   *uintptr
		}{
			{"cuInit", &l.init}, {"cuDriverGetVersion", &l.driverVersion},
			{"cuDeviceGetCount", &l.deviceCount}, {"cuDeviceGet", &l.deviceGet},
			{"cuDeviceGetName", &l.deviceName}, {"cuDeviceGetAttribute", &l.deviceAttr},
			{"cuMemGetInfo_v2", &l.memInfo},
			{"cuDevicePrimaryCtxRetain", &l.retain}, {"cuDevicePrimaryCtxRelease_v2", &l.release},
			{"cuCtxSetCurrent", &l.setCurrent}, {"cuGetErrorString", &l.errorString},
		} {
			if *s.at, err = purego.Dlsym(h, s.name); err != nil {
				loadErr = fmt.Errorf("%w: %s lacks %s (driver too old for CUDA 12): %v", errNoDriver, libcuda, s.name, err)
				return
			}
		}
		loaded = l
	})
	return loaded, loadErr
}

// Built reports whether this binary can use a GPU at all (the cuda tag).
func Built() bool { return true }

// call runs one driver entry point and turns its CUresult into an error.
func (l *cudaLib) call(name string, fn uintptr, args ...uintptr) error {
	r, _, _ := purego.SyscallN(fn, args...)
	if r == 0 {
		return nil
	}
	e := &cuResult{call: name, code: int(int32(r))}
	var msg *byte
	if q, _, _ := purego.SyscallN(l.errorString, r, uintptr(unsafe.Pointer(&msg))); q == 0 && msg != nil {
		e.text = cString(msg)
	}
	return e
}

func cString(p *byte) string {
	var b []byte
	for q := unsafe.Pointer(p); *(*byte)(q) != 0 && len(b) < 512; q = unsafe.Add(q, 1) {
		b = append(b, *(*byte)(q))
	}
	return string(b)
}

func (l *cudaLib) Init() error { return l.call("cuInit", l.init, 0) }

func (l *cudaLib) Version() (int, error) {
	var v int32
	err := l.call("cuDriverGetVersion", l.driverVersion, uintptr(unsafe.Pointer(&v)))
	return int(v), err
}

func (l *cudaLib) Count() (int, error) {
	var n int32
	err := l.call("cuDeviceGetCount", l.deviceCount, uintptr(unsafe.Pointer(&n)))
	return int(n), err
}

// dev turns an ordinal into a CUdevice handle (in practice the same int).
func (l *cudaLib) dev(i int) (uintptr, error) {
	var d int32
	err := l.call("cuDeviceGet", l.deviceGet, uintptr(unsafe.Pointer(&d)), uintptr(i))
	return uintptr(d), err
}

func (l *cudaLib) Name(i int) (string, error) {
	d, err := l.dev(i)
	if err != nil {
		return "", err
	}
	var buf [256]byte
	if err := l.call("cuDeviceGetName", l.deviceName, uintptr(unsafe.Pointer(&buf[0])), uintptr(len(buf)-1), d); err != nil {
		return "", err
	}
	return cString(&buf[0]), nil
}

// Compute capability attributes (CUdevice_attribute in cuda.h).
const (
	attrCCMajor = 75
	attrCCMinor = 76
)

func (l *cudaLib) Capability(i int) (int, int, error) {
	d, err := l.dev(i)
	if err != nil {
		return 0, 0, err
	}
	var maj, min int32
	if err := l.call("cuDeviceGetAttribute", l.deviceAttr, uintptr(unsafe.Pointer(&maj)), attrCCMajor, d); err != nil {
		return 0, 0, err
	}
	if err := l.call("cuDeviceGetAttribute", l.deviceAttr, uintptr(unsafe.Pointer(&min)), attrCCMinor, d); err != nil {
		return 0, 0, err
	}
	return int(maj), int(min), nil
}

func (l *cudaLib) FreeMem(i int) (free, total int64, err error) {
	// The context is current per OS thread: keep the calls on one.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	d, err := l.dev(i)
	if err != nil {
		return 0, 0, err
	}
	var ctx uintptr
	if err := l.call("cuDevicePrimaryCtxRetain", l.retain, uintptr(unsafe.Pointer(&ctx)), d); err != nil {
		return 0, 0, err
	}
	defer l.call("cuDevicePrimaryCtxRelease_v2", l.release, d)
	if err := l.call("cuCtxSetCurrent", l.setCurrent, ctx); err != nil {
		return 0, 0, err
	}
	var f, t uint64
	if err := l.call("cuMemGetInfo_v2", l.memInfo, uintptr(unsafe.Pointer(&f)), uintptr(unsafe.Pointer(&t))); err != nil {
		return 0, 0, err
	}
	return int64(f), int64(t), nil
}

// workLib is the rest of the driver, resolved when a worker first starts.
type workLib struct {
	moduleLoad, moduleFunc, memAlloc, memFree, hostAlloc, hostFree,
	streamCreate, copyIn, copyOut, launch, streamSync uintptr
}

var (
	workOnce sync.Once
	work     workLib
	workErr  error
)

func (l *cudaLib) resolveWork() error {
	workOnce.Do(func() {
		h, err := purego.Dlopen(libcuda, purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err != nil {
			workErr = fmt.Errorf("%w: %v", errNoDriver, err)
			return
		}
		for _, s := range []struct {
			name string
			at   *uintptr
		}{
			{"cuModuleLoadData", &work.moduleLoad}, {"cuModuleGetFunction", &work.moduleFunc},
			{"cuMemAlloc_v2", &work.memAlloc}, {"cuMemFree_v2", &work.memFree},
			{"cuMemAllocHost_v2", &work.hostAlloc}, {"cuMemFreeHost", &work.hostFree},
			{"cuStreamCreate", &work.streamCreate}, {"cuMemcpyHtoDAsync_v2", &work.copyIn},
			{"cuMemcpyDtoHAsync_v2", &work.copyOut}, {"cuLaunchKernel", &work.launch},
			{"cuStreamSynchronize", &work.streamSync},
		} {
			if *s.at, err = purego.Dlsym(h, s.name); err != nil {
				workErr = fmt.Errorf("%s lacks %s: %v", libcuda, s.name, err)
				return
			}
		}
	})
	return workErr
}

func (l *cudaLib) Context(i int) (uintptr, error) {
	d, err := l.dev(i)
	if err != nil {
		return 0, err
	}
	if err := l.resolveWork(); err != nil {
		return 0, err
	}
	var ctx uintptr
	err = l.call("cuDevicePrimaryCtxRetain", l.retain, uintptr(unsafe.Pointer(&ctx)), d)
	return ctx, err
}

func (l *cudaLib) SetCurrent(ctx uintptr) error { return l.call("cuCtxSetCurrent", l.setCurrent, ctx) }

func (l *cudaLib) LoadModule(ptx []byte) (uintptr, error) {
	img := append(append([]byte(nil), ptx...), 0) // NUL-terminated text
	var mod uintptr
	err := l.call("cuModuleLoadData", work.moduleLoad, uintptr(unsafe.Pointer(&mod)), uintptr(unsafe.Pointer(&img[0])))
	return mod, err
}

func (l *cudaLib) Function(mod uintptr, name string) (uintptr, error) {
	cname := append([]byte(name), 0)
	var fn uintptr
	err := l.call("cuModuleGetFunction", work.moduleFunc, uintptr(unsafe.Pointer(&fn)), mod, uintptr(unsafe.Pointer(&cname[0])))
	return fn, err
}

func (l *cudaLib) Alloc(n int64) (uint64, error) {
	var p uint64
	err := l.call("cuMemAlloc_v2", work.memAlloc, uintptr(unsafe.Pointer(&p)), uintptr(n))
	return p, err
}

func (l *cudaLib) Free(p uint64) error { return l.call("cuMemFree_v2", work.memFree, uintptr(p)) }

func (l *cudaLib) HostAlloc(n int64) ([]byte, error) {
	var p unsafe.Pointer
	if err := l.call("cuMemAllocHost_v2", work.hostAlloc, uintptr(unsafe.Pointer(&p)), uintptr(n)); err != nil {
		return nil, err
	}
	return unsafe.Slice((*byte)(p), n), nil
}

func (l *cudaLib) HostFree(b []byte) error {
	return l.call("cuMemFreeHost", work.hostFree, uintptr(unsafe.Pointer(unsafe.SliceData(b))))
}

// streamNonBlocking is CU_STREAM_NON_BLOCKING: no implicit sync with stream 0.
const streamNonBlocking = 1

func (l *cudaLib) NewStream() (uintptr, error) {
	var s uintptr
	err := l.call("cuStreamCreate", work.streamCreate, uintptr(unsafe.Pointer(&s)), streamNonBlocking)
	return s, err
}

func (l *cudaLib) CopyIn(dst uint64, src []byte, stream uintptr) error {
	return l.call("cuMemcpyHtoDAsync_v2", work.copyIn, uintptr(dst), uintptr(unsafe.Pointer(unsafe.SliceData(src))), uintptr(len(src)), stream)
}

func (l *cudaLib) CopyOut(dst []byte, src uint64, stream uintptr) error {
	return l.call("cuMemcpyDtoHAsync_v2", work.copyOut, uintptr(unsafe.Pointer(unsafe.SliceData(dst))), uintptr(src), uintptr(len(dst)), stream)
}

func (l *cudaLib) Launch(fn uintptr, grid, block uint32, stream uintptr, params []unsafe.Pointer) error {
	return l.call("cuLaunchKernel", work.launch, fn, uintptr(grid), 1, 1, uintptr(block), 1, 1, 0, stream,
		uintptr(unsafe.Pointer(unsafe.SliceData(params))), 0)
}

func (l *cudaLib) Sync(stream uintptr) error {
	return l.call("cuStreamSynchronize", work.streamSync, stream)
}
