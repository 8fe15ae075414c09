-- Finding members whose dated points are due (loyalty serve's clock) looks
-- up earned rows by their expiry date.
create index points_ledger_expires on loyalty.points_ledger (expires_at) where kind = 'earned' and expires_at is not null;
