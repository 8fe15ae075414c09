package domain_test

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/pointsledger/loyalty/domain"
)

func winback(from, to time.Time, arms ...domain.Arm) domain.Experiment {
	if arms == nil {
		arms = []domain.Arm{{Name: domain.ControlArm, Share: 50}, {Name: "treatment", Share: 50}}
	}
	return domain.Experiment{ID: "winback", Rules: []string{"bonus"}, Arms: arms, From: from, To: to}
}

// withExperiment adds a rule "bonus" (30 points on purchases of at least
// EUR 10) and experiments on it to the test program.
func withExperiment(xs ...domain.Experiment) func(*domain.Program) {
	return func(p *domain.Program) {
		p.Earning.Rules = append(p.Earning.Rules, onPurchase("bonus", `event.amount >= 1000`, domain.Award{Points: 30}))
		p.Experiments = append(p.Experiments, xs...)
	}
}

// memberInArm finds a member id the experiment puts in arm.
func memberInArm(x domain.Experiment, arm string) string {
	for i := 0; ; i++ {
		if id := fmt.Sprintf("m-%d", i); x.ArmOf(id) == arm {
			return id
		}
	}
}

func as(member string, e domain.Event) domain.Event {
	e.MemberID = member
	return e
}

func TestExperimentArms(t *testing.T) {
	x := winback(t0, time.Time{})
	control, treated := memberInArm(x, domain.ControlArm), memberInArm(x, "treatment")
	history := func(m string) []domain.Event { return []domain.Event{as(m, enrolled()), as(m, firstBuy)} }
	assigned := func(m, id string, at time.Time, arm string, withheld ...string) domain.ExperimentAssigned {
		return domain.ExperimentAssigned{FactMeta: domain.FactMeta{MemberID: m, EventID: id, OccurredAt: at}, Experiment: "winback", Arm: arm,
			Withheld: withheld}
	}
	earnedBy := func(m string, f domain.PointsEarned) domain.PointsEarned { f.MemberID = m; return f }
	recorded := func(m string, f domain.PurchaseRecorded) domain.PurchaseRecorded { f.MemberID = m; return f }
	purchase := func(m string, at time.Time, amount int64) domain.Event {
		return as(m, buy("e-1", at, "o-1", eur(amount)))
	}
	cases := []ruleCase{
		{
			name: "a treated member is recorded in their arm and given the rule", program: withExperiment(x),
			given: history(treated), when: purchase(treated, t0, 2000),
			want: []domain.Fact{recorded(treated, purchased("e-1", t0, "o-1", eur(2000), 2000, 2100)),
				earnedBy(treated, earned("e-1", t0, 20, domain.RuleBase, "o-1")),
				assigned(treated, "e-1", t0, "treatment"), earnedBy(treated, earned("e-1", t0, 30, "bonus", "o-1"))},
		},
		{
			name: "a control member is recorded in control and not given it", program: withExperiment(x),
			given: history(control), when: purchase(control, t0, 2000),
			want: []domain.Fact{recorded(control, purchased("e-1", t0, "o-1", eur(2000), 2000, 2100)),
				earnedBy(control, earned("e-1", t0, 20, domain.RuleBase, "o-1")), assigned(control, "e-1", t0, domain.ControlArm, "bonus")},
		},
		{
			name: "once recorded, not again", program: withExperiment(x),
			given: append(history(control), as(control, buy("e-0b", t0, "o-0b", eur(1500)))), when: purchase(control, t0.Add(day), 2000),
			want: []domain.Fact{recorded(control, purchased("e-1", t0.Add(day), "o-1", eur(2000), 2000, 3600)),
				earnedBy(control, earned("e-1", t0.Add(day), 20, domain.RuleBase, "o-1"))},
		},
		{
			// Recorded in control on day 1; a purchase dated before the
			// experiment, arriving later, is not given the rule either.
			name: "a backdated event does not take a member out of control", program: withExperiment(x),
			given: append(history(control), as(control, buy("e-0b", t0.Add(day), "o-0b", eur(1500)))),
			when:  purchase(control, t0.Add(-time.Hour), 2000),
			want: []domain.Fact{recorded(control, purchased("e-1", t0.Add(-time.Hour), "o-1", eur(2000), 2000, 2100)),
				earnedBy(control, earned("e-1", t0.Add(-time.Hour), 20, domain.RuleBase, "o-1"))},
		},
		{
			name: "a member the rule would give nothing meets no experiment", program: withExperiment(x),
			given: history(control), when: purchase(control, t0, 500),
			want: []domain.Fact{recorded(control, purchased("e-1", t0, "o-1", eur(500), 500, 600)),
				earnedBy(control, earned("e-1", t0, 5, domain.RuleBase, "o-1"))},
		},
		{
			name: "before it starts, the rule is everyone's", program: withExperiment(winback(t0.Add(day), time.Time{})),
			given: history(control), when: purchase(control, t0, 2000),
			want: []domain.Fact{recorded(control, purchased("e-1", t0, "o-1", eur(2000), 2000, 2100)),
				earnedBy(control, earned("e-1", t0, 20, domain.RuleBase, "o-1")), earnedBy(control, earned("e-1", t0, 30, "bonus", "o-1"))},
		},
		{
			name: "and once it has ended", program: withExperiment(winback(t0.Add(-2*day), t0)),
			given: history(control), when: purchase(control, t0, 2000),
			want: []domain.Fact{recorded(control, purchased("e-1", t0, "o-1", eur(2000), 2000, 2100)),
				earnedBy(control, earned("e-1", t0, 20, domain.RuleBase, "o-1")), earnedBy(control, earned("e-1", t0, 30, "bonus", "o-1"))},
		},
		{
			// The skipped rule stops nothing: a lower rule pays control.
			name: "for control the rule is not in the program, its stop included",
			program: func(p *domain.Program) {
				withExperiment(x)(p)
				p.Earning.Rules[0].Stop, p.Earning.Rules[0].Priority = true, 1
				p.Earning.Rules = append(p.Earning.Rules, domain.Rule{ID: "fallback", On: domain.TypePurchaseCompleted,
					Scope: domain.ScopeEvent, Award: domain.Award{Points: 7}, Priority: 2})
			},
			given: history(control), when: purchase(control, t0, 2000),
			want: []domain.Fact{recorded(control, purchased("e-1", t0, "o-1", eur(2000), 2000, 2100)),
				earnedBy(control, earned("e-1", t0, 20, domain.RuleBase, "o-1")), assigned(control, "e-1", t0, domain.ControlArm, "bonus"),
				earnedBy(control, earned("e-1", t0, 7, "fallback", "o-1"))},
		},
	}
	// An arm given only some of the rules under test.
	threeArms := winback(t0, time.Time{}, domain.Arm{Name: domain.ControlArm, Share: 20}, domain.Arm{Name: "both", Share: 40},
		domain.Arm{Name: "extra-only", Share: 40, Rules: []string{"extra"}})
	threeArms.Rules = []string{"bonus", "extra"}
	partial := memberInArm(threeArms, "extra-only")
	cases = append(cases, ruleCase{
		name: "an arm given some of the rules gets those",
		program: func(p *domain.Program) {
			withExperiment(threeArms)(p)
			p.Earning.Rules = append(p.Earning.Rules, onPurchase("extra", "", domain.Award{Points: 4}))
		},
		given: history(partial), when: purchase(partial, t0, 2000),
		want: []domain.Fact{recorded(partial, purchased("e-1", t0, "o-1", eur(2000), 2000, 2100)),
			earnedBy(partial, earned("e-1", t0, 20, domain.RuleBase, "o-1")), assigned(partial, "e-1", t0, "extra-only", "bonus"),
			earnedBy(partial, earned("e-1", t0, 4, "extra", "o-1"))},
	})
	runRuleCases(t, cases)
}

// The arm is the documented hash of experiment and member, and the arms
// take their shares of many members.
func TestExperimentAssignmentIsTheDocumentedHash(t *testing.T) {
	x := winback(t0, time.Time{}, domain.Arm{Name: domain.ControlArm, Share: 10}, domain.Arm{Name: "a", Share: 45},
		domain.Arm{Name: "b", Share: 45})
	counts := map[string]int{}
	const n = 200_000
	for i := range n {
		id := fmt.Sprintf("member-%d", i)
		arm := x.ArmOf(id)
		counts[arm]++
		if i < 1000 {
			sum := sha256.Sum256([]byte("loyalty/experiment/v1\x00winback\x00" + id))
			bucket := binary.BigEndian.Uint64(sum[:8]) % 10_000
			want := map[bool]string{true: "control", false: map[bool]string{true: "a", false: "b"}[bucket < 5500]}[bucket < 1000]
			if arm != want {
				t.Fatalf("%s: arm %s, bucket %d says %s", id, arm, bucket, want)
			}
		}
	}
	for arm, share := range map[string]float64{"control": 0.10, "a": 0.45, "b": 0.45} {
		// within 5 standard errors of the share
		if got := float64(counts[arm]) / n; math.Abs(got-share) > 5*math.Sqrt(share*(1-share)/n) {
			t.Errorf("arm %s took %.4f of the members, want %.2f", arm, got, share)
		}
	}
	other := x
	other.ID = "winback-2"
	same := 0
	for i := range 1000 {
		id := fmt.Sprintf("member-%d", i)
		if x.ArmOf(id) == other.ArmOf(id) {
			same++
		}
	}
	if same > 600 { // independent: 0.1² + 2·0.45² ≈ 0.42
		t.Errorf("%d of 1000 members share their arm in two experiments: the experiment id does not enter the hash", same)
	}
}

func TestExperimentsAreValidated(t *testing.T) {
	arms := func(as ...domain.Arm) []domain.Arm { return as }
	tests := []struct {
		name  string
		x     domain.Experiment
		field string
	}{
		{"no id", domain.Experiment{Rules: []string{"bonus"}, Arms: winback(t0, time.Time{}).Arms, From: t0}, "experiments[0].id"},
		{"no rules", domain.Experiment{ID: "x", Arms: winback(t0, time.Time{}).Arms, From: t0}, "experiments[0].rules"},
		{"a rule the program lacks", domain.Experiment{ID: "x", Rules: []string{"nope"}, Arms: winback(t0, time.Time{}).Arms, From: t0}, "experiments[0].rules[0]"},
		{"no start", winback(time.Time{}, time.Time{}), "experiments[0].from"},
		{"an end before the start", winback(t0, t0.Add(-day)), "experiments[0].to"},
		{"one arm", winback(t0, time.Time{}, domain.Arm{Name: "control", Share: 100}), "experiments[0].arms"},
		{"no control", winback(t0, time.Time{}, domain.Arm{Name: "a", Share: 50}, domain.Arm{Name: "b", Share: 50}), "experiments[0].arms"},
		{"shares of 90", winback(t0, time.Time{}, arms(domain.Arm{Name: "control", Share: 40}, domain.Arm{Name: "b", Share: 50})...), "experiments[0].arms"},
		{"a share of 0", winback(t0, time.Time{}, domain.Arm{Name: "control", Share: 100}, domain.Arm{Name: "b", Share: 0}), "experiments[0].arms[0].share"},
		{"two arms of a name", winback(t0, time.Time{}, domain.Arm{Name: "control", Share: 50}, domain.Arm{Name: "control", Share: 50}), "experiments[0].arms[1].name"},
		{"rules given to control", winback(t0, time.Time{}, domain.Arm{Name: "control", Share: 50, Rules: []string{"bonus"}},
			domain.Arm{Name: "b", Share: 50}), "experiments[0].arms[0].rules"},
		{"an arm given a rule not under test", winback(t0, time.Time{}, domain.Arm{Name: "control", Share: 50},
			domain.Arm{Name: "b", Share: 50, Rules: []string{"base"}}), "experiments[0].arms[1].rules[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := testProgram()
			withExperiment(tt.x)(p)
			err := p.Validate()
			var fe *domain.FieldError
			found := false
			for _, e := range unjoin(err) {
				if errors.As(e, &fe) && fe.Field == tt.field {
					found = true
				}
			}
			if !found {
				t.Errorf("Validate = %v, want a problem of %s", err, tt.field)
			}
		})
	}
	p := testProgram()
	withExperiment(winback(t0, time.Time{}), winback(t0, time.Time{}))(p)
	if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "experiments[1].id") || !strings.Contains(err.Error(), "experiments[1].rules[0]") {
		t.Errorf("two experiments of one id and rule: %v", err)
	}
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

// A later version may end an experiment, not move members between arms.
func TestVersionsKeepAnExperimentsArms(t *testing.T) {
	version := func(name string, from time.Time, x domain.Experiment) *domain.Program {
		p := testProgram()
		p.Version, p.EffectiveFrom = name, from
		withExperiment(x)(p)
		if err := p.Validate(); err != nil {
			t.Fatal(err)
		}
		return p
	}
	x := winback(t0, time.Time{})
	ended := winback(t0, t0.Add(30*day))
	if _, err := domain.NewPrograms(version("v1", time.Time{}, x), version("v2", t0.Add(10*day), ended)); err != nil {
		t.Errorf("a version ending the experiment: %v", err)
	}
	moved := winback(t0, time.Time{}, domain.Arm{Name: domain.ControlArm, Share: 20}, domain.Arm{Name: "treatment", Share: 80})
	later := winback(t0.Add(day), time.Time{})
	placebo := winback(t0, time.Time{}, domain.Arm{Name: domain.ControlArm, Share: 50}, domain.Arm{Name: "treatment", Share: 50, Rules: []string{}})
	for _, changed := range []domain.Experiment{moved, later, placebo} {
		_, err := domain.NewPrograms(version("v1", time.Time{}, x), version("v2", t0.Add(10*day), changed))
		if err == nil || !strings.Contains(err.Error(), `version "v2" changes experiment "winback"`) {
			t.Errorf("a version changing the arms to %+v: %v", changed.Arms, err)
		}
		// and the other way round: a placebo arm (given none) made a treated one (given all)
		_, err = domain.NewPrograms(version("v1", time.Time{}, changed), version("v2", t0.Add(10*day), x))
		if err == nil {
			t.Errorf("a version changing the arms from %+v to %+v: accepted", changed.Arms, x.Arms)
		}
	}
}

// Whatever the program's version history (an experiment starting, ending,
// its rule changing or leaving, other rules around it) and however late
// events arrive, no member is ever given a rule under test while its
// experiment runs unless their recorded arm is given it, nor, once
// recorded in control, for an event dated before that; every member
// meeting the experiment is recorded once, in the arm of the hash.
func TestControlNeverReceivesARuleUnderTest(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		x := winback(t0.Add(time.Duration(rapid.IntRange(0, 30).Draw(t, "start_days"))*day), time.Time{},
			domain.Arm{Name: domain.ControlArm, Share: rapid.IntRange(1, 60).Draw(t, "control_share")})
		x.Arms = append(x.Arms, domain.Arm{Name: "treatment", Share: 100 - x.Arms[0].Share})
		if rapid.Bool().Draw(t, "ends") {
			x.To = x.From.Add(time.Duration(rapid.IntRange(1, 200).Draw(t, "run_days")) * day)
		}
		var versions []*domain.Program
		for v := range rapid.IntRange(1, 4).Draw(t, "versions") {
			p := testProgram()
			p.Version = fmt.Sprintf("v%d", v)
			if v > 0 {
				p.EffectiveFrom = t0.Add(time.Duration(v*rapid.IntRange(1, 60).Draw(t, "version_gap")) * day)
			}
			when := rapid.SampledFrom([]string{"", `event.amount >= 1000`, `member.purchases > 1`, `event.weekday == "Mon"`}).Draw(t, "when")
			p.Earning.Rules = []domain.Rule{
				onPurchase("bonus", when, domain.Award{Points: rapid.Int64Range(1, 500).Draw(t, "bonus")}),
				onPurchase("other", "", domain.Award{Points: 3}),
			}
			p.Earning.Rules[0].Stop = rapid.Bool().Draw(t, "stop")
			p.Earning.Rules[0].Limit = rapid.SampledFrom([]domain.Limit{{}, {Points: 100, Per: domain.PerWeek}}).Draw(t, "limit")
			if rapid.IntRange(0, 3).Draw(t, "keeps_experiment") > 0 {
				p.Experiments = []domain.Experiment{x}
			}
			if err := p.Validate(); err != nil {
				t.Fatal(err)
			}
			versions = append(versions, p)
		}
		// Versions taking effect in order; their dates stay increasing.
		for i := 1; i < len(versions); i++ {
			if !versions[i].EffectiveFrom.After(versions[i-1].EffectiveFrom) {
				versions[i].EffectiveFrom = versions[i-1].EffectiveFrom.Add(day)
			}
		}
		programs, err := domain.NewPrograms(versions...)
		if err != nil {
			t.Fatal(err)
		}
		members := []string{memberInArm(x, domain.ControlArm), memberInArm(x, "treatment"), "m-a", "m-b", "m-c"}
		for _, m := range members {
			state := domain.NewMember(m)
			recorded, recordedAt := "", time.Time{}
			for i, e := range drawEvents(t) {
				e.MemberID, e.ID = m, fmt.Sprintf("%s-%d", m, i)
				if rapid.IntRange(0, 3).Draw(t, "backdated") == 0 { // a late event, dated before the experiment began
					e.OccurredAt = x.From.Add(-time.Duration(rapid.IntRange(1, 40).Draw(t, "days_back")) * day)
				}
				p := programs.At(e.OccurredAt)
				facts, err := domain.Apply(state, e, p)
				if err != nil {
					continue
				}
				for _, f := range facts {
					switch f := f.(type) {
					case domain.ExperimentAssigned:
						if recorded != "" || f.Arm != x.ArmOf(m) {
							t.Fatalf("%s recorded in %s (already %q, hash %s)", m, f.Arm, recorded, x.ArmOf(m))
						}
						recorded, recordedAt = f.Arm, f.OccurredAt
					case domain.PointsEarned:
						running := slices.ContainsFunc(p.Experiments, func(y domain.Experiment) bool {
							return y.ID == x.ID && !f.OccurredAt.Before(y.From) && (y.To.IsZero() || f.OccurredAt.Before(y.To))
						})
						heldOut := recorded == domain.ControlArm && f.OccurredAt.Before(recordedAt)
						if f.Rule == "bonus" && (running && recorded != "treatment" || heldOut) {
							t.Fatalf("%s (arm %q) given %d points of the rule under test at %s, version %s", m, recorded, f.Points, f.OccurredAt, p.Version)
						}
					}
				}
			}
			if arm, ok := state.Arm(x.ID); ok != (recorded != "") || arm != recorded {
				t.Fatalf("%s: state says arm %q (%v), the facts %q", m, arm, ok, recorded)
			}
		}
	})
}
