package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// byteSize is a flag of a size in bytes, written as a whole number with an
// optional binary unit: 512KiB, 256MiB, 2GiB, 1TiB, or plain bytes.
type byteSize int64

var byteUnits = []struct {
	suffix string
	factor int64
}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

func (s *byteSize) Set(v string) error {
	num, factor := strings.TrimSpace(v), int64(1)
	for _, u := range byteUnits {
		if rest, ok := strings.CutSuffix(num, u.suffix); ok {
			num, factor = strings.TrimSpace(rest), u.factor
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return fmt.Errorf("%q is not a size: write a whole number above 0 of bytes, or of KiB, MiB, GiB or TiB, such as 256MiB", v)
	}
	if n > math.MaxInt64/factor {
		return fmt.Errorf("%q is too large: at most %d bytes (8EiB)", v, int64(math.MaxInt64))
	}
	*s = byteSize(n * factor)
	return nil
}

func (s *byteSize) String() string {
	for _, u := range byteUnits {
		if int64(*s)%u.factor == 0 && int64(*s) >= u.factor {
			return strconv.FormatInt(int64(*s)/u.factor, 10) + u.suffix
		}
	}
	return strconv.FormatInt(int64(*s), 10) + "B"
}

func (s *byteSize) Type() string { return "size" }
