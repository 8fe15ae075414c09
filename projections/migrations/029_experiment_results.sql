-- What each experiment's arms did after they met it, against control
-- (decision 033): written by `loyalty serve` with every refit, and read
-- by dashboards; `loyalty experiment report` prints the same.
create table loyalty.experiment_results (
	experiment      text    not null,
	as_of           date    not null,
	measure         text    not null,
	arm             text    not null,
	members         int     not null,
	value           double precision,
	difference      double precision,
	difference_low  double precision,
	difference_high double precision,
	members_needed  int,
	min_effect      double precision not null,
	primary key (experiment, measure, arm),
	constraint experiment_results_measure check (measure in ('purchase_30d', 'purchase_90d', 'spend_90d', 'points_cost_90d', 'net_value_90d'))
);

comment on table loyalty.experiment_results is 'Per experiment, measure and arm: the measure over the arm''s members assigned long enough before as_of, and the arm less control with its 95% confidence interval. Replaced for an experiment by each refit of loyalty serve (docs/analytics.md, Experiments).';
comment on column loyalty.experiment_results.experiment is 'The experiment''s id.';
comment on column loyalty.experiment_results.as_of is 'Purchases and points up to the end of this UTC date count.';
comment on column loyalty.experiment_results.measure is '`purchase_30d` and `purchase_90d` (share of members who bought within 30 or 90 days after they met the experiment), `spend_90d` (qualifying spend in those 90 days, minor units of the program currency, before refunds), `points_cost_90d` (points earned in them times the cost per point) or `net_value_90d` (spend times the margin less the points cost).';
comment on column loyalty.experiment_results.arm is 'The arm; control is what the others are compared with.';
comment on column loyalty.experiment_results.members is 'Members of the arm assigned at least the measure''s days before as_of: those the measure is over.';
comment on column loyalty.experiment_results.value is 'The share (0 to 1) or the mean per member; null without members.';
comment on column loyalty.experiment_results.difference is 'The arm''s value less control''s; null for control.';
comment on column loyalty.experiment_results.difference_low is 'Lower end of the difference''s 95% confidence interval: Newcombe''s hybrid score interval for shares, Welch''s for means.';
comment on column loyalty.experiment_results.difference_high is 'Upper end of that interval.';
comment on column loyalty.experiment_results.members_needed is 'Members each arm would need to see a change of min_effect (relative to control''s value) with 80% power at 95%; null when control''s value is 0 or the change would need more than a billion members (not measurable).';
comment on column loyalty.experiment_results.min_effect is 'The relative change members_needed is for (0.1: 10%).';
