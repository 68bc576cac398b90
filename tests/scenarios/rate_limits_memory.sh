#!/usr/bin/env bash
# Rate limits on clusters of their own: without shared_preload_libraries a
# rate-limited key is refused loudly (55000 with a hint), never let through
# uncounted; with a tiny api_keys.rate_limit_max_keys the table fills, a new
# key is refused as rate_limited (retry after 1 s), and slots of keys whose
# windows are over are reused.
source "$(dirname "$0")/lib.sh"
scenario ratelimits

# 1. Not preloaded.
start_cluster "${DIR}/plain" "shared_preload_libraries = ''"
export PGDATABASE=postgres
q -c "CREATE EXTENSION api_keys"
out="$(q -c "SELECT api_keys.apikey_create('o', 'n', rate_limit => 10)" 2>&1 || true)"
grep -q "rate limits need the api_keys library in shared_preload_libraries" <<<"${out}" || fail "create without preload: ${out}"
grep -q "HINT:  Add api_keys to shared_preload_libraries" <<<"${out}" || fail "no hint: ${out}"
ok "creating a rate-limited key without the preloaded library: 55000 with a hint"
key="$(q -c "SELECT key FROM api_keys.apikey_create('o', 'n')")"
q -c "UPDATE api_keys.keys SET rate_limit = 5, rate_window = '1 minute'"   # e.g. restored from a dump
out="$(q -v "k=${key}" <<<"SELECT code FROM api_keys.apikey_verify(:'k')" 2>&1 || true)"
grep -q "rate limits need the api_keys library" <<<"${out}" || fail "verify without preload: ${out}"
state="$(q -v "k=${key}" -v VERBOSITY=verbose <<<"SELECT code FROM api_keys.apikey_verify(:'k')" 2>&1 | grep -o 'ERROR:  [0-9A-Z]*' || true)"
[ "${state}" = "ERROR:  55000" ] || fail "verify without preload raised ${state}"
ok "verifying a rate-limited key without the preloaded library: 55000, not an uncounted pass"

# 2. A table of 16 keys.
start_cluster "${DIR}/small" "shared_preload_libraries = 'api_keys'
api_keys.rate_limit_max_keys = 16"
q -c "CREATE EXTENSION api_keys"
[ "$(q -c "SHOW api_keys.rate_limit_max_keys")" = 16 ] || fail "setting not applied"
q -c "CREATE TABLE ks AS SELECT i, (api_keys.apikey_create('o', 'k' || i, rate_limit => 100, rate_window => '1 second')).key FROM generate_series(1, 17) i"
codes="$(q -c "SELECT string_agg((api_keys.apikey_verify(key)).code, ',' ORDER BY i) FROM ks WHERE i <= 16")"
[ "${codes}" = "$(printf 'valid%.0s,' {1..16} | sed 's/,$//')" ] || fail "16 keys: ${codes}"
row="$(q -c "SELECT code || ' ' || retry_after FROM ks, api_keys.apikey_verify(key) WHERE i = 17")"
[ "${row}" = "rate_limited 1" ] || fail "17th key while full: ${row}"
ok "a full table refuses a new key as rate_limited, retry after 1 s"
sleep 2.2   # the 16 keys' 1-second windows are over: their slots can be reused
row="$(q -c "SELECT code FROM ks, api_keys.apikey_verify(key) WHERE i = 17")"
[ "${row}" = "valid" ] || fail "17th key after the others went idle: ${row}"
ok "slots of idle keys are reused"
