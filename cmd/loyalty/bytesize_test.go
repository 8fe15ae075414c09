package main

import "testing"

func TestByteSizeFlag(t *testing.T) {
	for in, want := range map[string]int64{"256MiB": 256 << 20, "1GiB": 1 << 30, "512KiB": 512 << 10, "1000": 1000, "7B": 7, " 3 MiB ": 3 << 20, "2TiB": 2 << 40} {
		var s byteSize
		if err := s.Set(in); err != nil || int64(s) != want {
			t.Errorf("Set(%q) = %d, %v; want %d", in, s, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1MiB", "1.5GiB", "MiB", "12TB", "9999999TiB", "9223372036854775807GiB", "1e9", "0x10"} {
		var s byteSize
		if err := s.Set(in); err == nil {
			t.Errorf("Set(%q) = %d, want an error", in, s)
		}
	}
	s := byteSize(256 << 20)
	if got := s.String(); got != "256MiB" {
		t.Errorf("String() = %q, want 256MiB", got)
	}
}
