//go:build race

package vocab

// raceBuild: the race detector slows the real-tokenizer tests (tokenizer.json
// files of 4 to 28 MB) tenfold; they take a subset then (realSubset).
const raceBuild = true
