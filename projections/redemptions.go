package projections

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pointsledger/loyalty/domain"
)

// redemptionRecord is one row of loyalty.redemptions as a batch leaves it.
type redemptionRecord struct {
	member, request, status string
	reward                  *string
	quantity, points        int64
	reason, detail, channel *string
	version, event          string
	seq                     int64
	index                   int32
	at                      time.Time
	// statusOnly: a HoldRedeemed whose hold was in an earlier batch, so
	// only the status of the held row changes (and no row is added).
	statusOnly bool
}

// redemptionRecords gathers a batch's redemptions, one row per request: a
// held request decided in the same batch is one row with its final status,
// the same row as when the hold and its end are in different batches.
type redemptionRecords struct {
	order []string
	rows  map[string]*redemptionRecord
	// cancels are the batch's cancellations, applied to the rows once the
	// batch's own are written.
	cancels cancellations
}

// cancellations are the columns of setCancelled.
type cancellations struct {
	members, requests, reasons, operators []string
	at                                    []time.Time
}

func (r *redemptionRecords) add(f domain.Fact, seq int64, i int32) {
	meta := f.Meta()
	// row is the request's row of the batch, new unless the batch held it.
	row := func(request, status string) (x *redemptionRecord, isNew bool) {
		key := meta.MemberID + "\x00" + request
		if r.rows == nil {
			r.rows = map[string]*redemptionRecord{}
		}
		if x := r.rows[key]; x != nil {
			x.status = status
			return x, false
		}
		x = &redemptionRecord{member: meta.MemberID, request: request, status: status, event: meta.EventID, seq: seq, index: i, at: meta.OccurredAt}
		r.rows[key] = x
		r.order = append(r.order, key)
		return x, true
	}
	switch f := f.(type) {
	case domain.PointsRedeemed:
		x, _ := row(f.RequestID, "accepted")
		x.reward, x.quantity, x.points, x.channel, x.version = nullIfEmpty(f.RewardID), f.Quantity, f.Points, nullIfEmpty(f.Channel), f.ProgramVersion
	case domain.PointsHeld:
		x, _ := row(f.RequestID, "held")
		x.reward, x.quantity, x.points, x.channel, x.version = nullIfEmpty(f.RewardID), f.Quantity, f.Points, nullIfEmpty(f.Channel), f.ProgramVersion
	case domain.HoldRedeemed:
		// The hold's row, with its channel and version, becomes accepted.
		if x, isNew := row(f.RequestID, "accepted"); isNew { // held in an earlier batch
			x.statusOnly = true
		}
	case domain.RedemptionRejected:
		// A rejected request has no channel and the version that rejected
		// it (docs/tables.md), held first (out_of_stock) or not; a held one
		// keeps the hold's reward and quantity, and upsertRedemptions does
		// the same when the hold was in an earlier batch.
		x, _ := row(f.RequestID, "rejected")
		reason, detail := string(f.Reason), f.Detail
		x.reason, x.detail, x.points = &reason, &detail, f.Points
		if x.reward == nil {
			x.reward, x.quantity = nullIfEmpty(f.RewardID), f.Quantity
		}
		x.version, x.channel = f.ProgramVersion, nil
	case domain.RedemptionCancelled:
		c := &r.cancels
		c.members, c.requests, c.reasons = append(c.members, meta.MemberID), append(c.requests, f.RedemptionID), append(c.reasons, f.Reason)
		c.operators, c.at = append(c.operators, f.OperatorID), append(c.at, meta.OccurredAt)
	}
}

// setCancelled marks cancelled redemptions.
const setCancelled = `
update redemptions as r set status = 'cancelled', cancelled_at = c.at, cancel_reason_code = c.reason, cancelled_by = c.operator
from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) as c(member_id, request_id, reason, operator, at)
where r.member_id = c.member_id and r.request_id = c.request_id`

// upsertRedemptions writes the rows; a request already in the table (held
// by an earlier batch, so it has a reward) gets its final status, reason and
// detail, and when it was refused no points, no channel and the refusal's
// program version, as add merges a hold and its refusal in one batch.
const upsertRedemptions = `
insert into redemptions as r (member_id, request_id, status, reward_id, quantity, points, reason, detail, channel,
	program_version, source_event_id, ledger_seq, fact_index, occurred_at)
select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int8[], $6::int8[], $7::text[], $8::text[], $9::text[],
	$10::text[], $11::text[], $12::int8[], $13::int4[], $14::timestamptz[])
on conflict (member_id, request_id) do update set
	status = excluded.status,
	reason = excluded.reason,
	detail = excluded.detail,
	points = case when excluded.status = 'rejected' then 0 else r.points end,
	channel = case when excluded.status = 'rejected' then null else r.channel end,
	program_version = case when excluded.status = 'rejected' then excluded.program_version else r.program_version end`

// acceptHolds makes the rows of requests held by an earlier batch accepted
// (HoldRedeemed): the rest of the row is the hold's. A request with no row
// gets none.
const acceptHolds = `
update redemptions as r set status = 'accepted', reason = null, detail = null
from unnest($1::text[], $2::text[]) as h(member_id, request_id)
where r.member_id = h.member_id and r.request_id = h.request_id`

func (r *redemptionRecords) write(ctx context.Context, tx pgx.Tx) error {
	var heldMembers, heldRequests []string
	order := r.order[:0:0]
	for _, key := range r.order {
		if x := r.rows[key]; x.statusOnly {
			heldMembers, heldRequests = append(heldMembers, x.member), append(heldRequests, x.request)
		} else {
			order = append(order, key)
		}
	}
	if len(heldMembers) > 0 {
		if _, err := tx.Exec(ctx, acceptHolds, heldMembers, heldRequests); err != nil {
			return fmt.Errorf("accept %d held redemptions: %w", len(heldMembers), err)
		}
	}
	n := len(order)
	if n == 0 {
		return r.cancels.write(ctx, tx)
	}
	cols := struct {
		member, request, status, version, event []string
		reward, reason, detail, channel         []*string
		quantity, points, seq                   []int64
		index                                   []int32
		at                                      []time.Time
	}{}
	for _, key := range order {
		x := r.rows[key]
		cols.member, cols.request, cols.status = append(cols.member, x.member), append(cols.request, x.request), append(cols.status, x.status)
		cols.reward, cols.quantity, cols.points = append(cols.reward, x.reward), append(cols.quantity, x.quantity), append(cols.points, x.points)
		cols.reason, cols.detail, cols.channel = append(cols.reason, x.reason), append(cols.detail, x.detail), append(cols.channel, x.channel)
		cols.version, cols.event, cols.seq = append(cols.version, x.version), append(cols.event, x.event), append(cols.seq, x.seq)
		cols.index, cols.at = append(cols.index, x.index), append(cols.at, x.at)
	}
	if _, err := tx.Exec(ctx, upsertRedemptions, cols.member, cols.request, cols.status, cols.reward, cols.quantity, cols.points,
		cols.reason, cols.detail, cols.channel, cols.version, cols.event, cols.seq, cols.index, cols.at); err != nil {
		return fmt.Errorf("upsert %d redemptions: %w", n, err)
	}
	return r.cancels.write(ctx, tx)
}

func (c *cancellations) write(ctx context.Context, tx pgx.Tx) error {
	if len(c.members) == 0 {
		return nil
	}
	if _, err := tx.Exec(ctx, setCancelled, c.members, c.requests, c.reasons, c.operators, c.at); err != nil {
		return fmt.Errorf("cancel %d redemptions: %w", len(c.members), err)
	}
	return nil
}

// upsertStock adds the units a batch's stocks gave.
const upsertStock = `
insert into reward_stock as s (reward_id, units_taken, updated_at)
select reward, sum(units), max(at) from unnest($1::text[], $2::int8[], $3::timestamptz[]) as u(reward, units, at) group by reward
on conflict (reward_id) do update set units_taken = s.units_taken + excluded.units_taken,
	updated_at = greatest(s.updated_at, excluded.updated_at)`
