package domain_test

import (
	"reflect"
	"testing"

	"github.com/pointsledger/loyalty/domain"
)

func TestClockNeeds(t *testing.T) {
	p := testProgram()
	p.Earning.Expiry = domain.Expiry{Policy: domain.ExpireOnInactivity, Days: 365, NoticeDays: 14}
	p.Earning.Yearly = domain.Yearly{}
	p.TierPolicy.Downgrade, p.TierPolicy.GraceDays = domain.DowngradeOneTier, 30
	if got, want := p.ClockNeeds(), (domain.ClockNeeds{InactivityDays: 365, ReviewGraceDays: 30, NoticeDays: 14}); !reflect.DeepEqual(got, want) {
		t.Errorf("inactivity expiry, tiers reviewed: ClockNeeds = %+v, want %+v", got, want)
	}
	p.Earning.Expiry = domain.Expiry{Policy: domain.ExpireAfterDays, Days: 365}
	p.Earning.Yearly.BirthdayPoints = 100
	p.TierPolicy.Downgrade = domain.DowngradeNever
	if got, want := p.ClockNeeds(), (domain.ClockNeeds{ReviewGraceDays: -1, Yearly: true}); !reflect.DeepEqual(got, want) {
		t.Errorf("dated expiry, tiers kept, birthday bonus: ClockNeeds = %+v, want %+v", got, want)
	}
	lapse := func(id string, days int) domain.Rule {
		return domain.Rule{ID: id, Trigger: domain.TriggerInactivity, Scope: domain.ScopeEvent, InactiveDays: days, Award: domain.Award{Points: 1}}
	}
	p.Earning.Rules = []domain.Rule{lapse("a", 90), lapse("b", 30), lapse("c", 90), onPurchase("d", "", domain.Award{Points: 1})}
	if got := p.ClockNeeds().LapseDays; !reflect.DeepEqual(got, []int{30, 90}) {
		t.Errorf("rules on inactivity after 90, 30 and 90 days: LapseDays = %v, want [30 90]", got)
	}
}
