-- loyalty_analyst: the read-only role for people who query the read models.
-- It may read every table and view of the loyalty schema, now and later,
-- and change nothing. Give it to a login role: grant loyalty_analyst to alice;
--
-- Roles belong to the PostgreSQL cluster, not to one database, so the role
-- is created once and shared by every loyalty database of the cluster. An
-- engine role that may not create roles skips that, with a notice: create
-- the role as an administrator (create role loyalty_analyst nologin;) and the
-- grants follow, as the engine re-applies them at every start
-- (projections.GrantAnalyst).
do $$
begin
	if not exists (select from pg_roles where rolname = 'loyalty_analyst') then
		if exists (select from pg_roles where rolname = current_user and (rolcreaterole or rolsuper)) then
			begin
				create role loyalty_analyst nologin;
			exception when duplicate_object or unique_violation then
				null; -- another database's migration created it just now
			end;
		else
			raise notice 'role loyalty_analyst not created: % may not create roles', current_user;
		end if;
	end if;
end $$;
