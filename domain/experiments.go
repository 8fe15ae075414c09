package domain

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"time"
)

// ControlArm is the name of an experiment's control arm: its members are
// never given the rules under test.
const ControlArm = "control"

// assignmentBuckets is how finely members are split between arms: shares
// are whole percent, a hundred buckets each.
const assignmentBuckets = 10_000

// Experiment measures program rules against a control group (decision
// 033): members who meet it while it runs are put in an arm by a hash of
// the experiment and member ids, and only the arms that are given a rule
// receive its points. The arm is recorded (ExperimentAssigned) the first
// time a rule under test would award the member points, in control as in
// the other arms, so that the arms compare like with like.
type Experiment struct {
	ID          string
	Description string
	// Rules are the ids of the program rules under test.
	Rules []string
	// Arms split the members; their shares add up to 100.
	Arms []Arm
	// From and To bound the event times it runs for (To excluded; zero:
	// open).
	From, To time.Time
}

// Arm is one group of an experiment's members.
type Arm struct {
	Name string
	// Share is the arm's percentage of the members.
	Share int
	// Rules are the rules under test this arm is given; nil: all of them,
	// but never to the control arm.
	Rules []string
}

// ArmOf is the arm of the experiment a member is put in: the first 8 bytes
// of sha256("loyalty/experiment/v1\0" + experiment + "\0" + member),
// modulo 10,000, against the arms' cumulative shares. The same in every
// engine, replay and program version.
func (x *Experiment) ArmOf(memberID string) string {
	sum := sha256.Sum256([]byte("loyalty/experiment/v1\x00" + x.ID + "\x00" + memberID))
	bucket := binary.BigEndian.Uint64(sum[:8]) % assignmentBuckets
	var upTo uint64
	for _, a := range x.Arms {
		upTo += uint64(a.Share) * assignmentBuckets / 100
		if bucket < upTo {
			return a.Name
		}
	}
	return x.Arms[len(x.Arms)-1].Name // shares short of 100: a program not validated
}

// runs reports whether the experiment runs at t.
func (x *Experiment) runs(t time.Time) bool {
	return !t.Before(x.From) && (x.To.IsZero() || t.Before(x.To))
}

// gives reports whether the arm is given the rule.
func (x *Experiment) gives(arm, rule string) bool {
	i := slices.IndexFunc(x.Arms, func(a Arm) bool { return a.Name == arm })
	if i < 0 || arm == ControlArm {
		return false
	}
	return x.Arms[i].Rules == nil || slices.Contains(x.Arms[i].Rules, rule)
}

// experimentTesting is the experiment that tests the rule at t, if any.
func (p *Program) experimentTesting(rule string, t time.Time) *Experiment {
	for i := range p.Experiments {
		x := &p.Experiments[i]
		if x.runs(t) && slices.Contains(x.Rules, rule) {
			return x
		}
	}
	return nil
}

func (x *Experiment) validate(field string, add func(field, format string, args ...any), ids, tested map[string]bool, rules []Rule) {
	checkName(add, field+".id", x.ID, ids, "is used by two experiments")
	if len(x.Rules) == 0 {
		add(field+".rules", "must name at least one rule under test")
	}
	for i, r := range x.Rules {
		f := fmt.Sprintf("%s.rules[%d]", field, i)
		switch {
		case !slices.ContainsFunc(rules, func(pr Rule) bool { return pr.ID == r }):
			add(f, "%q is not a rule of earning.rules", r)
		case tested[r]:
			add(f, "%q is under test in another experiment (or named twice): a rule is tested by one experiment", r)
		}
		tested[r] = true
	}
	x.validateArms(field, add)
	if x.From.IsZero() {
		add(field+".from", "is required: the experiment's arms are fixed from then on")
	}
	if !x.To.IsZero() && !x.To.After(x.From) {
		add(field+".to", "must be after from")
	}
}

func (x *Experiment) validateArms(field string, add func(field, format string, args ...any)) {
	if len(x.Arms) < 2 {
		add(field+".arms", "must have at least two arms, one of them %q", ControlArm)
		return
	}
	names, total, controls := map[string]bool{}, 0, 0
	for i, a := range x.Arms {
		f := fmt.Sprintf("%s.arms[%d]", field, i)
		checkName(add, f+".name", a.Name, names, "names two arms")
		if a.Name == ControlArm {
			controls++
			if a.Rules != nil {
				add(f+".rules", "the control arm is given none of the rules under test")
			}
		}
		if a.Share < 1 || a.Share > 99 {
			add(f+".share", "must be 1 to 99 (percent of the members), got %d", a.Share)
		}
		total += a.Share
		for j, r := range a.Rules {
			if !slices.Contains(x.Rules, r) {
				add(fmt.Sprintf("%s.rules[%d]", f, j), "%q is not one of the experiment's rules", r)
			}
		}
	}
	if controls != 1 {
		add(field+".arms", "must have one arm named %q", ControlArm)
	}
	if total != 100 {
		add(field+".arms", "shares add up to %d, not 100", total)
	}
}

// checkName checks a name the ledger records: given, an identifier, and not
// in seen (which it joins); twice is what to say of a name used again.
func checkName(add func(field, format string, args ...any), field, name string, seen map[string]bool, twice string) {
	switch {
	case name == "":
		add(field, "is required")
	case textProblem(name, MaxNameBytes, Identifier) != "":
		add(field, "%s", textProblem(name, MaxNameBytes, Identifier))
	case seen[name]:
		add(field, "%q %s", name, twice)
	}
	seen[name] = true
}

// sameArms reports whether two versions of an experiment split members
// alike: once it has started, a version may end it (to) or describe it
// otherwise, never move members between arms or change what an arm is
// given.
func (x *Experiment) sameArms(y *Experiment) bool {
	return x.From.Equal(y.From) && slices.Equal(x.Rules, y.Rules) && slices.EqualFunc(x.Arms, y.Arms, func(a, b Arm) bool {
		// nil is all of the rules, an empty list none: not the same arm
		return a.Name == b.Name && a.Share == b.Share && (a.Rules == nil) == (b.Rules == nil) && slices.Equal(a.Rules, b.Rules)
	})
}

// ExperimentAssigned records the arm a member was put in, the first time
// a rule under test would have awarded them points. Reports read the
// ledger, not the hash: the arm a member was recorded in is theirs.
type ExperimentAssigned struct {
	FactMeta
	Experiment string
	Arm        string
	// Withheld are the rules under test the arm is not given: the member is
	// not given them for an event dated before this one either, whatever
	// program version decides it (a backdated event cannot take a control
	// member out of control).
	Withheld []string
}

func (ExperimentAssigned) FactType() FactType { return FactExperimentAssigned }
func (ExperimentAssigned) activity() bool     { return false }

// withholds reports whether the member was recorded, after at, in an arm
// not given the rule.
func (m *Member) withholds(rule string, at time.Time) bool {
	since, ok := m.withheld[rule]
	return ok && at.Before(since)
}

// Arm is the arm of the experiment the member was recorded in, if any.
func (m *Member) Arm(experiment string) (string, bool) {
	arm, ok := m.experiments[experiment]
	return arm, ok
}
