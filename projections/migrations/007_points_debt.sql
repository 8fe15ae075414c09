-- Refunds the returns policy keeps from taking a balance below zero record
-- the shortfall as debt (loyalty.points.debt.v1 facts).
alter table loyalty.members add column points_debt bigint not null default 0;

comment on column loyalty.members.points_debt is 'Points refunds could not take back because the program''s returns policy keeps balances from going below zero (within_balance): the sum of the member''s debt facts. 0 under the default policy.';
