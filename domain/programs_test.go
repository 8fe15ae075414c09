package domain

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestProgramsAtPicksTheVersionInEffect(t *testing.T) {
	day := func(m, d int) time.Time { return time.Date(2026, time.Month(m), d, 0, 0, 0, 0, time.UTC) }
	v1 := &Program{Version: "v1"}
	v2 := &Program{Version: "v2", EffectiveFrom: day(3, 1)}
	v3 := &Program{Version: "v3", EffectiveFrom: day(7, 1)}
	ps, err := NewPrograms(v3, v1, v2) // any order
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		at   time.Time
		want string
	}{
		{day(1, 1).AddDate(-5, 0, 0), "v1"},
		{day(2, 28), "v1"},
		{day(3, 1).Add(-time.Nanosecond), "v1"},
		{day(3, 1), "v2"},
		{day(6, 30), "v2"},
		{day(7, 1), "v3"},
		{day(7, 1).AddDate(10, 0, 0), "v3"},
	} {
		if got := ps.At(c.at).Version; got != c.want {
			t.Errorf("At(%s) = %s, want %s", c.at.Format(time.RFC3339Nano), got, c.want)
		}
	}
	if ps.Latest().Version != "v3" || len(ps.Versions()) != 3 {
		t.Errorf("Latest %s, %d versions", ps.Latest().Version, len(ps.Versions()))
	}
	// The earliest version with a date also covers what came before it.
	dated, err := NewPrograms(v2, v3)
	if err != nil {
		t.Fatal(err)
	}
	if got := dated.At(day(1, 1)).Version; got != "v2" {
		t.Errorf("before the first version: %s, want v2", got)
	}
}

func TestNewProgramsRefusesVersionsThatDoNotFit(t *testing.T) {
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name     string
		versions []*Program
		want     string
	}{
		{"none", nil, "at least one version"},
		{"same name", []*Program{{Version: "a"}, {Version: "a", EffectiveFrom: at}}, `"a" names two versions`},
		{"two undated", []*Program{{Version: "a"}, {Version: "b"}}, "only one version may go without"},
		{"same date", []*Program{{Version: "a", EffectiveFrom: at}, {Version: "b", EffectiveFrom: at}}, "both take effect"},
	} {
		_, err := NewPrograms(c.versions...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err %v, want %q", c.name, err, c.want)
		}
		var fe *FieldError
		if err != nil && c.versions != nil && !errors.As(err, &fe) {
			t.Errorf("%s: %v is not a FieldError", c.name, err)
		}
	}
}
