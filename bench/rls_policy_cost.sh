#!/usr/bin/env bash
# What an RLS policy calling the api_keys accessors costs on a 100,000-row
# sequential scan, compared with the same scan without a policy.
#
#   bench/rls_policy_cost.sh             start a throwaway cluster (needs the
#                                        extension installed), measure, stop it
#   bench/rls_policy_cost.sh --existing  use the server of PGHOST/PGPORT/PGUSER
#                                        (a superuser); creates and drops a database
#
# Prints the times and the ratio; asserts nothing about them. Settings:
# BENCH_ROWS (100000), BENCH_RUNS (15, the median is reported).
source "$(dirname "$0")/../scripts/common.sh"

ROWS="${BENCH_ROWS:-100000}"
RUNS="${BENCH_RUNS:-15}"

DB="rls_bench_$$"
PSQL=("${CLIENT_BIN}/psql" -X -q -v ON_ERROR_STOP=1 -At)
DIR=""
cleanup() {
    "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS ${DB} WITH (FORCE)" >/dev/null 2>&1 || true
    if [ -n "${DIR}" ]; then cluster_stop "${DIR}"; rm -rf "${DIR}"; fi
}
trap cleanup EXIT

if [ "${1:-}" != "--existing" ]; then
    PORT="${API_KEYS_BENCH_PORT:-54361}"
    DIR="$(scratch_dir bench)"
    cluster_start "${DIR}" "${PORT}" "shared_preload_libraries = ''"
    export PGHOST="${DIR}/sock" PGPORT="${PORT}" PGUSER=postgres
fi
"${PSQL[@]}" -d postgres -c "CREATE DATABASE ${DB}"

"${PSQL[@]}" -d "${DB}" -v rows="${ROWS}" -v runs="${RUNS}" <<'SQL'
CREATE EXTENSION api_keys;
DO $$ BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'rls_bench_reader') THEN
        CREATE ROLE rls_bench_reader NOLOGIN;
    END IF;
END $$;
CREATE SCHEMA bench;
GRANT USAGE ON SCHEMA bench TO rls_bench_reader;

-- The same rows twice: half tenant_a, half tenant_b.
CREATE TABLE bench.plain (id bigint, tenant text, title text);
INSERT INTO bench.plain
    SELECT g, CASE WHEN g % 2 = 0 THEN 'tenant_a' ELSE 'tenant_b' END, 'document ' || g
      FROM generate_series(1, :rows) g;
-- The policy written with bare calls: both accessors run on every row.
CREATE TABLE bench.bare (LIKE bench.plain);
INSERT INTO bench.bare SELECT * FROM bench.plain;
ALTER TABLE bench.bare ENABLE ROW LEVEL SECURITY;
ALTER TABLE bench.bare FORCE ROW LEVEL SECURITY;
CREATE POLICY read_own ON bench.bare FOR SELECT
    USING (tenant = api_keys.apikey_current_owner()
           AND api_keys.apikey_has_scope('read:documents'));
-- The policy of examples/multi_tenant: each call in a scalar subquery, run
-- once per query (an InitPlan).
CREATE TABLE bench.wrapped (LIKE bench.plain);
INSERT INTO bench.wrapped SELECT * FROM bench.plain;
ALTER TABLE bench.wrapped ENABLE ROW LEVEL SECURITY;
ALTER TABLE bench.wrapped FORCE ROW LEVEL SECURITY;
CREATE POLICY read_own ON bench.wrapped FOR SELECT
    USING (tenant = (SELECT api_keys.apikey_current_owner())
           AND (SELECT api_keys.apikey_has_scope('read:documents')));
GRANT SELECT ON bench.plain, bench.bare, bench.wrapped TO rls_bench_reader;
VACUUM ANALYZE bench.plain;
VACUUM ANALYZE bench.bare;
VACUUM ANALYZE bench.wrapped;

-- Median wall time (ms) of `runs` executions of a query, in this session.
CREATE FUNCTION bench.median_ms(q text, runs int) RETURNS float8 LANGUAGE plpgsql AS $f$
DECLARE
    t0 timestamptz;
    times float8[] := '{}';
    n bigint;
BEGIN
    EXECUTE q INTO n;  -- warm up
    FOR i IN 1..runs LOOP
        t0 := clock_timestamp();
        EXECUTE q INTO n;
        times := times || extract(epoch FROM clock_timestamp() - t0)::float8 * 1000;
    END LOOP;
    RETURN (SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY t) FROM unnest(times) t);
END
$f$;

-- The key stays in a temporary table: it never appears in a statement's text.
CREATE TEMP TABLE bench_key AS
    SELECT key FROM api_keys.apikey_create('tenant_a', 'bench', '{read:documents}');

BEGIN;
SET LOCAL max_parallel_workers_per_gather = 0;  -- one process: comparable numbers
SELECT api_keys.apikey_authenticate((SELECT key FROM pg_temp.bench_key)) IS NOT NULL AS authenticated \gset
SET LOCAL ROLE rls_bench_reader;  -- the context survives SET ROLE
SELECT (SELECT count(*) FROM bench.bare) AS seen_bare, (SELECT count(*) FROM bench.wrapped) AS seen_wrapped \gset
SELECT bench.median_ms('SELECT count(*) FROM bench.plain', :runs) AS plain_ms,
       bench.median_ms($$SELECT count(*) FROM bench.plain WHERE tenant = 'tenant_a'$$, :runs) AS literal_ms,
       bench.median_ms('SELECT count(*) FROM bench.wrapped', :runs) AS wrapped_ms,
       bench.median_ms('SELECT count(*) FROM bench.bare', :runs) AS bare_ms \gset
COMMIT;

-- Both policies must let exactly tenant_a's half through (times are not asserted).
SELECT :seen_bare = :rows / 2 AND :seen_wrapped = :rows / 2 AS counts_ok \gset
\if :counts_ok
\else
    \echo the policies let :seen_bare and :seen_wrapped rows through, expected half of :rows
    DO $$ BEGIN RAISE EXCEPTION 'wrong row counts'; END $$;
\endif

\echo SELECT count(*) over :rows rows (each policy lets :seen_wrapped / :seen_bare through), median of :runs runs, no parallel workers
SELECT format('no policy:                                  %s ms', round(:plain_ms::numeric, 2));
SELECT format('no policy, WHERE tenant = ''tenant_a'':       %s ms', round(:literal_ms::numeric, 2));
SELECT format('policy, calls wrapped in (SELECT ...):      %s ms  = %sx no policy (examples/multi_tenant)',
              round(:wrapped_ms::numeric, 2), round((:wrapped_ms / :plain_ms)::numeric, 2));
SELECT format('policy, bare calls (evaluated per row):     %s ms  = %sx no policy, %s ns per row more than the literal filter',
              round(:bare_ms::numeric, 2), round((:bare_ms / :plain_ms)::numeric, 2),
              round(((:bare_ms - :literal_ms) * 1e6 / :rows)::numeric, 0));
SQL
