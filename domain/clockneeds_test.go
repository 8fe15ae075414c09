package domain_test

import (
	"testing"

	"github.com/pointsledger/loyalty/domain"
)

func TestClockNeeds(t *testing.T) {
	p := testProgram()
	p.Earning.Expiry = domain.Expiry{Policy: domain.ExpireOnInactivity, Days: 365, NoticeDays: 14}
	p.Earning.Yearly = domain.Yearly{}
	p.TierPolicy.Downgrade, p.TierPolicy.GraceDays = domain.DowngradeOneTier, 30
	if got, want := p.ClockNeeds(), (domain.ClockNeeds{InactivityDays: 365, ReviewGraceDays: 30, NoticeDays: 14}); got != want {
		t.Errorf("inactivity expiry, tiers reviewed: ClockNeeds = %+v, want %+v", got, want)
	}
	p.Earning.Expiry = domain.Expiry{Policy: domain.ExpireAfterDays, Days: 365}
	p.Earning.Yearly.BirthdayPoints = 100
	p.TierPolicy.Downgrade = domain.DowngradeNever
	if got, want := p.ClockNeeds(), (domain.ClockNeeds{ReviewGraceDays: -1, Yearly: true}); got != want {
		t.Errorf("dated expiry, tiers kept, birthday bonus: ClockNeeds = %+v, want %+v", got, want)
	}
}
