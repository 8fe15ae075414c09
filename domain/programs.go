package domain

import (
	"errors"
	"fmt"
	"slices"
	"time"
)

// Programs is every version of a loyalty program, each in effect from its
// EffectiveFrom until the next one's. An event's own time picks the version
// (At), not the time it is processed: replaying history applies the rules
// that were in effect when each event happened, and a version published in
// advance takes over on its date by itself.
type Programs struct {
	versions []*Program // by EffectiveFrom
}

// NewPrograms checks that the versions fit together and orders them: each
// valid, with its own name and its own EffectiveFrom; only the earliest may
// leave EffectiveFrom zero. The earliest also covers events from before its
// date, such as an import of the history before the program began.
func NewPrograms(versions ...*Program) (*Programs, error) {
	if len(versions) == 0 {
		return nil, errors.New("a program needs at least one version")
	}
	sorted := slices.Clone(versions)
	slices.SortStableFunc(sorted, func(a, b *Program) int { return a.EffectiveFrom.Compare(b.EffectiveFrom) })
	var errs []error
	names := map[string]bool{}
	for i, p := range sorted {
		if p == nil {
			return nil, errors.New("a program version is missing")
		}
		if names[p.Version] {
			errs = append(errs, &FieldError{Field: "version", Reason: fmt.Sprintf("%q names two versions; each needs its own", p.Version)})
		}
		names[p.Version] = true
		if i == 0 {
			continue
		}
		prev := sorted[i-1]
		switch {
		case p.EffectiveFrom.IsZero():
			errs = append(errs, &FieldError{Field: "effective_from", Reason: fmt.Sprintf(
				"version %q has none, but only one version may go without (%q has none either)", p.Version, prev.Version)})
		case p.EffectiveFrom.Equal(prev.EffectiveFrom):
			errs = append(errs, &FieldError{Field: "effective_from", Reason: fmt.Sprintf(
				"versions %q and %q both take effect on %s", prev.Version, p.Version, p.EffectiveFrom.Format(time.RFC3339))})
		}
	}
	errs = append(errs, experimentsKeepTheirArms(sorted)...)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Programs{versions: sorted}, nil
}

// experimentsKeepTheirArms refuses versions that change an experiment's
// start, rules or arms: members recorded in an arm must stay comparable
// with the members put in it later, under any version.
func experimentsKeepTheirArms(versions []*Program) []error {
	var errs []error
	first := map[string]*Program{}
	for _, p := range versions {
		for i := range p.Experiments {
			x := &p.Experiments[i]
			was, ok := first[x.ID]
			if !ok {
				first[x.ID] = p
				continue
			}
			j := slices.IndexFunc(was.Experiments, func(y Experiment) bool { return y.ID == x.ID })
			if !was.Experiments[j].sameArms(x) {
				errs = append(errs, &FieldError{Field: fmt.Sprintf("experiments[%d]", i), Reason: fmt.Sprintf(
					"version %q changes experiment %q's from, rules or arms from version %q: members already in an arm would be compared with members put in it otherwise; end the experiment (to) and start another",
					p.Version, x.ID, was.Version)})
			}
		}
	}
	return errs
}

// OneVersion is the Programs of a single program.
func OneVersion(p *Program) *Programs {
	return &Programs{versions: []*Program{p}}
}

// At returns the version in effect at t.
func (ps *Programs) At(t time.Time) *Program {
	i, _ := slices.BinarySearchFunc(ps.versions, t, func(p *Program, t time.Time) int {
		if p.EffectiveFrom.After(t) {
			return 1
		}
		return -1
	})
	// i is the first version taking effect after t.
	return ps.versions[max(i-1, 0)]
}

// Versions returns the versions in the order they take effect.
func (ps *Programs) Versions() []*Program { return slices.Clone(ps.versions) }

// Latest is the version that takes effect last.
func (ps *Programs) Latest() *Program { return ps.versions[len(ps.versions)-1] }
