package stages

import (
	"fmt"

	"github.com/mlmf-run/mlmf-run/gpu"
	"github.com/mlmf-run/mlmf-run/pipeline"
)

// stageDevice is the parameter of the stages that encode rows (quantize,
// merge-lora): where they run, overriding the run's --device.
const stageDevice = "device"

var deviceParam = str("where rows are encoded: " + gpu.Specs + " (default: the run's --device). " +
	"cuda with no usable GPU fails the plan; auto falls back to the CPU (docs/gpu.md)")

// checkDevice refuses, when the stage is built, a device: that names no
// device (an empty one is the run's --device).
func checkDevice(own string) error {
	if own == "" {
		return nil
	}
	if _, err := gpu.ParseSpec(own); err != nil {
		return fmt.Errorf("%s: %w", stageDevice, err)
	}
	return nil
}

// planDevice resolves a stage's device at plan time, so that a GPU the
// recipe requires and the machine lacks stops the run before any output.
// The run's own --device fallback is said once by the CLI; a stage's own
// auto that falls back says why here.
func planDevice(env *pipeline.Env, own string) (gpu.Choice, error) {
	spec := own
	if spec == "" {
		spec = env.Device
	}
	if spec == "" {
		spec = "auto"
	}
	s, err := gpu.ParseSpec(spec)
	if err != nil {
		return gpu.Choice{}, fmt.Errorf("%s: %w", stageDevice, err)
	}
	c, err := gpu.Choose(s)
	if err != nil {
		return gpu.Choice{}, fmt.Errorf("%s: %w", stageDevice, err)
	}
	if own != "" && own != env.Device && c.CPU() && c.Reason != "" && env.Log != nil {
		env.Log.Info("device: the CPU encodes: " + c.Reason)
	}
	return c, nil
}
