-- Program health for analysts: points per month, the liability now, and
-- feedback per month and channel. Views over the read models, so they are
-- always as current as the tables under them.
create view loyalty.points_by_month as
select date_trunc('month', occurred_at at time zone 'UTC')::date as month,
	coalesce(sum(points) filter (where kind = 'earned'), 0)::bigint as issued,
	coalesce(-sum(points) filter (where kind = 'redeemed'), 0)::bigint - coalesce(sum(points) filter (where kind = 'returned'), 0)::bigint as redeemed,
	coalesce(-sum(points) filter (where kind = 'expired'), 0)::bigint as expired,
	coalesce(-sum(points) filter (where kind in ('reversed', 'cancelled')), 0)::bigint as reversed,
	coalesce(-sum(points) filter (where kind = 'transferred'), 0)::bigint as transferred
from loyalty.points_ledger
group by 1;

comment on view loyalty.points_by_month is 'Points per calendar month (UTC) of the points_ledger rows'' occurred_at: issued, redeemed, expired, reversed and transferred. A view over points_ledger.';
comment on column loyalty.points_by_month.month is 'First day of the month.';
comment on column loyalty.points_by_month.issued is 'Points earned (every rule, pending ones included).';
comment on column loyalty.points_by_month.redeemed is 'Points redeemed, less those a reward out of stock gave back.';
comment on column loyalty.points_by_month.expired is 'Points that expired.';
comment on column loyalty.points_by_month.reversed is 'Points refunds took back, available or pending.';
comment on column loyalty.points_by_month.transferred is 'Points members gave to other members (the recipients'' received rows are not issued points).';

create view loyalty.points_liability as
select coalesce(sum(points_balance) filter (where points_balance > 0), 0)::bigint as available,
	coalesce(sum(points_pending), 0)::bigint as pending,
	coalesce(-sum(points_balance) filter (where points_balance < 0), 0)::bigint as negative,
	count(*) filter (where points_balance > 0 or points_pending > 0) as members_with_points
from loyalty.members;

comment on view loyalty.points_liability is 'The points the program owes now: what members may spend, what they will once pending points are released, and what negative balances owe back. Multiply by the cost of a point for the money. A view over members.';
comment on column loyalty.points_liability.available is 'Sum of positive balances.';
comment on column loyalty.points_liability.pending is 'Sum of pending points (they become available unless refunded).';
comment on column loyalty.points_liability.negative is 'Sum of negative balances, as a positive number: points refunds took back after they were spent.';
comment on column loyalty.points_liability.members_with_points is 'Members with available or pending points.';

create view loyalty.feedback_by_month as
select date_trunc('month', occurred_at at time zone 'UTC')::date as month,
	coalesce(channel, '') as channel,
	count(*) as submissions,
	avg(rating)::numeric(4, 2) as mean_rating,
	count(nps) as nps_answers,
	case when count(nps) > 0 then
		(100.0 * (count(*) filter (where nps >= 9) - count(*) filter (where nps <= 6)) / count(nps))::numeric(5, 1)
	end as nps
from loyalty.feedback
group by 1, 2;

comment on view loyalty.feedback_by_month is 'Feedback per calendar month (UTC) and channel (a store, web, app): submissions, mean rating and Net Promoter Score. A view over feedback.';
comment on column loyalty.feedback_by_month.month is 'First day of the month.';
comment on column loyalty.feedback_by_month.channel is 'Channel as sent; empty when none was.';
comment on column loyalty.feedback_by_month.submissions is 'Feedback submissions.';
comment on column loyalty.feedback_by_month.mean_rating is 'Mean of the ratings (1-5) given; null when none was.';
comment on column loyalty.feedback_by_month.nps_answers is 'Submissions with an NPS score.';
comment on column loyalty.feedback_by_month.nps is 'Net Promoter Score: the share of 9-10 scores less the share of 0-6 scores, in percent (-100 to 100); null without scores.';
