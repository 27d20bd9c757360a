//go:build race

package conformance

// raceEnabled trims the slowest byte-identity sweeps under the race
// detector: they are single-threaded arithmetic the detector makes about ten
// times slower, and the step without -race checks every one of them.
const raceEnabled = true
