-- The back office corrects members' points (loyalty.points.adjusted.v1)
-- and cancels redemptions (loyalty.redemption.cancelled.v1), and a program
-- may have later earnings pay off refund debt (loyalty.points.debt_repaid.v1).
-- points_ledger gets the kind adjusted; a cancellation's points come back
-- as a returned row (rule redemption_cancelled) and a debt repayment is a
-- late reversal (kind reversed, rule debt_repayment).
alter table loyalty.points_ledger drop constraint points_ledger_kind;
alter table loyalty.points_ledger drop constraint points_ledger_sign;
alter table loyalty.points_ledger add constraint points_ledger_kind check (kind in ('earned', 'reversed', 'expired', 'redeemed', 'released', 'cancelled', 'transferred', 'received', 'returned', 'adjusted'));
alter table loyalty.points_ledger add constraint points_ledger_sign check (
	(kind = 'earned' and points >= 0)
	or (kind = 'released' and (account = 'available') = (points >= 0))
	or (kind in ('reversed', 'expired', 'redeemed', 'transferred') and account = 'available' and points <= 0)
	or (kind in ('received', 'returned') and account = 'available' and points >= 0)
	or (kind = 'adjusted' and account = 'available')
	or (kind = 'cancelled' and account = 'pending' and points <= 0));
comment on table loyalty.points_ledger is 'Append-only audit trail of every points movement, one row per PointsEarned, PointsReversed, DebtRepaid, PointsExpired, PointsRedeemed, PointsHeld, HoldReturned, RedemptionCancelled, PointsAdjusted, PointsCancelled, PointsTransferred or PointsReceived fact and two per PointsReleased (out of pending, into available). Rows are never updated or deleted. Maintained by the "members" projection.';
comment on column loyalty.points_ledger.kind is '`earned` (PointsEarned fact), `reversed` (PointsReversed, or DebtRepaid: later earnings paid off refund debt), `expired` (PointsExpired), `redeemed` (PointsRedeemed, or PointsHeld for a reward with a stock), `released` (PointsReleased: pending points became available), `cancelled` (PointsCancelled: a refund took back pending points), `transferred` (PointsTransferred: given to another member), `received` (PointsReceived: given by one), `returned` (HoldReturned: a held redemption''s points back, the reward out of stock; or RedemptionCancelled: the back office cancelled a redemption) or `adjusted` (PointsAdjusted: the back office credited or debited points by hand, see adjustments).';

alter table loyalty.redemptions drop constraint redemptions_status;
alter table loyalty.redemptions add constraint redemptions_status check (status in ('accepted', 'rejected', 'held', 'cancelled'));
alter table loyalty.redemptions add column cancelled_at timestamptz;
alter table loyalty.redemptions add column cancel_reason_code text;
alter table loyalty.redemptions add column cancelled_by text;
comment on column loyalty.redemptions.status is '`accepted` (the points were spent), `rejected`, `held` (a reward with a stock: the points are held until its stock answers, normally within milliseconds) or `cancelled` (accepted, then cancelled by the back office: the points came back).';
comment on column loyalty.redemptions.cancelled_at is 'When the back office cancelled the redemption (event time); null unless cancelled.';
comment on column loyalty.redemptions.cancel_reason_code is 'The cancellation''s reason code, as the back office gave it; null unless cancelled.';
comment on column loyalty.redemptions.cancelled_by is 'The operator who cancelled it (operator_id); null unless cancelled.';

create table loyalty.adjustments (
	member_id       text        not null,
	request_id      text        not null,
	status          text        not null,
	points          bigint      not null,
	reason_code     text,
	note            text,
	operator_id     text        not null,
	refused_reason  text,
	detail          text,
	program_version text        not null,
	source_event_id text        not null,
	ledger_seq      bigint      not null,
	fact_index      int         not null,
	occurred_at     timestamptz not null,
	primary key (member_id, request_id),
	constraint adjustments_status check (status in ('accepted', 'rejected')),
	constraint adjustments_refused_reason check (refused_reason in ('adjustments_not_allowed', 'adjustment_too_large', 'insufficient_points', 'member_closed')),
	constraint adjustments_refused check ((status = 'rejected') = (refused_reason is not null))
);
create index adjustments_occurred on loyalty.adjustments (occurred_at);
comment on table loyalty.adjustments is 'One row per manual adjustment the back office asked for (PointsAdjusted or AdjustmentRejected fact); a request is decided once, so (member_id, request_id) is unique. Accepted ones are also points_ledger rows of kind adjusted. Maintained by the "members" projection.';
comment on column loyalty.adjustments.member_id is 'The member.';
comment on column loyalty.adjustments.request_id is 'The back office''s id for the request.';
comment on column loyalty.adjustments.status is '`accepted` (the points moved) or `rejected` (the program''s limits refused it).';
comment on column loyalty.adjustments.points is 'Signed points asked for: positive a credit, negative a debit.';
comment on column loyalty.adjustments.reason_code is 'Why, as a code to report on (missing_points, goodwill, ...); null for a refusal.';
comment on column loyalty.adjustments.note is 'What the operator wrote; personal data, emptied when the member is erased. Null when none.';
comment on column loyalty.adjustments.operator_id is 'Who asked for it.';
comment on column loyalty.adjustments.refused_reason is 'Why it was refused: `adjustments_not_allowed` (the program sets no adjustments.max_points), `adjustment_too_large` (over adjustments.max_points), `insufficient_points` (a debit beyond the available points under a program that keeps balances at 0 or above) or `member_closed`; null when accepted.';
comment on column loyalty.adjustments.detail is 'The refusal in words; null when accepted.';
comment on column loyalty.adjustments.program_version is 'Program version whose limits decided it.';
comment on column loyalty.adjustments.source_event_id is 'The request''s event id.';
comment on column loyalty.adjustments.ledger_seq is 'Ledger message of the decision.';
comment on column loyalty.adjustments.fact_index is 'Position of the fact within its ledger message.';
comment on column loyalty.adjustments.occurred_at is 'When it was decided (event time).';

comment on table loyalty.reward_stock is 'Units of each reward with a stock given to members so far (StockTaken facts of the reward''s stock), less those cancelled redemptions gave back (StockReturned); the program''s redemption.rewards[].stock less units_taken is what is left. Maintained by the "members" projection.';
comment on column loyalty.projection_checkpoints.name is 'Projection name: members (members, points_ledger, tier_changes, redemptions, expiry_notices, reward_stock, adjustments) or activity (purchases, refunds, visits, feedback, member_purchase_days, member_rfm).';

-- Dated points also come from transfers received and the back office's
-- credits: the clock finds them by the same index.
drop index loyalty.points_ledger_expires;
create index points_ledger_expires on loyalty.points_ledger (expires_at) where kind in ('earned', 'released', 'received', 'adjusted') and expires_at is not null;
