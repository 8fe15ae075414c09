-- Members spend points (loyalty.points.redeemed.v1) and some requests are
-- refused (loyalty.redemption.rejected.v1): points_ledger gets the kind
-- redeemed, members the points spent, and every decided request a row.
alter table loyalty.points_ledger drop constraint points_ledger_kind;
alter table loyalty.points_ledger drop constraint points_ledger_sign;
alter table loyalty.points_ledger add constraint points_ledger_kind check (kind in ('earned', 'reversed', 'expired', 'redeemed'));
alter table loyalty.points_ledger add constraint points_ledger_sign check ((kind = 'earned' and points >= 0) or (kind in ('reversed', 'expired', 'redeemed') and points <= 0));

comment on table loyalty.points_ledger is 'Append-only audit trail of every points movement, one row per PointsEarned, PointsReversed, PointsExpired or PointsRedeemed fact. Rows are never updated or deleted. Maintained by the "members" projection.';
comment on column loyalty.points_ledger.points is 'Signed points: positive when earned, negative when reversed, expired or redeemed.';
comment on column loyalty.points_ledger.kind is 'earned (PointsEarned fact), reversed (PointsReversed), expired (PointsExpired) or redeemed (PointsRedeemed).';
comment on column loyalty.points_ledger.rule is 'Program rule that decided the movement: base, tier_bonus, first_purchase_bonus, feedback_bonus, visit_bonus or a program rule''s id for earned points; refund for reversals; expiry or inactivity for expired points; redemption for redeemed points (the request is in redemptions, by source_event_id).';

alter table loyalty.members add column points_redeemed bigint not null default 0;
comment on column loyalty.members.points_redeemed is 'All points the member spent: the sum of their redemptions.points where status = accepted.';
comment on column loyalty.members.points_balance is 'Current points balance: earned minus reversed, expired and redeemed points. Always equals sum(points_ledger.points) of the member.';

create table loyalty.redemptions (
	member_id       text        not null,
	request_id      text        not null,
	status          text        not null,
	reward_id       text,
	quantity        bigint      not null,
	points          bigint      not null,
	reason          text,
	detail          text,
	channel         text,
	program_version text        not null,
	source_event_id text        not null,
	ledger_seq      bigint      not null,
	fact_index      int         not null,
	occurred_at     timestamptz not null,
	primary key (member_id, request_id),
	constraint redemptions_status check (status in ('accepted', 'rejected')),
	constraint redemptions_reason check ((status = 'accepted') = (reason is null))
);
create index redemptions_occurred on loyalty.redemptions (occurred_at);

comment on table loyalty.redemptions is 'One row per redemption request the engine decided (PointsRedeemed or RedemptionRejected fact); a request is decided once, so (member_id, request_id) is unique. Maintained by the "members" projection, in the same transaction as points_ledger.';
comment on column loyalty.redemptions.status is 'accepted (the points were spent) or rejected.';
comment on column loyalty.redemptions.reward_id is 'Catalogue reward redeemed; null for points spent without a reward.';
comment on column loyalty.redemptions.quantity is 'Units of the reward; 0 for points spent without a reward.';
comment on column loyalty.redemptions.points is 'Points spent (accepted); for a rejected request without a reward, the points it asked for, else 0.';
comment on column loyalty.redemptions.reason is 'Why a request was rejected: insufficient_points, member_blocked, member_closed, unknown_reward, tier_not_eligible, limit_reached, direct_points_not_allowed or below_minimum; null when accepted.';
comment on column loyalty.redemptions.detail is 'The rejection in words, e.g. "costs 240 points, 201 available"; null when accepted.';
comment on column loyalty.redemptions.occurred_at is 'Event time of the request.';
comment on column loyalty.redemptions.member_id is 'Member who asked.';
comment on column loyalty.redemptions.request_id is 'The caller''s request id, unique per member.';
comment on column loyalty.redemptions.channel is 'Where the request was made, as sent; null when not sent, and for rejected requests.';
comment on column loyalty.redemptions.program_version is 'Version of the loyalty program that decided the request.';
comment on column loyalty.redemptions.source_event_id is 'Id of the redemption request event.';
comment on column loyalty.redemptions.ledger_seq is 'LOYALTY_LEDGER stream sequence of the message holding the fact.';
comment on column loyalty.redemptions.fact_index is 'Position of the fact among the facts of its ledger message (0-based); for an accepted request, (ledger_seq, fact_index) is also its points_ledger row.';
