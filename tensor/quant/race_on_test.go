//go:build race

package quant

// raceEnabled shortens the exhaustive comparisons under the race detector.
const raceEnabled = true
