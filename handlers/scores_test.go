package handlers_test

import (
	"context"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/handlers"
	"github.com/pointsledger/loyalty/streams/natstest"
)

// Scores the engine publishes after a fit, and attributes upstream sends,
// reach the rules through the input: a rule on the risk band and an
// attribute pays the member they hold for and no other, a fit's scores
// published twice are recorded once, and the ledger's member state holds
// them as the engine decided with them.
func TestScoresAndAttributesReachTheRules(t *testing.T) {
	env := natstest.Start(t)
	p := testProgram()
	p.Earning.Rules = []domain.Rule{{ID: "winback", On: domain.TypePurchaseCompleted, Scope: domain.ScopeEvent,
		When: `member.risk_band == "high" && member.attributes.home_store == event.channel`, Award: domain.Award{Points: 300}}}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	engine, _, reg := newEngine(t, env.JS, handlers.EngineConfig{Programs: domain.OneVersion(p)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- engine.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	waitRunning(t, reg)

	members := []string{"lapsing", "loyal", "elsewhere"}
	for i, m := range members {
		publish(t, env.JS, purchase("first-"+m, m, "o-first-"+m, 1000, day0.Add(time.Duration(i)*time.Minute)))
	}
	waitForRecords(t, env.JS, 3)
	store := func(m, s string) domain.Event {
		return domain.Event{ID: "attr-" + m, Type: domain.TypeAttributesUpdated, Source: "crm", MemberID: m, OccurredAt: day0.Add(time.Hour),
			Body: domain.AttributesUpdate{Attributes: []domain.Attribute{{Name: "home_store", Kind: domain.AttributeString, String: s}}}}
	}
	publish(t, env.JS, store("lapsing", "web"), store("loyal", "web"), store("elsewhere", "store-9"))
	waitForRecords(t, env.JS, 6)

	scores := func(band string) domain.Scores {
		return domain.Scores{FitID: "7", PAlivePPM: 150_000, RiskBand: band, PredictedValue: domain.Money{Minor: 9000, Currency: "EUR"},
			ValueBand: "high", Segment: "cant_lose"}
	}
	fit := []handlers.ScoredMember{{MemberID: "lapsing", Scores: scores("high")}, {MemberID: "loyal", Scores: scores("low")},
		{MemberID: "elsewhere", Scores: scores("high")}, {MemberID: "erased:t01-00", Scores: scores("high")}}
	fittedAt := day0.Add(2 * time.Hour)
	for range 2 {
		n, err := engine.PublishScores(context.Background(), fittedAt, fit)
		if err != nil || n != 3 {
			t.Fatalf("PublishScores = %d, %v; want the 3 members, no erased id", n, err)
		}
	}
	waitForRecords(t, env.JS, 9)
	for i, m := range members {
		publish(t, env.JS, purchase("next-"+m, m, "o-next-"+m, 1000, day0.Add(3*time.Hour+time.Duration(i)*time.Minute)))
	}
	waitForRecords(t, env.JS, 12)

	state, records := foldLedger(t, env.JS)
	paid := map[string]int64{}
	scored := 0
	for _, r := range records {
		for _, f := range r.Facts {
			switch f := f.(type) {
			case domain.PointsEarned:
				if f.Rule == "winback" {
					paid[f.MemberID] += f.Points
				}
			case domain.MemberScored:
				scored++
				if r.EventType != domain.TypeMemberScored || !f.OccurredAt.Equal(fittedAt) {
					t.Errorf("scores recorded from %s at %s", r.EventType, f.OccurredAt)
				}
			}
		}
	}
	if len(paid) != 1 || paid["lapsing"] != 300 {
		t.Errorf("win-back points %v, want 300 for the lapsing member at their home store only", paid)
	}
	if scored != 3 {
		t.Errorf("%d scores recorded, want 3: a fit published twice is one event per member", scored)
	}
	if s := state["lapsing"].Scores; s != scores("high") {
		t.Errorf("the ledger's member holds scores %+v", s)
	}
}
