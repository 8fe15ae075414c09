-- Birthday and anniversary bonuses: the clock wakes members on their day.
alter table loyalty.members add column birthday text;
comment on column loyalty.members.birthday is 'Month and day of birth as MM-DD, when enrolment gave a birth date (the year is not kept); null otherwise.';
