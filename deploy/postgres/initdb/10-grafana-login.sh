#!/bin/sh
# Run once by the postgres image when docker-compose.yml's database is
# created: a login for Grafana's analyst dashboard with the rights of
# loyalty_analyst only. The engine's migrations grant that role read access
# to the loyalty schema (migration 003), to tables added later too.
set -eu
psql -v ON_ERROR_STOP=1 -v pw="$GRAFANA_DB_PASSWORD" -v DBNAME="$POSTGRES_DB" --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<'SQL'
select 'create role loyalty_analyst nologin'
where not exists (select from pg_roles where rolname = 'loyalty_analyst')\gexec
create role grafana login password :'pw' in role loyalty_analyst connection limit 5;
-- A dashboard query is a reader's: short, read-only, and no scratch tables.
alter role grafana set statement_timeout = '30s';
alter role grafana set default_transaction_read_only = on;
revoke temporary on database :"DBNAME" from public;
SQL
