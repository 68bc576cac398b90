#!/usr/bin/env bash
# Usage counts on a cluster of their own (the library preloaded, counting for
# database usage_a): verifications are counted per key, day and code without
# a write by the verifying session (READ ONLY transactions too), moved into
# api_keys.usage by the background worker, readable with apikey_usage by
# administrators only; a database not listed is not counted; a clean restart
# keeps the counts that were not flushed yet.
source "$(dirname "$0")/../../scripts/common.sh"
PY="${PY:-$(python_with_psycopg)}"
free_port() {
    "${PY}" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
DIR="$(scratch_dir usage)"
cleanup() {
    cluster_stop "${DIR}"
    [ "${KEEP_TEST_DIR:-0}" = 1 ] || rm -rf "${DIR}"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; tail -20 "${DIR}/server.log" >&2; exit 1; }
ok() { echo "ok: $*"; }
q() { "${CLIENT_BIN}/psql" -X -q -At -v ON_ERROR_STOP=1 "$@"; }

PORT="$(free_port)"
cluster_start "${DIR}" "${PORT}" "shared_preload_libraries = 'api_keys'
api_keys.usage_databases = 'usage_a'
api_keys.usage_flush_interval = 1"
export PGHOST="${DIR}/sock" PGPORT="${PORT}" PGUSER=postgres PGDATABASE=usage_a
q -d postgres -c "CREATE DATABASE usage_a" -c "CREATE DATABASE usage_b"
q -c "CREATE EXTENSION api_keys"
q -d usage_b -c "CREATE EXTENSION api_keys"

# wait_for SQL WANT: poll until the query answers WANT (the worker flushes every second).
wait_for() {
    local got=""
    for _ in $(seq 1 100); do
        got="$(q -c "$1")"
        [ "${got}" = "$2" ] && return 0
        sleep 0.2
    done
    fail "waited for '$1' = '$2', last '${got}'"
}

k1="$(q -c "SELECT key FROM api_keys.apikey_create('acme', 'one', '{read:docs}')")"
k2="$(q -c "SELECT key FROM api_keys.apikey_create('acme', 'two')")"
q -c "SELECT api_keys.apikey_revoke(id) FROM api_keys.keys WHERE name = 'two'" >/dev/null
kb="$(q -d usage_b -c "SELECT key FROM api_keys.apikey_create('acme', 'elsewhere')")"
q -v k1="${k1}" -v k2="${k2}" >/dev/null <<'SQL'
SELECT api_keys.apikey_verify(:'k1') FROM generate_series(1, 7);
SELECT api_keys.apikey_verify(:'k1', 'write:docs') FROM generate_series(1, 3);
SELECT api_keys.apikey_verify(:'k2') FROM generate_series(1, 2);
SELECT api_keys.apikey_verify('ak_live_nothing') FROM generate_series(1, 5);
BEGIN READ ONLY;
SELECT api_keys.apikey_verify(:'k1') FROM generate_series(1, 2);
COMMIT;
SQL
q -d usage_b -v kb="${kb}" -c "SELECT api_keys.apikey_verify('${kb}') FROM generate_series(1, 4)" >/dev/null
wait_for "SELECT string_agg(name || ' ' || code || ' ' || count, ', ' ORDER BY name, code) FROM api_keys.apikey_usage('acme')" \
    "one insufficient_scope 3, one valid 9, two revoked 2"
ok "counts per key and code, READ ONLY transactions included; malformed keys belong to no one"
[ "$(q -c "SELECT day = (now() AT TIME ZONE 'UTC')::date FROM api_keys.usage LIMIT 1")" = t ] || fail "day is not today (UTC)"
ok "counted on today's UTC date"
[ "$(q -c "SELECT count(*) FROM api_keys.apikey_usage('nobody')")" = 0 ] || fail "owner filter"
[ "$(q -c "SELECT count(*) FROM api_keys.apikey_usage(NULL, CURRENT_DATE + 2)")" = 0 ] || fail "since filter"
ok "apikey_usage filters by owner and dates"
sleep 1.5
[ "$(q -d usage_b -c "SELECT count(*) FROM api_keys.usage")" = 0 ] || fail "usage_b was counted"
ok "a database not in api_keys.usage_databases is not counted"
q -c "CREATE ROLE usage_reader LOGIN" -c "GRANT api_keys_admin TO postgres"
out="$(q -U usage_reader -c "SELECT count(*) FROM api_keys.usage" 2>&1 || true)"
grep -q "permission denied" <<<"${out}" || fail "PUBLIC reads usage: ${out}"
out="$(q -U usage_reader -c "SELECT count(*) FROM api_keys.apikey_usage(NULL)" 2>&1 || true)"
grep -q "permission denied" <<<"${out}" || fail "PUBLIC calls apikey_usage: ${out}"
ok "usage is for administrators only"

# A clean restart keeps what was not flushed yet: with an hour between
# flushes, only the flush at shutdown can have saved these.
q -c "ALTER SYSTEM SET api_keys.usage_flush_interval = 3600" -c "SELECT pg_reload_conf()" >/dev/null
sleep 2   # the worker wakes once more (1 s) and takes the new interval
q -v k1="${k1}" -c "SELECT api_keys.apikey_verify('${k1}') FROM generate_series(1, 4)" >/dev/null
sleep 1
[ "$(q -c "SELECT count FROM api_keys.apikey_usage('acme') WHERE name = 'one' AND code = 'valid'")" = 9 ] || fail "flushed before the restart"
as_pg "${PG_BIN}/pg_ctl" -D "${DIR}/data" -m fast -w stop >/dev/null
as_pg "${PG_BIN}/pg_ctl" -D "${DIR}/data" -l "${DIR}/server.log" -w -t 60 start >/dev/null
[ "$(q -c "SELECT count FROM api_keys.apikey_usage('acme') WHERE name = 'one' AND code = 'valid'")" = 13 ] || fail "counts lost in a clean restart"
ok "a clean restart flushes what was counted"
