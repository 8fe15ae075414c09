-- Experiments (decision 033): the arm each member was recorded in, the
-- first time a rule under test would have given them points.
create table loyalty.experiment_assignments (
	experiment      text        not null,
	member_id       text        not null,
	arm             text        not null,
	assigned_at     timestamptz not null,
	source_event_id text        not null,
	ledger_seq      bigint      not null,
	fact_index      int         not null,
	primary key (experiment, member_id)
);
create index experiment_assignments_arm on loyalty.experiment_assignments (experiment, arm, assigned_at);

comment on table loyalty.experiment_assignments is 'One row per member and experiment they met: the arm the ledger recorded them in (loyalty.experiment.assigned.v1), which is theirs for the experiment''s life. The arms are compared by loyalty experiment report. Maintained by the "members" projection.';
comment on column loyalty.experiment_assignments.experiment is 'The experiment''s id (experiments[].id of the program file).';
comment on column loyalty.experiment_assignments.member_id is 'The member.';
comment on column loyalty.experiment_assignments.arm is 'The arm: control, or another of the experiment''s arms.';
comment on column loyalty.experiment_assignments.assigned_at is 'When the member met the experiment: the time of the event a rule under test would have given points for.';
comment on column loyalty.experiment_assignments.source_event_id is 'That event''s id.';
comment on column loyalty.experiment_assignments.ledger_seq is 'Ledger message of the fact.';
comment on column loyalty.experiment_assignments.fact_index is 'Position of the fact within its ledger message.';

comment on column loyalty.projection_checkpoints.name is 'Projection name: members (members, points_ledger, tier_changes, redemptions, expiry_notices, reward_stock, adjustments, vouchers, erasures, member_scores, experiment_assignments) or activity (purchases, refunds, visits, feedback, member_purchase_days, member_rfm).';
