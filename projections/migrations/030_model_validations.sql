-- Holdout validation of the purchase models, and Pareto/NBD beside BG/NBD
-- (docs/analytics.md, "Validating the models"): written by `loyalty
-- analytics validate` and by serve's refits with --validate-holdout-days.
alter table loyalty.model_fits
	add column model                text not null default 'bgnbd',
	add column pnbd_r               double precision,
	add column pnbd_alpha           double precision,
	add column pnbd_s               double precision,
	add column pnbd_beta            double precision,
	add column pnbd_std_errors      double precision[],
	add column pnbd_log_likelihood  double precision,
	add column pnbd_optimiser       text,
	add column pnbd_iterations      int,
	add constraint model_fits_model check (model in ('bgnbd', 'pareto_nbd'));

comment on column loyalty.model_fits.model is 'The purchase model that scored the members: `bgnbd` or `pareto_nbd`. Its parameters are in the bgnbd_ or pnbd_ columns; the other model''s are null.';
comment on column loyalty.model_fits.pnbd_r is 'Pareto/NBD r: shape of the Gamma distribution of purchase rates across members.';
comment on column loyalty.model_fits.pnbd_alpha is 'Pareto/NBD alpha: scale of the purchase rates, in time units (mean rate r/alpha purchases per unit).';
comment on column loyalty.model_fits.pnbd_s is 'Pareto/NBD s: shape of the Gamma distribution of dropout rates across members.';
comment on column loyalty.model_fits.pnbd_beta is 'Pareto/NBD beta: scale of the dropout rates, in time units (mean rate s/beta).';
comment on column loyalty.model_fits.pnbd_std_errors is 'Standard errors of r, alpha, s and beta (in that order) from the observed information; null if it is singular.';
comment on column loyalty.model_fits.pnbd_log_likelihood is 'Pareto/NBD log-likelihood at the fit, summed over the members.';
comment on column loyalty.model_fits.pnbd_optimiser is 'How the optimiser (gonum BFGS) stopped.';
comment on column loyalty.model_fits.pnbd_iterations is 'Optimiser iterations over every starting point tried.';

alter table loyalty.member_churn add column model text not null default 'bgnbd';
comment on column loyalty.member_churn.model is 'The purchase model that gave probability_alive and the expected purchases: bgnbd or pareto_nbd (model_fits.model of fit_id).';

create table loyalty.model_validations (
	id                      bigint generated always as identity primary key,
	validated_at            timestamptz not null,
	calibration_end         date        not null,
	holdout_end             date        not null,
	time_unit               text        not null,
	reason                  text        not null,
	first_day               date,
	members                 int         not null,
	actual_repeat_purchases int         not null,
	best_model              text,
	duration                interval    not null,
	constraint model_validations_time_unit check (time_unit in ('day', 'week')),
	constraint model_validations_period check (holdout_end > calibration_end)
);

comment on table loyalty.model_validations is 'Every holdout validation: each model fitted to the purchases up to calibration_end, its predictions compared with what the members then did up to holdout_end.';
comment on column loyalty.model_validations.id is 'Validation id; the detail tables refer to it.';
comment on column loyalty.model_validations.validated_at is 'When the validation ran.';
comment on column loyalty.model_validations.calibration_end is 'The models were fitted to purchases up to the end of this UTC date.';
comment on column loyalty.model_validations.holdout_end is 'The holdout runs from the day after calibration_end to the end of this UTC date.';
comment on column loyalty.model_validations.time_unit is '`day` or `week`: the models'' time unit and the tracking''s period.';
comment on column loyalty.model_validations.reason is 'command (loyalty analytics validate) or schedule (serve, after a refit, with --validate-holdout-days).';
comment on column loyalty.model_validations.first_day is 'The first purchase day of the members validated: day 0 of the tracking. Null without members.';
comment on column loyalty.model_validations.members is 'Members whose first purchase was by calibration_end.';
comment on column loyalty.model_validations.actual_repeat_purchases is 'Their purchase days in the holdout.';
comment on column loyalty.model_validations.best_model is 'The model with the lowest root mean squared error per member over the holdout; null if none was fitted.';
comment on column loyalty.model_validations.duration is 'Wall time of reading, fitting every model and comparing.';

create table loyalty.model_validation_models (
	validation_id              bigint not null references loyalty.model_validations (id) on delete cascade,
	model                      text   not null,
	error                      text,
	parameters                 jsonb,
	log_likelihood             double precision,
	predicted_repeat_purchases double precision,
	mean_absolute_error        double precision,
	root_mean_squared_error    double precision,
	correlation                double precision,
	primary key (validation_id, model)
);

comment on table loyalty.model_validation_models is 'Per validation and model: the fit to the calibration period and how its predictions compared with the holdout.';
comment on column loyalty.model_validation_models.validation_id is 'The validation (model_validations.id).';
comment on column loyalty.model_validation_models.model is 'bgnbd or pareto_nbd.';
comment on column loyalty.model_validation_models.error is 'Why the model could not be fitted; then the other columns are null.';
comment on column loyalty.model_validation_models.parameters is 'The fitted parameters by name (r, alpha, a, b or r, alpha, s, beta).';
comment on column loyalty.model_validation_models.log_likelihood is 'Log-likelihood of the calibration histories at the fit.';
comment on column loyalty.model_validation_models.predicted_repeat_purchases is 'The members'' expected purchases in the holdout, summed: compare with model_validations.actual_repeat_purchases.';
comment on column loyalty.model_validation_models.mean_absolute_error is 'Mean over members of the absolute difference of predicted and actual holdout purchases.';
comment on column loyalty.model_validation_models.root_mean_squared_error is 'Square root of the mean over members of (predicted - actual)^2: the measure the best model is chosen by.';
comment on column loyalty.model_validation_models.correlation is 'Pearson correlation of predicted and actual holdout purchases per member; null when either does not vary.';

create table loyalty.model_validation_frequencies (
	validation_id bigint not null references loyalty.model_validations (id) on delete cascade,
	frequency     int    not null,
	series        text   not null,
	members       int    not null,
	mean_purchases double precision,
	primary key (validation_id, frequency, series)
);

comment on table loyalty.model_validation_frequencies is 'The conditional-expectation table: members grouped by their repeat purchases in the calibration period, and their mean purchases in the holdout, actual and as each model predicted.';
comment on column loyalty.model_validation_frequencies.validation_id is 'The validation (model_validations.id).';
comment on column loyalty.model_validation_frequencies.frequency is 'Repeat purchase days in the calibration period, 0 to 7; 7 counts 7 and more.';
comment on column loyalty.model_validation_frequencies.series is 'actual, or the model (bgnbd, pareto_nbd) that predicted mean_purchases.';
comment on column loyalty.model_validation_frequencies.members is 'Members with that frequency.';
comment on column loyalty.model_validation_frequencies.mean_purchases is 'Mean purchase days per member in the holdout; null without members or for a model not fitted.';

create table loyalty.model_validation_tracking (
	validation_id bigint  not null references loyalty.model_validations (id) on delete cascade,
	period_end    date    not null,
	series        text    not null,
	holdout       boolean not null,
	purchases     double precision,
	cumulative    double precision,
	primary key (validation_id, period_end, series)
);

comment on table loyalty.model_validation_tracking is 'The tracking of repeat purchases by the validated members, period by period (a day or a week, the last of calibration ending at calibration_end) from first_day to holdout_end: actual, and as each model expects of members who made their first purchase when they did.';
comment on column loyalty.model_validation_tracking.validation_id is 'The validation (model_validations.id).';
comment on column loyalty.model_validation_tracking.period_end is 'Last UTC day of the period.';
comment on column loyalty.model_validation_tracking.series is 'actual, or the model (bgnbd, pareto_nbd) that expected them.';
comment on column loyalty.model_validation_tracking.holdout is 'The period is in the holdout (after calibration_end).';
comment on column loyalty.model_validation_tracking.purchases is 'Repeat purchase days in the period; null for a model not fitted.';
comment on column loyalty.model_validation_tracking.cumulative is 'Repeat purchase days from first_day to period_end.';

comment on table loyalty.member_churn is 'Per member with a purchase up to the fit''s as-of date: the probability of being active by the fit''s purchase model (column model), expected purchases and a risk band. Replaced whole by each converged fit.';
comment on table loyalty.model_fits is 'Every fit of a purchase model (BG/NBD or Pareto/NBD: purchases and dropout) and the Gamma-Gamma model (spend per purchase), failed ones included. member_churn and member_ltv hold the scores of the latest converged fit. Written by `loyalty analytics fit` and by `loyalty serve` on its refit schedule.';
comment on column loyalty.member_churn.probability_alive is 'Probability the member is still active (has not dropped out) at as_of; under BG/NBD 1 without repeat purchases, as that model has it.';
