// Package recipes embeds the shipped recipes, so that shortcuts such as
// `mlmf-run convert` run the very same recipe the repository reviews.
package recipes

import "embed"

// FS holds every shipped recipe (*.yaml).
//
//go:embed *.yaml
var FS embed.FS
