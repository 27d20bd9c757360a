// Package lora reads PEFT LoRA adapters (adapter_config.json with
// adapter_model.safetensors or .bin) and merges them into base weights as
// lazy tensor.Source wrappers: every output row block is W + Σ scale·B·A
// computed in float32 from adapter matrices read once, never the whole
// base tensor in memory.
package lora

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
)

// Config is what merging needs from adapter_config.json. Unknown keys are
// ignored, as PEFT's own loader ignores keys of newer versions it does not
// use for LoRA; the ones that change the math are all read here.
type Config struct {
	PeftType      string
	BaseModel     string // base_model_name_or_path
	R             int
	Alpha         float64
	RSLoRA        bool
	FanInFanOut   bool
	DoRA          bool
	LoRABias      bool
	TargetModules []string // a list of suffixes, or one regex in TargetRegex
	TargetRegex   string
	ModulesToSave []string
	// AloraTokens are an activated LoRA's invocation token ids.
	AloraTokens []uint32
	// RankPattern and AlphaPattern keep the file's key order: PEFT takes
	// the first key that matches (get_pattern_key).
	RankPattern  []Pattern
	AlphaPattern []Pattern
}

// Pattern is one rank_pattern or alpha_pattern entry: a Python regex over
// module names, matched as `(.*\.)?(key)$` from the start of the name.
type Pattern struct {
	Key   string
	Value float64
	re    *regexp.Regexp
}

type rawConfig struct {
	PeftType      string          `json:"peft_type"`
	BaseModel     *string         `json:"base_model_name_or_path"`
	R             *float64        `json:"r"`
	Alpha         *float64        `json:"lora_alpha"`
	RSLoRA        bool            `json:"use_rslora"`
	FanInFanOut   bool            `json:"fan_in_fan_out"`
	DoRA          bool            `json:"use_dora"`
	LoRABias      bool            `json:"lora_bias"`
	TargetModules json.RawMessage `json:"target_modules"`
	ModulesToSave []string        `json:"modules_to_save"`
	RankPattern   json.RawMessage `json:"rank_pattern"`
	AlphaPattern  json.RawMessage `json:"alpha_pattern"`
	AloraTokens   []uint32        `json:"alora_invocation_tokens"`
	TrainableTok  json.RawMessage `json:"trainable_token_indices"`
	LayerRepl     json.RawMessage `json:"layer_replication"`
}

// ParseConfig reads adapter_config.json; name is the file for messages.
func ParseConfig(b []byte, name string) (*Config, error) {
	var raw rawConfig
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("%s: %s: %s", name, key, fmt.Sprintf(format, args...))
	}
	c := &Config{PeftType: raw.PeftType, RSLoRA: raw.RSLoRA, FanInFanOut: raw.FanInFanOut, DoRA: raw.DoRA,
		LoRABias: raw.LoRABias, ModulesToSave: raw.ModulesToSave, AloraTokens: raw.AloraTokens}
	if c.PeftType != "" && c.PeftType != "LORA" {
		return nil, bad("peft_type", "%q adapters cannot be merged as LoRA, expected LORA", c.PeftType)
	}
	if raw.BaseModel != nil {
		c.BaseModel = *raw.BaseModel
	}
	if raw.R == nil || *raw.R < 1 || *raw.R != math.Trunc(*raw.R) || *raw.R > 1<<20 {
		return nil, bad("r", "expected a positive integer rank")
	}
	c.R = int(*raw.R)
	if raw.Alpha == nil || math.IsNaN(*raw.Alpha) || math.IsInf(*raw.Alpha, 0) {
		return nil, bad("lora_alpha", "expected a finite number")
	}
	if err := checkAlpha(*raw.Alpha); err != nil {
		return nil, bad("lora_alpha", "%v", err)
	}
	c.Alpha = *raw.Alpha
	for key, v := range map[string]json.RawMessage{"trainable_token_indices": raw.TrainableTok, "layer_replication": raw.LayerRepl} {
		if len(v) > 0 && !bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			return nil, bad(key, "is set; merging such adapters is not supported")
		}
	}
	var err error
	if c.TargetModules, c.TargetRegex, err = parseTargets(raw.TargetModules); err != nil {
		return nil, bad("target_modules", "%v", err)
	}
	if c.RankPattern, err = parsePatterns(raw.RankPattern, true); err != nil {
		return nil, bad("rank_pattern", "%v", err)
	}
	if c.AlphaPattern, err = parsePatterns(raw.AlphaPattern, false); err != nil {
		return nil, bad("alpha_pattern", "%v", err)
	}
	return c, nil
}

func parseTargets(b json.RawMessage) ([]string, string, error) {
	if len(b) == 0 || bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		return nil, "", nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		if _, err := regexp.Compile("^(?:" + s + ")$"); err != nil {
			return nil, "", err
		}
		return nil, s, nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, "", errors.New("expected a string (regex) or a list of module names")
	}
	return list, "", nil
}

// parsePatterns reads a JSON object keeping its key order, which
// encoding/json's maps would lose.
func parsePatterns(b json.RawMessage, integral bool) ([]Pattern, error) {
	if len(b) == 0 || bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("expected an object of pattern: value")
	}
	var out []Pattern
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key := t.(string)
		var v float64
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%q: expected a number", key)
		}
		if integral && (v < 1 || v != math.Trunc(v) || v > 1<<20) {
			return nil, fmt.Errorf("%q: rank %v, expected a positive integer", key, v)
		}
		if err := checkAlpha(v); !integral && err != nil {
			return nil, fmt.Errorf("%q: %w", key, err)
		}
		re, err := regexp.Compile(`^(?:.*\.)?(?:` + key + `)$`)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", key, err)
		}
		out = append(out, Pattern{Key: key, Value: v, re: re})
	}
	return out, nil
}

// maxAlpha bounds lora_alpha as r is bounded. Adapters use alphas of the
// order of their rank; one near float32's range (merging computes in
// float32) makes scale·B·A infinite, so every merged weight Inf or NaN.
const maxAlpha = 1 << 20

func checkAlpha(a float64) error {
	if math.Abs(a) > maxAlpha {
		return fmt.Errorf("%g is out of range, expected |alpha| <= %d", a, maxAlpha)
	}
	return nil
}

// lookup is PEFT's get_pattern_key: the first key whose pattern matches the
// end of the module name at a dot boundary.
func lookup(ps []Pattern, module string) (float64, bool) {
	for _, p := range ps {
		if p.re.MatchString(module) {
			return p.Value, true
		}
	}
	return 0, false
}

// Scale is the factor PEFT multiplies B·A by for one module: alpha/r, or
// alpha/sqrt(r) with rsLoRA, with the module's rank and alpha overrides.
func (c *Config) Scale(module string) (rank int, alpha, scale float64) {
	rank, alpha = c.R, c.Alpha
	if v, ok := lookup(c.RankPattern, module); ok {
		rank = int(v)
	}
	if v, ok := lookup(c.AlphaPattern, module); ok {
		alpha = v
	}
	if c.RSLoRA {
		return rank, alpha, alpha / math.Sqrt(float64(rank))
	}
	return rank, alpha, alpha / float64(rank)
}

// Targets reports whether a module name is one target_modules selects (PEFT's
// check_target_module_exists for the list and regex forms).
func (c *Config) Targets(module string) bool {
	if c.TargetRegex != "" {
		return regexp.MustCompile("^(?:" + c.TargetRegex + ")$").MatchString(module)
	}
	for _, t := range c.TargetModules {
		if t == "all-linear" || module == t || len(module) > len(t) && module[len(module)-len(t)-1:] == "."+t {
			return true
		}
	}
	return false
}
