package handlers

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/streams"
)

// DueMembers chooses whom a clock tick wakes: the read models know which
// members may have work due (projections.MembersDue).
type DueMembers interface {
	// Due lists the members who may have work due by now under needs,
	// since the last advance; advance is called once they are woken, so a
	// failed tick looks at the same members again.
	Due(ctx context.Context, now time.Time, needs domain.ClockNeeds) (ids []string, advance func(), err error)
}

// RunClock publishes, every interval until ctx ends, a clock event
// (loyalty.member.clock.v1) for each member due may have points to expire
// (or to become available, a notice, a tier review, a yearly bonus)
// without an event of their own: the engine then decides the work in order
// with the member's events, and a replay of the input decides it again the
// same way. The read models only choose whom to wake; a member woken for
// nothing gets a record with no facts. Only the leading engine (the owner
// of partition 0 when engines share) publishes.
func (e *Engine) RunClock(ctx context.Context, every time.Duration, due DueMembers) {
	e.WhileLeading(ctx, every, func(now time.Time) {
		now = now.Truncate(time.Second)
		n, err := e.clockTick(ctx, due, e.Programs().At(now), now)
		switch {
		case err != nil && ctx.Err() == nil:
			e.cfg.Logger.Warn("clock: members due for expiry not woken; trying at the next tick", "err", err)
		case n > 0:
			e.cfg.Logger.Info("clock: members woken for points due to expire or become available, a tier review, a yearly bonus or a rule on inactivity", "members", n, "at", now)
		}
	})
}

// WhileLeading calls work every interval until ctx ends, with the time in
// UTC, when this engine leads (it owns partition 0, or holds the lease): the
// work of one engine of several, such as the clock and the refits. A
// non-positive interval does nothing.
func (e *Engine) WhileLeading(ctx context.Context, every time.Duration, work func(now time.Time)) {
	if every <= 0 {
		return
	}
	onEveryTick(ctx, every, func() {
		if e.Leading() {
			work(time.Now().UTC())
		}
	})
}

// onEveryTick calls tick every interval, the first time one interval from
// now, until ctx ends. A tick that takes longer than the interval delays
// the next rather than stacking them up.
func onEveryTick(ctx context.Context, interval time.Duration, tick func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		tick()
	}
}

// clockTick publishes the clock events of one tick and returns how many.
func (e *Engine) clockTick(ctx context.Context, due DueMembers, p *domain.Program, now time.Time) (int, error) {
	ids, advance, err := due.Due(ctx, now, p.ClockNeeds())
	if err != nil {
		return 0, err
	}
	key, err := ReadFollowUpIDKey(ctx, e.js)
	if err != nil {
		return 0, err
	}
	pub := streams.NewPublisher(e.js, nil)
	for _, id := range ids {
		if strings.HasPrefix(id, domain.ErasedMemberPrefix) {
			continue // erased: nothing is decided for them again
		}
		ev := domain.Event{ID: clockEventID(key, id, now), Type: domain.TypeMemberClock,
			Source: "loyalty-clock", MemberID: id, OccurredAt: now, Body: domain.Clock{}}
		if err := pub.Publish(ctx, ev); err != nil {
			return 0, err
		}
	}
	if err := pub.Wait(ctx); err != nil {
		return 0, err
	}
	advance()
	return len(ids), nil
}

// clockEventID names a member's clock event at now: the same for one
// member and second (a tick published again is one event), and without
// the member's id, which the ledger and the tables would otherwise keep in
// every clock record's event id (an HMAC under the deployment's key, so no
// one can work the id back from it).
func clockEventID(key []byte, memberID string, now time.Time) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte("loyalty/clock/v1\x00" + memberID + "\x00" + strconv.FormatInt(now.Unix(), 10)))
	return "clock-k1-" + hex.EncodeToString(mac.Sum(nil)[:16])
}
