package projections

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pointsledger/loyalty/domain"
)

// Querier is what the read functions need from PostgreSQL. *pgxpool.Pool,
// *pgx.Conn and pgx.Tx satisfy it.
type Querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// ErrMemberNotFound is returned for a member with no row in loyalty.members:
// unknown, or not projected yet.
var ErrMemberNotFound = errors.New("member not found")

// MemberView is one member as the read models show it. Times are UTC.
type MemberView struct {
	MemberID string
	// Balance is the current points balance; it equals the sum of the
	// member's points ledger.
	Balance int64
	// Lifetime is every point ever earned; reversals do not reduce it.
	Lifetime int64
	// Redeemed is every point the member spent.
	Redeemed int64
	// Pending is points earned that cannot be spent yet.
	Pending int64
	// TierExpires is the tier's next review (zero: none); TierFloor the
	// assigned tier; the outlook is as of the member's last event.
	TierExpires   time.Time
	TierFloor     string
	TierValue     int64
	NextTier      string
	Missing       int64
	ProjectedTier string
	// Tier is "" and TierSince zero before the member's first tier.
	Tier      string
	TierSince time.Time
	// QualifyingSpend is in the program currency's minor units, as of the
	// member's latest purchase or refund.
	QualifyingSpend int64
	// EnrolledAt is zero for a member who never enrolled explicitly.
	EnrolledAt    time.Time
	FirstActivity time.Time
	LastActivity  time.Time
	Purchases     int64
	// Status is active, blocked or closed.
	Status string
	// LastLedgerSeq is the ledger record that last changed the member.
	LastLedgerSeq uint64
	// Recent holds the member's latest points movements, newest first.
	Recent []LedgerEntry
}

// LedgerEntry is one row of loyalty.points_ledger.
type LedgerEntry struct {
	LedgerSeq      uint64
	FactIndex      int
	Points         int64 // positive when earned, negative when reversed
	Kind           string
	Rule           string
	SourceEventID  string
	OrderID        string // "" when not tied to an order
	ProgramVersion string
	OccurredAt     time.Time
}

// Kinds of points_ledger rows.
const (
	KindEarned      = "earned"
	KindReversed    = "reversed"
	KindExpired     = "expired"
	KindRedeemed    = "redeemed"
	KindReleased    = "released"
	KindCancelled   = "cancelled"
	KindTransferred = "transferred"
	KindReceived    = "received"
	KindReturned    = "returned"
	KindAdjusted    = "adjusted"
)

// MemberSummary reads a member's balance, tier and activity and the recent
// latest points movements, newest by event time first (ties in ledger
// order). recent <= 0 reads no movements. Run it in a repeatable-read
// transaction if the balance and the movements must be from one instant;
// through a pool they are two statements.
//
// Errors: ErrMemberNotFound, or the PostgreSQL error.
func MemberSummary(ctx context.Context, q Querier, memberID string, recent int) (MemberView, error) {
	v := MemberView{MemberID: memberID}
	var tier *string
	var tierSince, enrolledAt, tierExpires *time.Time
	var lastSeq int64
	err := q.QueryRow(ctx, `select points_balance, lifetime_points, tier, tier_since, qualifying_spend, enrolled_at,
			first_activity_at, last_activity_at, purchases_count, last_ledger_seq, status, points_redeemed, points_pending,
			tier_expires_at, coalesce(tier_floor, ''), tier_value, coalesce(next_tier, ''), next_tier_missing, coalesce(projected_tier, '')
		from loyalty.members where member_id = $1`, memberID).Scan(
		&v.Balance, &v.Lifetime, &tier, &tierSince, &v.QualifyingSpend, &enrolledAt,
		&v.FirstActivity, &v.LastActivity, &v.Purchases, &lastSeq, &v.Status, &v.Redeemed, &v.Pending,
		&tierExpires, &v.TierFloor, &v.TierValue, &v.NextTier, &v.Missing, &v.ProjectedTier)
	if errors.Is(err, pgx.ErrNoRows) {
		return MemberView{}, fmt.Errorf("%w: %q", ErrMemberNotFound, memberID)
	}
	if err != nil {
		return MemberView{}, fmt.Errorf("read member %q: %w", memberID, err)
	}
	if tier != nil {
		v.Tier = *tier
	}
	v.TierSince, v.EnrolledAt, v.TierExpires = utcOrZero(tierSince), utcOrZero(enrolledAt), utcOrZero(tierExpires)
	v.FirstActivity, v.LastActivity = v.FirstActivity.UTC(), v.LastActivity.UTC()
	v.LastLedgerSeq = uint64(lastSeq)
	if recent <= 0 {
		return v, nil
	}
	rows, err := q.Query(ctx, `select ledger_seq, fact_index, points, kind, rule, source_event_id, coalesce(order_id, ''),
			program_version, occurred_at
		from loyalty.points_ledger where member_id = $1
		order by occurred_at desc, ledger_seq desc, fact_index desc
		limit $2`, memberID, recent)
	if err != nil {
		return MemberView{}, fmt.Errorf("read points ledger of %q: %w", memberID, err)
	}
	v.Recent, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (LedgerEntry, error) {
		var e LedgerEntry
		var seq int64
		err := row.Scan(&seq, &e.FactIndex, &e.Points, &e.Kind, &e.Rule, &e.SourceEventID, &e.OrderID, &e.ProgramVersion, &e.OccurredAt)
		e.LedgerSeq, e.OccurredAt = uint64(seq), e.OccurredAt.UTC()
		return e, err
	})
	if err != nil {
		return MemberView{}, fmt.Errorf("read points ledger of %q: %w", memberID, err)
	}
	return v, nil
}

func utcOrZero(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// ClockMark is how far the clock has looked: expiry dates up to At, and
// ledger rows up to Seq. The zero value has looked at nothing.
type ClockMark struct {
	At  time.Time
	Seq int64
}

// MembersDue answers the engine's clock from the read models (see
// handlers.DueMembers), remembering how far it has looked.
type MembersDue struct {
	q    Querier
	mark ClockMark // the first tick looks at all history
}

// NewMembersDue answers the clock from the read models q reads.
func NewMembersDue(q Querier) *MembersDue { return &MembersDue{q: q} }

// Due lists the members who may have work due by now under needs, since
// the last advance; advance moves the mark past them once they are woken.
func (m *MembersDue) Due(ctx context.Context, now time.Time, needs domain.ClockNeeds) (ids []string, advance func(), err error) {
	ids, next, err := DueForClock(ctx, m.q, now, m.mark, needs.InactivityDays, needs.ReviewGraceDays, needs.Yearly, needs.NoticeDays,
		needs.LapseDays...)
	if err != nil {
		return nil, nil, err
	}
	return ids, func() { m.mark = next }, nil
}

// DueForClock lists the members with points (available or pending) who may
// have points to expire, or pending points to become available, by now
// without an event of their own to notice it, among what changed since mark:
// points whose expiry date or end of pending came after mark.At, or such
// points new in the ledger since mark.Seq (a late upstream batch) whose date
// has already come; with inactivityDays above 0, members whose last activity
// became that old since mark.At. It returns them with the
// mark to pass next time. It only picks whom to send a clock event; the
// engine decides what expires, and a member picked for nothing gets a
// record with no facts.
//
// With reviewGraceDays 0 or more (the program reviews tiers), members whose
// tier review came due since mark.At (tier_expires_at plus the grace days),
// or changed since mark.Seq and is already due, are woken whatever their
// points.
//
// With yearly set (the program pays birthday or anniversary bonuses),
// members whose birthday or enrolment anniversary fell since mark.At.
//
// With noticeDays above 0, members whose dated points came within that many
// days of their expiry since mark.At.
//
// For each of lapseDays (the program's rules on inactivity), members whose
// last purchase day plus that many days ended since mark.At, or who changed
// since mark.Seq (a late batch) and have lapsed already, whatever their
// points: the end of the day, so that the wake comes after the moment the
// engine's exact time says they lapsed.
//
// Days are 24 hours, as the engine counts them in UTC, whatever the
// database session's time zone.
func DueForClock(ctx context.Context, q Querier, now time.Time, mark ClockMark, inactivityDays, reviewGraceDays int, yearly bool,
	noticeDays int, lapseDays ...int) ([]string, ClockMark, error) {
	next := ClockMark{At: now}
	if err := q.QueryRow(ctx, `select coalesce(max(ledger_seq), 0) from loyalty.points_ledger`).Scan(&next.Seq); err != nil {
		return nil, mark, fmt.Errorf("members due for the clock: %w", err)
	}
	since := mark.At
	if since.IsZero() {
		since = time.Unix(0, 0).UTC() // before any event the engine accepts
	}
	rows, err := q.Query(ctx, `
with due as (
	select member_id, false as tier from loyalty.points_ledger
	where kind in ('earned', 'released', 'received', 'adjusted') and expires_at is not null and expires_at > $2 and expires_at <= $1
	union
	select member_id, false from loyalty.points_ledger
	where ledger_seq > $3 and ledger_seq <= $4 and kind in ('earned', 'released', 'received', 'adjusted') and expires_at is not null and expires_at <= $1
	union
	select member_id, false from loyalty.points_ledger
	where account = 'pending' and kind = 'earned' and available_at > $2 and available_at <= $1
	union
	select member_id, false from loyalty.points_ledger
	where ledger_seq > $3 and ledger_seq <= $4 and account = 'pending' and kind = 'earned' and available_at <= $1
	union
	select member_id, false from loyalty.members
	where $5 > 0 and last_activity_at > $2 - make_interval(hours => 24 * $5::int) and last_activity_at <= $1 - make_interval(hours => 24 * $5::int)
	union
	select member_id, true from loyalty.members
	where $6 >= 0 and tier_expires_at + make_interval(hours => 24 * $6::int) <= $1
		and (tier_expires_at + make_interval(hours => 24 * $6::int) > $2 or (last_ledger_seq > $3 and last_ledger_seq <= $4))
	union
	select m.member_id, true from loyalty.members m
	join (select to_char(d, 'MM-DD') as day from generate_series(date_trunc('day', $2::timestamptz at time zone 'UTC') + interval '1 day',
		$1::timestamptz at time zone 'UTC', interval '1 day') d) days
		on days.day in (m.birthday, to_char(m.enrolled_at at time zone 'UTC', 'MM-DD'))
	where $7 and m.enrolled_at is not null and m.status = 'active'
	union
	select member_id, false from loyalty.points_ledger
	where $8 > 0 and kind in ('earned', 'released', 'received', 'adjusted') and expires_at is not null
		and expires_at - make_interval(hours => 24 * $8::int) > $2 and expires_at - make_interval(hours => 24 * $8::int) <= $1
	union
	select r.member_id, true from loyalty.member_rfm r cross join unnest($9::int[]) n(days)
	where ((r.last_purchase_on + n.days + 1)::timestamp at time zone 'UTC') > $2
		and ((r.last_purchase_on + n.days + 1)::timestamp at time zone 'UTC') <= $1
	union
	select r.member_id, true from loyalty.member_rfm r join loyalty.members m on m.member_id = r.member_id
		cross join unnest($9::int[]) n(days)
	where m.last_ledger_seq > $3 and m.last_ledger_seq <= $4
		and ((r.last_purchase_on + n.days + 1)::timestamp at time zone 'UTC') <= $1
)
select distinct d.member_id from due d join loyalty.members m on m.member_id = d.member_id
where d.tier or m.points_balance > 0 or m.points_pending > 0
order by 1`, now, since, mark.Seq, next.Seq, inactivityDays, reviewGraceDays, yearly, noticeDays, lapseDays)
	if err != nil {
		return nil, mark, fmt.Errorf("members due for the clock: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, mark, fmt.Errorf("members due for the clock: %w", err)
	}
	return ids, next, nil
}
