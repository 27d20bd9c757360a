package cli

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseSize reads sizes the way people write them on a command line: a
// plain byte count, or a number with K/M/G/T (powers of 1024, as memory is
// counted) or KB/MB/GB/TB (powers of 1000) or KiB/MiB/GiB/TiB.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := strings.IndexFunc(t, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := t, ""
	if i >= 0 {
		num, unit = t[:i], strings.TrimSpace(t[i:])
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("size %q: expected a number with an optional unit (e.g. 512MiB, 4G)", s)
	}
	mult := map[string]float64{"": 1, "B": 1,
		"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40,
		"KIB": 1 << 10, "MIB": 1 << 20, "GIB": 1 << 30, "TIB": 1 << 40,
		"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}[strings.ToUpper(unit)]
	if mult == 0 {
		return 0, fmt.Errorf("size %q: unknown unit %q (use K, M, G, T, KiB..TiB or KB..TB)", s, unit)
	}
	return int64(v * mult), nil
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// minMemory is the smallest --memory a run accepts: below it even one row
// of an ordinary tensor, with its outputs and float32 scratch, does not fit,
// and the run would fail only once it started.
const minMemory = 1 << 20

// memoryBudget reads --memory.
func memoryBudget(s string) (int64, error) {
	n, err := ParseSize(s)
	if err != nil {
		return 0, fmt.Errorf("--memory: %w", err)
	}
	if n < minMemory {
		return 0, fmt.Errorf("--memory %s: %d bytes, expected at least 1MiB", s, n)
	}
	return n, nil
}
