#!/usr/bin/env bash
# Usage counts and last-used times on a cluster of their own (the library
# preloaded, nothing configured per database):
# - every database where the extension is installed is counted, including
#   databases created after the server started; verifications are counted
#   per key, day and code without a write by the verifying session (READ
#   ONLY transactions too) and stored by the background workers;
# - apikey_usage is for administrators only; apikey_list shows a use not
#   stored yet;
# - dropping the extension, then the database, leaves no worker failing and
#   nothing holding the database;
# - a clean restart loses nothing (what was not stored yet is stored right
#   after the start); a crash (immediate stop) loses at most what came after
#   the last flush, and the workers go on.
source "$(dirname "$0")/lib.sh"
scenario usage
start_cluster "${DIR}" "shared_preload_libraries = 'api_keys'
api_keys.flush_interval = 1"
export PGDATABASE=usage_a
q -d postgres -c "CREATE DATABASE usage_a" -c "CREATE DATABASE usage_b"
q -c "CREATE EXTENSION api_keys"
q -d usage_b -c "CREATE EXTENSION api_keys"

# wait_for SQL WANT [DB]: poll until the query answers WANT (a minute at most).
wait_for() {
    local got=""
    for _ in $(seq 1 600); do
        got="$(q -d "${3:-usage_a}" -c "$1")"
        [ "${got}" = "$2" ] && return 0
        sleep 0.1
    done
    fail "waited for '$1' = '$2', last '${got}'"
}
# The launcher waits for its next round and no flusher is running.
launcher_idle() {
    wait_for "SELECT count(*) FILTER (WHERE backend_type = 'api_keys launcher' AND wait_event = 'Extension')
                     || '/' || count(*) FILTER (WHERE backend_type = 'api_keys flusher')
                FROM pg_stat_activity" "1/0" postgres
}

k1="$(q -c "SELECT key FROM api_keys.apikey_create('acme', 'one', '{read:docs}')")"
k2="$(q -c "SELECT key FROM api_keys.apikey_create('acme', 'two')")"
q -c "SELECT api_keys.apikey_revoke(id) FROM api_keys.keys WHERE name = 'two'" >/dev/null
kb="$(q -d usage_b -c "SELECT key FROM api_keys.apikey_create('acme', 'elsewhere')")"
rows_before="$(q -c "SELECT string_agg(ctid || ':' || xmin, ' ' ORDER BY id) FROM api_keys.keys")"
q -v k1="${k1}" -v k2="${k2}" >/dev/null <<'SQL'
SELECT api_keys.apikey_verify(:'k1') FROM generate_series(1, 7);
SELECT api_keys.apikey_verify(:'k1', 'write:docs') FROM generate_series(1, 3);
SELECT api_keys.apikey_verify(:'k2') FROM generate_series(1, 2);
SELECT api_keys.apikey_verify('ak_live_nothing') FROM generate_series(1, 5);
BEGIN READ ONLY;
SELECT api_keys.apikey_verify(:'k1') FROM generate_series(1, 2);
COMMIT;
SQL
[ "$(q -c "SELECT string_agg(ctid || ':' || xmin, ' ' ORDER BY id) FROM api_keys.keys")" = "${rows_before}" ] \
    || fail "a verification wrote a key row"
ok "verifications write no key row"
q -d usage_b -c "SELECT api_keys.apikey_verify('${kb}') FROM generate_series(1, 4)" >/dev/null
wait_for "SELECT string_agg(name || ' ' || code || ' ' || count, ', ' ORDER BY name, code) FROM api_keys.apikey_usage('acme')" \
    "one insufficient_scope 3, one valid 9, two revoked 2"
ok "counts per key and code, READ ONLY transactions included; malformed keys belong to no one"
wait_for "SELECT string_agg(name || ' ' || code || ' ' || count, ', ') FROM api_keys.apikey_usage('acme')" \
    "elsewhere valid 4" usage_b
ok "a second database, created after the server started, is counted too: nothing to configure"
wait_for "SELECT string_agg(name || ' ' || (last_used_at IS NOT NULL), ', ' ORDER BY name) FROM api_keys.keys" \
    "one true, two false"
ok "the worker stores last_used_at of the key used validly, not of the revoked one"
[ "$(q -c "SELECT day = (now() AT TIME ZONE 'UTC')::date FROM api_keys.usage LIMIT 1")" = t ] || fail "day is not today (UTC)"
ok "counted on today's UTC date"
[ "$(q -c "SELECT count(*) FROM api_keys.apikey_usage('nobody')")" = 0 ] || fail "owner filter"
[ "$(q -c "SELECT count(*) FROM api_keys.apikey_usage(NULL, CURRENT_DATE + 2)")" = 0 ] || fail "since filter"
ok "apikey_usage filters by owner and dates"
q -c "CREATE ROLE usage_reader LOGIN"
out="$(q -U usage_reader -c "SELECT count(*) FROM api_keys.usage" 2>&1 || true)"
grep -q "permission denied" <<<"${out}" || fail "PUBLIC reads usage: ${out}"
out="$(q -U usage_reader -c "SELECT count(*) FROM api_keys.apikey_usage(NULL)" 2>&1 || true)"
grep -q "permission denied" <<<"${out}" || fail "PUBLIC calls apikey_usage: ${out}"
ok "usage is for administrators only"

# Dropping the extension with uses not stored yet, then the database: the
# launcher discards them, no worker fails, and nothing holds the database.
q -d postgres -c "ALTER SYSTEM SET api_keys.flush_interval = 3600" -c "SELECT pg_reload_conf()" >/dev/null
launcher_idle
q -d usage_b -c "SELECT api_keys.apikey_verify('${kb}') FROM generate_series(1, 3)" >/dev/null
q -d usage_b -c "DROP EXTENSION api_keys"
q -d postgres -c "ALTER SYSTEM SET api_keys.flush_interval = 1" -c "SELECT pg_reload_conf()" >/dev/null
launcher_idle
q -d postgres -c "DROP DATABASE usage_b"
ok "DROP DATABASE after DROP EXTENSION needs no FORCE: no worker stays connected"
q -d postgres -c "CREATE DATABASE usage_c"
q -d usage_c -c "CREATE EXTENSION api_keys"
kc="$(q -d usage_c -c "SELECT key FROM api_keys.apikey_create('acme', 'later')")"
q -d usage_c -c "SELECT api_keys.apikey_verify('${kc}')" >/dev/null
wait_for "SELECT count(*) FROM api_keys.keys WHERE last_used_at IS NOT NULL" 1 usage_c
! grep -E "exited with exit code [1-9]|(ERROR|FATAL):" "${DIR}/server.log" | grep -v "permission denied" \
    || fail "a worker logged an error"
ok "a database created later is stored too, and no worker ever failed"

# A clean restart loses nothing: with an hour between flushes, only the
# saved state can carry these to the tables.
q -d postgres -c "ALTER SYSTEM SET api_keys.flush_interval = 3600" -c "SELECT pg_reload_conf()" >/dev/null
launcher_idle
q -c "UPDATE api_keys.keys SET last_used_at = NULL WHERE name = 'one'"
q -c "SELECT api_keys.apikey_verify('${k1}') FROM generate_series(1, 4)" >/dev/null
[ "$(q -c "SELECT last_used_at IS NULL FROM api_keys.keys WHERE name = 'one'")" = t ] || fail "stored before the flush"
[ "$(q -c "SELECT last_used_at IS NOT NULL FROM api_keys.apikey_list('acme') WHERE name = 'one'")" = t ] \
    || fail "apikey_list does not show the unstored use"
ok "apikey_list shows a use that is still in shared memory"
[ "$(q -c "SELECT count FROM api_keys.apikey_usage('acme') WHERE name = 'one' AND code = 'valid'")" = 9 ] || fail "flushed before the restart"
restart_cluster "${DIR}" fast
wait_for "SELECT count FROM api_keys.apikey_usage('acme') WHERE name = 'one' AND code = 'valid'" 13
wait_for "SELECT last_used_at IS NOT NULL FROM api_keys.keys WHERE name = 'one'" t
ok "a clean restart keeps what was not stored yet, and stores it at the start"

# A crash: what was stored before it stays; the workers go on afterwards.
launcher_idle
q -c "SELECT api_keys.apikey_verify('${k1}') FROM generate_series(1, 5)" >/dev/null
as_pg "${PG_BIN}/pg_ctl" -D "${DIR}/data" -m immediate -w stop >/dev/null
as_pg "${PG_BIN}/pg_ctl" -D "${DIR}/data" -l "${DIR}/server.log" -w -t 60 start >/dev/null
got="$(q -c "SELECT count FROM api_keys.apikey_usage('acme') WHERE name = 'one' AND code = 'valid'")"
[ "${got}" = 13 ] || [ "${got}" = 18 ] || fail "after a crash: ${got} (13 stored before it, 5 more at most)"
q -d postgres -c "ALTER SYSTEM SET api_keys.flush_interval = 1" -c "SELECT pg_reload_conf()" >/dev/null
q -c "SELECT api_keys.apikey_verify('${k1}')" >/dev/null
wait_for "SELECT count >= 14 FROM api_keys.apikey_usage('acme') WHERE name = 'one' AND code = 'valid'" t
ok "a crash loses at most what came after the last flush (${got} stored), and counting goes on"
