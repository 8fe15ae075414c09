package projections

import (
	"context"
	"fmt"
	"math"
	"strconv"

	"github.com/jackc/pgx/v5"

	"github.com/pointsledger/loyalty/domain"
)

var scoresTable = newCopyTable("member_scores", "ledger_seq", "fact_index", "member_id", "fit_id", "p_alive_ppm", "risk_band",
	"predicted_value", "currency", "value_band", "segment", "scored_at", "source_event_id")

var assignmentsTable = newCopyTable("experiment_assignments", "experiment", "member_id", "arm", "assigned_at", "source_event_id",
	"ledger_seq", "fact_index")

// addAssignmentRow adds the experiment_assignments row of an
// ExperimentAssigned fact; other facts add none.
func addAssignmentRow(rows *copyData, seq int64, i int32, f domain.Fact) {
	a, ok := f.(domain.ExperimentAssigned)
	if !ok {
		return
	}
	rows.row()
	rows.text(a.Experiment)
	rows.text(a.MemberID)
	rows.text(a.Arm)
	rows.time(a.OccurredAt)
	rows.text(a.EventID)
	rows.int8(seq)
	rows.int4(i)
}

var offersTable = newCopyTable("offers", "ledger_seq", "fact_index", "member_id", "offer", "rule", "made_at", "program_version",
	"source_event_id")

// addOfferRow adds the offers row of an OfferMade fact; other facts add
// none.
func addOfferRow(rows *copyData, seq int64, i int32, f domain.Fact) {
	o, ok := f.(domain.OfferMade)
	if !ok {
		return
	}
	rows.row()
	rows.int8(seq)
	rows.int4(i)
	rows.text(o.MemberID)
	rows.text(o.Offer)
	rows.text(o.Rule)
	rows.time(o.OccurredAt)
	rows.text(o.ProgramVersion)
	rows.text(o.EventID)
}

// addScoreRow adds the member_scores row of a MemberScored fact; other
// facts add none.
func addScoreRow(rows *copyData, seq int64, i int32, f domain.Fact) {
	s, ok := f.(domain.MemberScored)
	if !ok {
		return
	}
	rows.row()
	rows.int8(seq)
	rows.int4(i)
	rows.text(s.MemberID)
	rows.text(s.FitID)
	rows.int4(int32(s.PAlivePPM))
	rows.text(s.RiskBand)
	rows.int8(s.PredictedValue.Minor)
	rows.text(s.PredictedValue.Currency)
	rows.text(s.ValueBand)
	rows.text(s.Segment)
	rows.time(s.OccurredAt)
	rows.text(s.EventID)
}

// MemberScores is one member's scores by a fit.
type MemberScores struct {
	MemberID string
	Scores   domain.Scores // PredictedValue.Currency is left to the caller: the programme's
}

// ScoresToPublish returns the scores of fit fitID for every member whose
// risk band, value band or segment differs from the latest scores the
// ledger recorded for them (member_scores), or who has none: what the
// engine publishes as loyalty.member.scored.v1 after the fit. Erased
// members are left out, and so are the scores of fits that made no bands
// (before migration 026).
func ScoresToPublish(ctx context.Context, q Querier, fitID int64) ([]MemberScores, error) {
	rows, err := q.Query(ctx, `
with latest as (
	select distinct on (member_id) member_id, risk_band, value_band, segment
	from loyalty.member_scores order by member_id, ledger_seq desc, fact_index desc)
select c.member_id, c.probability_alive, c.risk_band, l.predicted_value, l.value_band, c.segment
from loyalty.member_churn c join loyalty.member_ltv l using (member_id)
left join latest s using (member_id)
where c.fit_id = $1 and l.fit_id = $1 and c.segment is not null and l.value_band is not null
	and not exists (select 1 from loyalty.erasures e where e.member_id = c.member_id)
	and c.member_id not like 'erased:%'
	and (s.member_id is null or (s.risk_band, s.value_band, s.segment) is distinct from (c.risk_band, l.value_band, c.segment))
order by c.member_id`, fitID)
	if err != nil {
		return nil, fmt.Errorf("scores to publish: %w", err)
	}
	fit := strconv.FormatInt(fitID, 10)
	var out []MemberScores
	var m MemberScores
	var alive float64
	_, err = pgx.ForEachRow(rows, []any{&m.MemberID, &alive, &m.Scores.RiskBand, &m.Scores.PredictedValue.Minor,
		&m.Scores.ValueBand, &m.Scores.Segment}, func() error {
		m.Scores.FitID = fit
		m.Scores.PAlivePPM = min(max(int64(math.Round(alive*domain.PartsPerMillion)), 0), domain.PartsPerMillion)
		out = append(out, m)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scores to publish: %w", err)
	}
	return out, nil
}
