//go:build !(cuda && linux && (amd64 || arm64))

package gpu

import "io/fs"

// loadDriver in a binary built without the cuda tag: dlopen needs the
// system's dynamic loader, and the default build is a static binary that
// has none, so it never looks for a driver.
func loadDriver() (driver, error) { return nil, errNotBuilt }

// Built reports whether this binary can use a GPU at all (the cuda tag).
func Built() bool { return false }

// kernelsFS: the default build embeds no PTX.
func kernelsFS() fs.FS { return nil }
