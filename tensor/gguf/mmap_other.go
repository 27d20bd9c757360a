//go:build !unix

package gguf

import "os"

// mapped falls back to plain reads where there is no mmap.
type mapped struct{ *os.File }

// mapFile takes ownership of f; Close closes it.
func mapFile(f *os.File, size int64) (*mapped, error) { return &mapped{f}, nil }
