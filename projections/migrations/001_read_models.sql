-- Read models built from the LOYALTY_LEDGER stream by the projections package.
-- Every table and column carries a COMMENT: analysts read the documentation
-- in the database (\d+ in psql, or any schema browser) as well as in
-- docs/tables.md. Keep both in step when a column is added.
--
-- This file is a tern migration: it runs inside one transaction and is
-- evaluated as a Go text/template first, so it must not contain double braces.

comment on schema loyalty is 'Loyalty engine read models, projected from the LOYALTY_LEDGER stream. Written only by the projection runners; analysts read them. Money is bigint minor units plus an ISO 4217 currency; times are timestamptz (UTC, microsecond precision).';

comment on table loyalty.schema_version is 'Version of the loyalty schema: the number of the last migration applied (maintained by tern, see projections/migrations).';
comment on column loyalty.schema_version.version is 'Number of the last migration applied.';

------------------------------------------------------------------------------
-- members

create table loyalty.members (
	member_id              text        primary key,
	points_balance         bigint      not null default 0,
	lifetime_points        bigint      not null default 0,
	tier                   text,
	tier_since             timestamptz,
	qualifying_spend       bigint      not null default 0,
	qualifying_spend_as_of timestamptz,
	enrolled_at            timestamptz,
	first_activity_at      timestamptz not null,
	last_activity_at       timestamptz not null,
	purchases_count        bigint      not null default 0,
	last_ledger_seq        bigint      not null
);

comment on table loyalty.members is 'One row per member with any ledger fact: current balance, tier and activity summary. Maintained by the "members" projection, in the same transaction as points_ledger, so points_balance = sum(points_ledger.points) for the member at every commit.';
comment on column loyalty.members.member_id is 'Member id as upstream sent it (any UTF-8 text, up to 128 bytes).';
comment on column loyalty.members.points_balance is 'Current points balance: earned minus reversed points. Always equals sum(points_ledger.points) of the member.';
comment on column loyalty.members.lifetime_points is 'All points ever earned (points_ledger rows of kind earned); reversals do not reduce it.';
comment on column loyalty.members.tier is 'Current tier name (to_tier of the member''s latest tier_changes row); null before the first tier change.';
comment on column loyalty.members.tier_since is 'Event time of the tier change that set the current tier; null when tier is null.';
comment on column loyalty.members.qualifying_spend is 'Rolling tier-qualifying spend in the program currency''s minor units, as of the member''s latest purchase or refund (it is not aged between events). 0 before any purchase.';
comment on column loyalty.members.qualifying_spend_as_of is 'Event time of the purchase or refund that set qualifying_spend; null before any purchase or refund.';
comment on column loyalty.members.enrolled_at is 'Event time of the member''s enrolment; null for members who never enrolled explicitly (activity creates a member implicitly).';
comment on column loyalty.members.first_activity_at is 'Earliest event time of any of the member''s facts.';
comment on column loyalty.members.last_activity_at is 'Latest event time of any of the member''s facts.';
comment on column loyalty.members.purchases_count is 'Number of purchases recorded (refunds do not reduce it). Equals the member''s row count in purchases.';
comment on column loyalty.members.last_ledger_seq is 'LOYALTY_LEDGER stream sequence of the last record that changed this row.';

------------------------------------------------------------------------------
-- points_ledger

create table loyalty.points_ledger (
	ledger_seq      bigint      not null,
	fact_index      int         not null,
	member_id       text        not null,
	points          bigint      not null,
	kind            text        not null,
	rule            text        not null,
	source_event_id text        not null,
	order_id        text,
	program_version text        not null,
	occurred_at     timestamptz not null,
	primary key (ledger_seq, fact_index),
	constraint points_ledger_kind check (kind in ('earned', 'reversed')),
	constraint points_ledger_sign check ((kind = 'earned' and points >= 0) or (kind = 'reversed' and points <= 0))
);
create index points_ledger_member_occurred on loyalty.points_ledger (member_id, occurred_at);

comment on table loyalty.points_ledger is 'Append-only audit trail of every points movement, one row per PointsEarned or PointsReversed fact. Rows are never updated or deleted. Maintained by the "members" projection.';
comment on column loyalty.points_ledger.ledger_seq is 'LOYALTY_LEDGER stream sequence of the record holding the fact.';
comment on column loyalty.points_ledger.fact_index is 'Position of the fact within its ledger record (0-based). (ledger_seq, fact_index) identifies a fact.';
comment on column loyalty.points_ledger.member_id is 'Member whose balance moved.';
comment on column loyalty.points_ledger.points is 'Signed points: positive when earned, negative when reversed.';
comment on column loyalty.points_ledger.kind is 'earned (PointsEarned fact) or reversed (PointsReversed fact).';
comment on column loyalty.points_ledger.rule is 'Program rule that decided the movement: base, tier_bonus, first_purchase_bonus, feedback_bonus, visit_bonus, or refund for reversals.';
comment on column loyalty.points_ledger.source_event_id is 'Id of the upstream event that caused the movement.';
comment on column loyalty.points_ledger.order_id is 'Order the points were earned on or reversed for; null for points not tied to an order.';
comment on column loyalty.points_ledger.program_version is 'Version of the loyalty program whose rules decided the movement.';
comment on column loyalty.points_ledger.occurred_at is 'Event time of the source event.';

------------------------------------------------------------------------------
-- tier_changes

create table loyalty.tier_changes (
	ledger_seq      bigint      not null,
	fact_index      int         not null,
	member_id       text        not null,
	source_event_id text        not null,
	from_tier       text,
	to_tier         text        not null,
	reason          text        not null,
	occurred_at     timestamptz not null,
	primary key (ledger_seq, fact_index)
);
create index tier_changes_member_occurred on loyalty.tier_changes (member_id, occurred_at);

comment on table loyalty.tier_changes is 'Append-only history of tier moves, one row per TierChanged fact. Maintained by the "members" projection; the latest row of a member matches members.tier and members.tier_since.';
comment on column loyalty.tier_changes.ledger_seq is 'LOYALTY_LEDGER stream sequence of the record holding the fact.';
comment on column loyalty.tier_changes.fact_index is 'Position of the fact within its ledger record (0-based).';
comment on column loyalty.tier_changes.member_id is 'Member whose tier changed.';
comment on column loyalty.tier_changes.source_event_id is 'Id of the upstream event that caused the change.';
comment on column loyalty.tier_changes.from_tier is 'Tier before the change; null for the member''s first tier.';
comment on column loyalty.tier_changes.to_tier is 'Tier after the change.';
comment on column loyalty.tier_changes.reason is 'Why the tier changed: enrolment (first tier) or qualifying_spend (spend crossed a threshold).';
comment on column loyalty.tier_changes.occurred_at is 'Event time of the source event; becomes members.tier_since.';

------------------------------------------------------------------------------
-- purchases

create table loyalty.purchases (
	member_id        text        not null,
	order_id         text        not null,
	event_id         text        not null,
	ledger_seq       bigint      not null,
	occurred_at      timestamptz not null,
	amount           bigint      not null,
	currency         text        not null,
	channel          text,
	qualifying_spend bigint      not null,
	refunded_amount  bigint      not null default 0,
	lines            jsonb       not null default '[]',
	primary key (member_id, order_id)
);
create index purchases_occurred on loyalty.purchases (occurred_at);

comment on table loyalty.purchases is 'One row per recorded purchase (PurchaseRecorded fact). Inserted once by the "activity" projection; refunded_amount is the only column that changes later, as refunds arrive.';
comment on column loyalty.purchases.member_id is 'Member who purchased.';
comment on column loyalty.purchases.order_id is 'Upstream order id, unique per member.';
comment on column loyalty.purchases.event_id is 'Id of the upstream purchase event.';
comment on column loyalty.purchases.ledger_seq is 'LOYALTY_LEDGER stream sequence of the record holding the fact.';
comment on column loyalty.purchases.occurred_at is 'Event time of the purchase.';
comment on column loyalty.purchases.amount is 'Order total in minor units of currency (cents for EUR, yen for JPY).';
comment on column loyalty.purchases.currency is 'ISO 4217 code of amount and refunded_amount.';
comment on column loyalty.purchases.channel is 'Sales channel as upstream reported it (e.g. web, app, store id); null if not given.';
comment on column loyalty.purchases.qualifying_spend is 'What the purchase added to tier-qualifying spend, in the program currency''s minor units (converted from currency by the program''s rate).';
comment on column loyalty.purchases.refunded_amount is 'Sum of refunds.amount for this order, in minor units of currency. Equals the sum over refunds with the same member_id and order_id.';
comment on column loyalty.purchases.lines is 'Order lines as a JSON array of {sku, category, quantity, unit_price}; unit_price in minor units of currency.';

------------------------------------------------------------------------------
-- refunds

create table loyalty.refunds (
	event_id         text        primary key,
	ledger_seq       bigint      not null,
	member_id        text        not null,
	order_id         text        not null,
	occurred_at      timestamptz not null,
	amount           bigint      not null,
	currency         text        not null,
	qualifying_spend bigint      not null,
	lines            jsonb       not null default '[]'
);
create index refunds_member_order on loyalty.refunds (member_id, order_id);
create index refunds_occurred on loyalty.refunds (occurred_at);

comment on table loyalty.refunds is 'Append-only: one row per recorded refund (RefundRecorded fact). Maintained by the "activity" projection, which adds amount to purchases.refunded_amount in the same transaction.';
comment on column loyalty.refunds.event_id is 'Id of the upstream refund event.';
comment on column loyalty.refunds.ledger_seq is 'LOYALTY_LEDGER stream sequence of the record holding the fact.';
comment on column loyalty.refunds.member_id is 'Member refunded.';
comment on column loyalty.refunds.order_id is 'Order refunded (purchases.order_id of the same member).';
comment on column loyalty.refunds.occurred_at is 'Event time of the refund.';
comment on column loyalty.refunds.amount is 'Money returned, in minor units of currency (positive).';
comment on column loyalty.refunds.currency is 'ISO 4217 code of amount: the order''s currency.';
comment on column loyalty.refunds.qualifying_spend is 'Change to tier-qualifying spend, in the program currency''s minor units: negative (or 0), the refund''s share of the order''s qualifying spend.';
comment on column loyalty.refunds.lines is 'Returned lines as a JSON array of {sku, quantity}; empty when the refund gave an amount instead of lines.';

------------------------------------------------------------------------------
-- visits

create table loyalty.visits (
	event_id    text        primary key,
	ledger_seq  bigint      not null,
	member_id   text        not null,
	occurred_at timestamptz not null,
	channel     text
);
create index visits_member_occurred on loyalty.visits (member_id, occurred_at);

comment on table loyalty.visits is 'Append-only: one row per recorded store or site visit (VisitRecorded fact). Maintained by the "activity" projection.';
comment on column loyalty.visits.event_id is 'Id of the upstream visit event.';
comment on column loyalty.visits.ledger_seq is 'LOYALTY_LEDGER stream sequence of the record holding the fact.';
comment on column loyalty.visits.member_id is 'Member who visited.';
comment on column loyalty.visits.occurred_at is 'Event time of the visit.';
comment on column loyalty.visits.channel is 'Where the visit happened as upstream reported it (store id, web, app); null if not given.';

------------------------------------------------------------------------------
-- feedback

create table loyalty.feedback (
	event_id    text        primary key,
	ledger_seq  bigint      not null,
	member_id   text        not null,
	order_id    text,
	rating      smallint,
	nps         smallint,
	comment     text,
	channel     text,
	occurred_at timestamptz not null
);
create index feedback_member_occurred on loyalty.feedback (member_id, occurred_at);

comment on table loyalty.feedback is 'Append-only: one row per feedback submission as recorded (FeedbackRecorded fact). Maintained by the "activity" projection.';
comment on column loyalty.feedback.event_id is 'Id of the upstream feedback event.';
comment on column loyalty.feedback.ledger_seq is 'LOYALTY_LEDGER stream sequence of the record holding the fact.';
comment on column loyalty.feedback.member_id is 'Member who gave feedback.';
comment on column loyalty.feedback.order_id is 'Order the feedback is about; null for general feedback.';
comment on column loyalty.feedback.rating is 'Star rating 1 to 5; null if not given.';
comment on column loyalty.feedback.nps is 'Net Promoter Score answer 0 to 10; null if not given. At least one of rating and nps is set.';
comment on column loyalty.feedback.comment is 'Free-text comment as submitted; null if none. May contain personal data.';
comment on column loyalty.feedback.channel is 'Where the feedback was given as upstream reported it; null if not given.';
comment on column loyalty.feedback.occurred_at is 'Event time of the feedback.';

------------------------------------------------------------------------------
-- projection_checkpoints

create table loyalty.projection_checkpoints (
	name       text        primary key,
	ledger_seq bigint      not null default 0,
	updated_at timestamptz not null default now()
);

comment on table loyalty.projection_checkpoints is 'Position of each projection in the LOYALTY_LEDGER stream, updated in the same transaction as the rows the projection wrote, so a restart resumes exactly after the last applied record. Deleting a row makes its projection re-apply the whole ledger on top of the existing rows: truncate its tables first (rebuild).';
comment on column loyalty.projection_checkpoints.name is 'Projection name: members (members, points_ledger, tier_changes) or activity (purchases, refunds, visits, feedback).';
comment on column loyalty.projection_checkpoints.ledger_seq is 'LOYALTY_LEDGER stream sequence of the last record applied; 0 before the first.';
comment on column loyalty.projection_checkpoints.updated_at is 'Start time of the transaction (PostgreSQL now()) of the last batch that moved the checkpoint.';
