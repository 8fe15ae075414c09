package domain_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/domain/analytics"
)

// truthRun simulates one win-back experiment with a known effect, in a
// closed loop with the engine's decisions: lapsed members enter the high
// risk band, the engine puts each in an arm and gives the treated the
// bonus, and a member the ledger shows was given the bonus buys again in
// the next 30 days with probability base+effect, any other with base. It
// returns the report's interval for the 30-day repurchase rate, treatment
// less control, computed from the ledger's facts as the report computes it
// from the tables.
func truthRun(t *testing.T, p *domain.Program, seed uint64, members int, base, effect float64) analytics.Interval {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	scoredAt := t0.Add(100 * day)
	var bought, met [2]int // by arm: 0 control, 1 treatment
	for i := range members {
		id := fmt.Sprintf("s%d-m%d", seed, i)
		m := domain.NewMember(id)
		apply := func(e domain.Event) []domain.Fact {
			e.MemberID = id
			facts, err := domain.Apply(m, e, p)
			if err != nil {
				t.Fatalf("%s: %v", e.ID, err)
			}
			return facts
		}
		apply(buy("b-0", t0, "o-0", eur(2500)))
		arm, bonus := -1, false
		for _, f := range apply(band("s-1", scoredAt, "high")) {
			switch f := f.(type) {
			case domain.ExperimentAssigned:
				arm = map[string]int{domain.ControlArm: 0, "treatment": 1}[f.Arm]
			case domain.PointsEarned:
				bonus = bonus || f.Rule == "winback"
			}
		}
		if arm < 0 {
			t.Fatalf("%s entered the band and met no experiment", id)
		}
		chance := base
		if bonus {
			chance += effect
		}
		met[arm]++
		if rng.Float64() < chance {
			at := scoredAt.Add(time.Duration(1+rng.IntN(29*24)) * time.Hour)
			for _, f := range apply(buy("b-1", at, "o-1", eur(3000))) {
				if _, ok := f.(domain.PurchaseRecorded); ok && f.Meta().OccurredAt.Sub(scoredAt) <= 30*day {
					bought[arm]++
				}
			}
		}
	}
	return analytics.ProportionDifference(bought[1], met[1], bought[0], met[0])
}

// Ground truth: over many simulated experiments the report's 95% interval
// holds the true uplift in about 95% of them and excludes zero when the
// bonus works; with no effect it holds zero in about 95%.
func TestExperimentReportFindsTheTrueUplift(t *testing.T) {
	p := testProgram()
	withRules(onChange("winback", `member.risk_band == "high"`, domain.Award{Points: 300}))(p)
	p.Experiments = []domain.Experiment{{ID: "winback", Rules: []string{"winback"}, From: t0,
		Arms: []domain.Arm{{Name: domain.ControlArm, Share: 50}, {Name: "treatment", Share: 50}}}}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	runs, members := 200, 2000
	if testing.Short() {
		runs = 40
	}
	const base, effect = 0.10, 0.06
	for _, c := range []struct {
		name   string
		effect float64
	}{{"a bonus that works", effect}, {"a bonus that does nothing", 0}} {
		covered, excludesZero := 0, 0
		var sum float64
		for run := range runs {
			i := truthRun(t, p, uint64(run)+1, members, base, c.effect)
			sum += i.Estimate
			if !i.Excludes(c.effect) {
				covered++
			}
			if i.Excludes(0) {
				excludesZero++
			}
		}
		coverage, power := float64(covered)/float64(runs), float64(excludesZero)/float64(runs)
		t.Logf("%s (uplift %.2f on %.2f, %d members, %d runs): mean estimate %.4f, the interval holds the truth in %.1f%% of runs and excludes zero in %.1f%%",
			c.name, c.effect, base, members, runs, sum/float64(runs), 100*coverage, 100*power)
		// 95% within three standard errors of a proportion over the runs
		if tolerance := 3 * 0.0154 * 200 / float64(runs); coverage < 0.95-tolerance || coverage > 0.95+tolerance {
			t.Errorf("%s: coverage %.3f, want about 0.95", c.name, coverage)
		}
		if c.effect > 0 && power < 0.85 {
			t.Errorf("%s: the interval excludes zero in %.3f of runs, want at least 0.85 (the power for these arms is about 0.98)", c.name, power)
		}
	}
}
