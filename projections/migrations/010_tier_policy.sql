-- Tier policies (domain.TierPolicy): tiers are reviewed at the end of their
-- period, may be assigned as a floor, and the member's standing towards the
-- next tier is recorded (loyalty.tier.progress.v1).
alter table loyalty.members add column tier_expires_at timestamptz;
alter table loyalty.members add column tier_floor text;
alter table loyalty.members add column tier_value bigint not null default 0;
alter table loyalty.members add column next_tier text;
alter table loyalty.members add column next_tier_missing bigint not null default 0;
alter table loyalty.members add column projected_tier text;
alter table loyalty.members add column tier_progress_as_of timestamptz;
alter table loyalty.tier_changes add column expires_at timestamptz;

comment on column loyalty.members.tier_expires_at is 'When the tier is next reviewed under the program''s tier policy: kept if the member qualifies again, lowered if not (docs/program.md). Null when it never is (downgrade never, or the first tier).';
comment on column loyalty.members.tier_floor is 'Tier the loyalty team assigned (loyalty.member.tier_assigned.v1): reviews never take the member below it. Null when none was assigned.';
comment on column loyalty.members.tier_value is 'What counts towards tiers in the tier policy''s window (qualifying spend in minor units of the program currency, or points), as of tier_progress_as_of.';
comment on column loyalty.members.next_tier is 'The tier above the member''s; null in the highest.';
comment on column loyalty.members.next_tier_missing is 'What tier_value lacks to reach next_tier, as of tier_progress_as_of; 0 in the highest tier.';
comment on column loyalty.members.projected_tier is 'The tier the member would have after the next review if nothing more counted, as of tier_progress_as_of; the current tier when the tier is never reviewed.';
comment on column loyalty.members.tier_progress_as_of is 'Event time of the member''s event that last changed tier_value, next_tier, next_tier_missing or projected_tier; they are not aged between events.';
comment on column loyalty.tier_changes.expires_at is 'When the new tier is next reviewed; null when it never is.';
