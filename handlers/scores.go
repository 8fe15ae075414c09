package handlers

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/pointsledger/loyalty/domain"
	"github.com/pointsledger/loyalty/streams"
)

// ScoresSource is the source of the engine's loyalty.member.scored.v1 events.
const ScoresSource = "loyalty-scores"

// ScoredMember is a member's scores by a fit, to publish.
type ScoredMember struct {
	MemberID string
	Scores   domain.Scores
}

// PublishScores publishes a fit's scores as loyalty.member.scored.v1 input
// (decision 033), at the time the fit ran, so that rules see them in order
// with the member's own events and the same on every replay. It returns
// how many it published.
func (e *Engine) PublishScores(ctx context.Context, fittedAt time.Time, members []ScoredMember) (int, error) {
	if len(members) == 0 {
		return 0, nil
	}
	key, err := ReadFollowUpIDKey(ctx, e.js)
	if err != nil {
		return 0, err
	}
	pub := streams.NewPublisher(e.js, e.cfg.Logger)
	n := 0
	for _, m := range members {
		if strings.HasPrefix(m.MemberID, domain.ErasedMemberPrefix) || domain.IsReservedMemberID(m.MemberID) {
			continue
		}
		ev := domain.Event{ID: scoredEventID(key, m.MemberID, m.Scores.FitID, fittedAt), Type: domain.TypeMemberScored,
			Source: ScoresSource, MemberID: m.MemberID, OccurredAt: fittedAt.UTC(), Body: domain.Scored{Scores: m.Scores}}
		if err := pub.Publish(ctx, ev); err != nil {
			return n, err
		}
		n++
	}
	return n, pub.Wait(ctx)
}

// scoredEventID names a member's scores by one fit: a follow-up id (an
// HMAC under the deployment's key) of the fit and its time, so the same
// when the fit's scores are published again (one event), another for the
// next fit (whose ids restart after a database is made again, hence the
// time), and without the member's id, which the ledger would otherwise keep
// in the event id of every scores record after an erasure.
func scoredEventID(key []byte, memberID, fitID string, fittedAt time.Time) string {
	return FollowUpIDs(key, memberID, "fit/"+fitID+"/"+strconv.FormatInt(fittedAt.UnixNano(), 10))("scored-", 0)
}
