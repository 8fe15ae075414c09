package projections

import (
	"context"
	"testing"
	"time"

	"github.com/pointsledger/loyalty/domain"
)

// The program health views give what the facts under them add up to.
func TestProgramHealthViews(t *testing.T) {
	pool := migrated(t)
	ctx := context.Background()
	recs := newWorld(11, 80).records(4000)
	projectAll(t, pool, recs, 0, Members{}, Activity{})
	type month struct{ issued, redeemed, expired, reversed, transferred int64 }
	months := map[time.Time]*month{}
	type feedbackKey struct {
		month   time.Time
		channel string
	}
	type score struct{ submissions, scored, promoters, detractors int64 }
	scores := map[feedbackKey]*score{}
	for _, rec := range recs {
		for _, f := range rec.Facts {
			at := f.Meta().OccurredAt.UTC()
			key := time.Date(at.Year(), at.Month(), 1, 0, 0, 0, 0, time.UTC)
			if months[key] == nil {
				months[key] = &month{}
			}
			mo := months[key]
			switch f := f.(type) {
			case domain.PointsEarned:
				mo.issued += f.Points
			case domain.PointsRedeemed:
				mo.redeemed += f.Points
			case domain.PointsExpired:
				mo.expired += f.Points
			case domain.PointsReversed:
				mo.reversed += f.Points
			case domain.PointsCancelled:
				mo.reversed += f.Points
			case domain.PointsTransferred:
				mo.transferred += f.Points
			case domain.FeedbackRecorded:
				k := feedbackKey{key, f.Channel}
				if scores[k] == nil {
					scores[k] = &score{}
				}
				sc := scores[k]
				sc.submissions++
				if f.NPS != nil {
					sc.scored++
					switch {
					case *f.NPS >= 9:
						sc.promoters++
					case *f.NPS <= 6:
						sc.detractors++
					}
				}
			}
		}
	}
	rows, err := pool.Query(ctx, `select month, issued, redeemed, expired, reversed, transferred from loyalty.points_by_month`)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var at time.Time
		var got month
		if err := rows.Scan(&at, &got.issued, &got.redeemed, &got.expired, &got.reversed, &got.transferred); err != nil {
			t.Fatal(err)
		}
		n++
		if want := months[at.UTC()]; want == nil || *want != got {
			t.Errorf("points_by_month %s: %+v, the facts say %+v", at.Format("2006-01"), got, want)
		}
	}
	rows.Close()
	if n == 0 || n > len(months) {
		t.Errorf("points_by_month has %d months, the facts %d", n, len(months))
	}
	var want, got struct{ available, pending, negative, holders int64 }
	for _, m := range fold(t, recs).members {
		want.available += max(m.Balance, 0)
		want.negative += max(-m.Balance, 0)
		want.pending += m.Pending
		if m.Balance > 0 || m.Pending > 0 {
			want.holders++
		}
	}
	if err := pool.QueryRow(ctx, `select available, pending, negative, members_with_points from loyalty.points_liability`).Scan(
		&got.available, &got.pending, &got.negative, &got.holders); err != nil {
		t.Fatal(err)
	}
	if got != want || got.available == 0 {
		t.Errorf("points_liability %+v, the members add up to %+v", got, want)
	}
	// Each month and channel's NPS, as the view rounds it (to 0.1).
	rows, err = pool.Query(ctx, `select month, channel, submissions, nps_answers, nps::float8 from loyalty.feedback_by_month`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n = 0
	for rows.Next() {
		var at time.Time
		var channel string
		var submissions, scored int64
		var nps *float64
		if err := rows.Scan(&at, &channel, &submissions, &scored, &nps); err != nil {
			t.Fatal(err)
		}
		n++
		want := scores[feedbackKey{at.UTC(), channel}]
		if want == nil || want.submissions != submissions || want.scored != scored || (nps == nil) != (want.scored == 0) {
			t.Errorf("feedback_by_month %s %q: %d submissions, %d scored, NPS %v; the facts %+v", at.Format("2006-01"), channel, submissions, scored, nps, want)
			continue
		}
		if nps != nil {
			exact := 100 * float64(want.promoters-want.detractors) / float64(want.scored)
			if d := *nps - exact; d > 0.05+1e-9 || d < -0.05-1e-9 {
				t.Errorf("feedback_by_month %s %q: NPS %.1f, the facts %.3f", at.Format("2006-01"), channel, *nps, exact)
			}
		}
	}
	if n != len(scores) || n == 0 {
		t.Errorf("feedback_by_month has %d rows, the facts %d", n, len(scores))
	}
}
