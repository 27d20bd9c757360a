//go:build !unix

package safetensors

import "os"

// mapFile falls back to plain reads where mmap is not available; the file
// stays open until Close.
func mapFile(f *os.File, size int64) (readCloserAt, error) {
	g, err := os.Open(f.Name())
	if err != nil {
		return nil, err
	}
	return g, nil
}
