-- Members erased at their request (loyalty.member.erased.v1). The row is
-- written under the member's id and renamed with every other row of theirs
-- to erased:<token> by `loyalty member erase` (decision 032): afterwards
-- it holds no personal data, and says that, when and through which channel
-- the member was erased.
create table loyalty.erasures (
	member_id       text        primary key,
	channel         text,
	erased_at       timestamptz not null,
	source_event_id text        not null,
	ledger_seq      bigint      not null,
	fact_index      int         not null
);
comment on table loyalty.erasures is 'One row per member erased (MemberErased fact). A member_id that does not start with erased: is an erasure not yet completed by loyalty member erase (docs/privacy.md). Maintained by the "members" projection.';
comment on column loyalty.erasures.member_id is 'The member: erased:<token> once the erasure is completed, as in every other table.';
comment on column loyalty.erasures.channel is 'Where the request was taken (back-office, a privacy portal); null when not given.';
comment on column loyalty.erasures.erased_at is 'When the erasure was decided (event time).';
comment on column loyalty.erasures.source_event_id is 'The erasure request''s event id.';
comment on column loyalty.erasures.ledger_seq is 'Ledger message of the decision.';
comment on column loyalty.erasures.fact_index is 'Position of the fact within its ledger message.';

comment on column loyalty.projection_checkpoints.name is 'Projection name: members (members, points_ledger, tier_changes, redemptions, expiry_notices, reward_stock, adjustments, vouchers, erasures) or activity (purchases, refunds, visits, feedback, member_purchase_days, member_rfm).';
