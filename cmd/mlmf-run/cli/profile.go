package cli

import (
	"fmt"
	"io"
	"os"
	"runtime/pprof"
)

// startCPUProfile writes a CPU profile of the run to $MLMF_CPUPROFILE, for
// `go tool pprof`: performance work on whole runs needs it, and an
// environment variable keeps it out of the flags users read.
func startCPUProfile(stderr io.Writer) (stop func()) {
	path := os.Getenv("MLMF_CPUPROFILE")
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(stderr, "MLMF_CPUPROFILE:", err)
		return nil
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		fmt.Fprintln(stderr, "MLMF_CPUPROFILE:", err)
		f.Close()
		return nil
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
