// Command mlmf-run converts, quantizes, merges and shards model files as a
// recipe says. See the README.
package main

import (
	"os"

	"github.com/mlmf-run/mlmf-run/cmd/mlmf-run/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:])) }
