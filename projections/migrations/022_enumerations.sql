-- Every column that holds one of a fixed set of values now has a check
-- constraint listing them, and its comment names each value in backticks:
-- projections/enumerations_test.go holds the comments (and with them
-- docs/tables.md), the constraints and the engine's constants to one
-- another. Before, members.status, tier_changes.reason, redemptions.reason
-- and model_fits.reason had none, and the comments of two of them had fallen
-- behind the engine (no out_of_stock; tiers said never to be lowered).
alter table loyalty.members add constraint members_status check (status in ('active', 'blocked', 'closed'));
alter table loyalty.tier_changes add constraint tier_changes_reason
	check (reason in ('enrolment', 'qualifying_spend', 'qualifying_points', 'period_end', 'assigned'));
alter table loyalty.redemptions add constraint redemptions_reason_value
	check (reason in ('insufficient_points', 'member_blocked', 'member_closed', 'unknown_reward', 'tier_not_eligible',
		'limit_reached', 'direct_points_not_allowed', 'below_minimum', 'out_of_stock'));
alter table loyalty.model_fits add constraint model_fits_reason check (reason in ('command', 'schedule', 'rebuild'));

comment on table loyalty.points_ledger is 'Append-only audit trail of every points movement, one row per PointsEarned, PointsReversed, PointsExpired, PointsRedeemed, PointsHeld, HoldReturned, PointsCancelled, PointsTransferred or PointsReceived fact and two per PointsReleased (out of pending, into available). Rows are never updated or deleted. Maintained by the "members" projection.';
comment on table loyalty.tier_changes is 'Append-only history of tier moves, one row per TierChanged fact: up when a member qualifies, down at a tier review that finds too little (docs/program.md), or to the tier the loyalty team assigned. Maintained by the "members" projection; the latest row of a member matches members.tier and members.tier_since.';

comment on column loyalty.members.status is 'Account status: `active`, `blocked` or `closed`, as set by the member''s latest status change; blocked and closed members earn no points. active for members never set a status.';
comment on column loyalty.points_ledger.kind is '`earned` (PointsEarned fact), `reversed` (PointsReversed), `expired` (PointsExpired), `redeemed` (PointsRedeemed, or PointsHeld for a reward with a stock), `released` (PointsReleased: pending points became available), `cancelled` (PointsCancelled: a refund took back pending points), `transferred` (PointsTransferred: given to another member), `received` (PointsReceived: given by one) or `returned` (HoldReturned: a held redemption''s points back, the reward out of stock).';
comment on column loyalty.points_ledger.account is '`available` (the balance: members.points_balance is the sum of these rows) or `pending` (points earned that cannot be spent yet: members.points_pending is the sum of these rows).';
comment on column loyalty.tier_changes.reason is 'Why the tier changed: `enrolment` (first tier), `qualifying_spend` or `qualifying_points` (what counts towards tiers crossed a threshold), `period_end` (a tier review at the end of a period lowered the tier: the member no longer qualified) or `assigned` (the loyalty team assigned the tier, loyalty.member.tier_assigned.v1).';
comment on column loyalty.redemptions.status is '`accepted` (the points were spent), `rejected`, or `held` (a reward with a stock: the points are held until its stock answers, normally within milliseconds).';
comment on column loyalty.redemptions.reason is 'Why a request was rejected: `insufficient_points`, `member_blocked`, `member_closed`, `unknown_reward`, `tier_not_eligible`, `limit_reached`, `direct_points_not_allowed`, `below_minimum` or `out_of_stock` (a held request whose reward had no unit left; its points came back); null when accepted.';
comment on column loyalty.model_fits.time_unit is '`day` or `week`: the unit of recency, age and the rate parameter alpha.';
comment on column loyalty.model_fits.reason is '`command` (loyalty analytics fit), `schedule` (a refit by serve when the latest converged fit is older than its refit interval, or a retry after a failed fit) or `rebuild` (a refit by serve after loyalty projections rebuild rebuilt the activity projection).';
comment on column loyalty.model_fits.status is '`converged`, or `failed` (then error says why and no scores were written).';
comment on column loyalty.member_churn.risk_band is '`low` (probability_alive at least the low threshold, default 0.7), `high` (below the high threshold, default 0.3) or `medium`.';
comment on column loyalty.projection_checkpoints.name is 'Projection name: members (members, points_ledger, tier_changes, redemptions, expiry_notices, reward_stock) or activity (purchases, refunds, visits, feedback, member_purchase_days, member_rfm).';
