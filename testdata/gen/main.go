// Command gen writes LLaMA-shaped Hugging Face checkpoints with random
// weights: config.json, a byte-level BPE tokenizer, and safetensors (one
// file or transformers-style shards). It makes the tiny model bundled in
// testdata/ and the multi-gigabyte models the benchmarks convert; weights
// are generated row by row while writing, so a 2 GB model needs no 2 GB of
// memory.
//
//	go run ./testdata/gen -out testdata/tiny-llama
//	go run ./testdata/gen -out /tmp/llama-1b -preset 1b
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	var c config
	preset := flag.String("preset", "tiny", "tiny (about 1M parameters) or 1b (TinyLlama-1.1B shapes, 2.2 GB in BF16)")
	out := flag.String("out", "", "output folder (created)")
	dtype := flag.String("dtype", "BF16", "weight dtype: BF16, F16 or F32")
	shard := flag.String("max-shard-size", "", "shard the safetensors like transformers (e.g. 500MB); empty writes one file")
	seed := flag.Uint64("seed", 1, "random seed")
	layers := flag.Int("layers", 0, "override the preset's layer count")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "gen: -out is required")
		os.Exit(2)
	}
	switch *preset {
	case "tiny":
		c = config{Hidden: 256, FFN: 256, Layers: 2, Heads: 4, KVHeads: 2, Vocab: 384, Ctx: 256}
	case "1b":
		c = config{Hidden: 2048, FFN: 5632, Layers: 22, Heads: 32, KVHeads: 4, Vocab: 32000, Ctx: 2048}
	default:
		fmt.Fprintf(os.Stderr, "gen: unknown preset %q (tiny, 1b)\n", *preset)
		os.Exit(2)
	}
	if *layers > 0 {
		c.Layers = *layers
	}
	c.DType, c.Seed, c.MaxShard = *dtype, *seed, *shard
	if err := write(*out, c); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
