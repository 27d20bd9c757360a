// Package stages holds one file per stage kind and the explicit registry the
// CLI hands to the pipeline. Domain knowledge lives in subpackages (arch,
// vocab); a stage file only adapts it to the Spec/Stage contract.
package stages

import (
	"sort"

	"github.com/mlmf-run/mlmf-run/pipeline"
)

// all lists every stage kind; adding a stage means adding its spec here.
var all = []*pipeline.Spec{loadSpec, detectSpec, remapSpec, quantizeSpec, exportSpec,
	mergeLoraSpec,
	exportLoraSpec,
	shardSpec, unmapSpec,
	fuseSpec,
}

type registry map[string]*pipeline.Spec

// Registry returns the stage kinds this build knows.
func Registry() pipeline.Registry {
	r := registry{}
	for _, s := range all {
		r[s.Kind] = s
	}
	return r
}

func (r registry) Lookup(kind string) (*pipeline.Spec, bool) { s, ok := r[kind]; return s, ok }

func (r registry) Specs() []*pipeline.Spec {
	out := make([]*pipeline.Spec, 0, len(r))
	for _, s := range r {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out
}
