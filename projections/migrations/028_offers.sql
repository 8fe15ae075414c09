-- Offers program rules made members (award.offer, decision 033), which the
-- CRM sends on loyalty.out.offer_made.v1.
create table loyalty.offers (
	ledger_seq      bigint      not null,
	fact_index      int         not null,
	member_id       text        not null,
	offer           text        not null,
	rule            text        not null,
	made_at         timestamptz not null,
	program_version text        not null,
	source_event_id text        not null,
	primary key (ledger_seq, fact_index)
);
create index offers_offer on loyalty.offers (offer, made_at);
create index offers_member on loyalty.offers (member_id);

comment on table loyalty.offers is 'One row per offer a program rule made a member (loyalty.offer.made.v1): what the CRM was asked to send, and when. Maintained by the "members" projection.';
comment on column loyalty.offers.ledger_seq is 'Ledger message of the fact.';
comment on column loyalty.offers.fact_index is 'Position of the fact within its ledger message.';
comment on column loyalty.offers.member_id is 'The member.';
comment on column loyalty.offers.offer is 'The offer''s id (earning.rules[].award.offer).';
comment on column loyalty.offers.rule is 'The rule that made it.';
comment on column loyalty.offers.made_at is 'When (the time of the event that fired the rule).';
comment on column loyalty.offers.program_version is 'The program version that made it.';
comment on column loyalty.offers.source_event_id is 'The event that fired the rule.';

comment on column loyalty.projection_checkpoints.name is 'Projection name: members (members, points_ledger, tier_changes, redemptions, expiry_notices, reward_stock, adjustments, vouchers, erasures, member_scores, experiment_assignments, offers) or activity (purchases, refunds, visits, feedback, member_purchase_days, member_rfm).';
