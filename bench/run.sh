#!/usr/bin/env bash
# Benchmarks of api_keys' hot path, against the extension that is installed.
#
# Usage:   bash bench/run.sh
#
# Starts a throwaway cluster with default durability (fsync, synchronous_commit
# and full_page_writes on) and the library preloaded, creates the extension,
# loads keys created with apikey_create (1,000, 100,000 and 1,000,000, one
# database each), then runs the pgbench scripts of bench/sql (-M prepared, -n;
# 1 and 2 clients, 32 for the lock-contention cases) interleaved in rounds:
# every round runs every case once, each round starting at a different case,
# so that drift of a busy machine hits all cases alike; the median of the
# rounds is reported, with the WAL written during each run per transaction.
# Then a WAL check: each tracking verification case once more with the
# background store paused, so that the WAL verification writes itself is
# measured apart from the batched store of last-used times and usage counts
# (whose WAL and time are measured when it is resumed). It prints a table of
# TPS per case, the ratios to the baselines and the targets (issue 15, and
# issues 6 and 8 before it), met or not met. Missing a target is reported,
# not an error: the exit status is non-zero only when something did not run
# (a pgbench client aborted, a check of the data failed).
#
# Settings (environment):
#   BENCH_SECONDS=8           duration of one pgbench run
#   BENCH_ROUNDS=3            rounds (median over them)
#   BENCH_SMALL_KEYS=1000     keys in the small database
#   BENCH_MID_KEYS=100000     keys in the middle database
#   BENCH_LARGE_KEYS=1000000  keys in the large database
#   BENCH_CREATE_KEYS=20000   keys of the batch-creation case, per round
#   BENCH_IMPORTED_KEYS=100000  imported keys beside the small database's native ones
#                             (bench_mixed), to show they cost native keys nothing
#   BENCH_IMPORT_KEYS=1000000 keys of the bulk-import case (apikey_import_many), per round
#   BENCH_LOAD_JOBS=2         sessions creating the large set in parallel
#   BENCH_PORT=54350          port of the throwaway cluster
#   BENCH_SHARED_BUFFERS=1GB  so that the 1,000,000-key set is in shared buffers
#   BENCH_PG_BIN=...          bin directory of the PostgreSQL to run (default: the
#                             system's PostgreSQL 15; see bench/README.md for
#                             benchmarking a release build without installing it)
#   BENCH_DIR=DIR             directory of the throwaway cluster (default: a new
#                             /tmp/api_keys.bench.XXXXXX); it must not exist yet
#   BENCH_ONLY=REGEX          run only the cases whose name matches (e.g. '^(select1|plain_hot|verify_hot)$')
#   BENCH_KEEP=1              keep the cluster directory afterwards
#   BENCH_MANY_CLIENTS=32     clients of the lock-contention cases
#   BENCH_WAL_SECONDS=4       duration of one run of the WAL check
#   BENCH_WAL_ONLY=REGEX      the cases of the WAL check (default: every tracking
#                             verification case at 1 client)
#   BENCH_OUT=FILE            also write the report to FILE
#
# Against the system's PostgreSQL it holds the install lock shared
# (scripts/common.sh) for its whole run, so no other checkout can swap the
# installed extension while it measures; with BENCH_PG_BIN pointing at a
# private tree (bench/release_tree.sh) it reads nothing shared and takes no
# lock. bench/smoke.sh runs the same thing in seconds.
source "$(dirname "$0")/../scripts/common.sh"
private_tree() {
    [ -n "${BENCH_PG_BIN:-}" ] && [ "$(realpath -m "${BENCH_PG_BIN}")" != "$(realpath -m "${PG_BIN}")" ]
}
if ! private_tree && ! holding_install_lock; then
    with_install_lock shared bash "$0" "$@"
    exit $?
fi

SECONDS_PER_RUN="${BENCH_SECONDS:-8}"
ROUNDS="${BENCH_ROUNDS:-3}"
SMALL="${BENCH_SMALL_KEYS:-1000}"
MID="${BENCH_MID_KEYS:-100000}"
LARGE="${BENCH_LARGE_KEYS:-1000000}"
CREATE_N="${BENCH_CREATE_KEYS:-20000}"
IMPORTED="${BENCH_IMPORTED_KEYS:-100000}"
IMPORT_N="${BENCH_IMPORT_KEYS:-1000000}"
LOAD_JOBS="${BENCH_LOAD_JOBS:-2}"
PORT="${BENCH_PORT:-54350}"
MANY="${BENCH_MANY_CLIENTS:-32}"
WAL_SECONDS="${BENCH_WAL_SECONDS:-4}"
PG_BIN="${BENCH_PG_BIN:-${PG_BIN}}"
BENCH="${ROOT}/bench"
SQL="${BENCH}/sql"
SCOPE_REQ="read:projects/7"
CLIENT_IP="10.1.2.3"

PKGLIBDIR="$("${PG_BIN}/pg_config" --pkglibdir 2>/dev/null || "${PG_CONFIG}" --pkglibdir)"
SHAREDIR="$("${PG_BIN}/pg_config" --sharedir 2>/dev/null || "${PG_CONFIG}" --sharedir)"
if [ ! -f "${SHAREDIR}/extension/api_keys.control" ] || [ ! -f "${PKGLIBDIR}/api_keys.so" ]; then
    echo "api_keys is not installed in ${SHAREDIR} (${PKGLIBDIR}): install it first" \
         "(cargo pgrx install --release, or scripts/test.sh)" >&2
    exit 2
fi
# A debug build is several times slower than a release build: say which one runs.
if readelf -S "${PKGLIBDIR}/api_keys.so" 2>/dev/null | grep -q '\.debug_info'; then
    BUILD="debug (has .debug_info: built without --release; numbers are not representative)"
else
    BUILD="release"
fi

if [ -n "${BENCH_DIR:-}" ]; then
    [ -e "${BENCH_DIR}" ] && { echo "BENCH_DIR ${BENCH_DIR} exists already" >&2; exit 2; }
    mkdir -p "${BENCH_DIR}" && chmod 755 "${BENCH_DIR}"
    [ "$(id -u)" = 0 ] && chown "$(pg_os_user)" "${BENCH_DIR}"
    DIR="${BENCH_DIR}"
else
    DIR="$(scratch_dir bench)"
fi
cleanup() {
    cluster_stop "${DIR}"
    [ "${BENCH_KEEP:-0}" = 1 ] && say "cluster directory kept: ${DIR}" || rm -rf "${DIR}"
}
trap cleanup EXIT
RESULTS="${DIR}/results"      # lines: case clients round tps wal-bytes-per-transaction
WALCHECK="${DIR}/walcheck"    # lines: case transactions own-wal-bytes store-wal-bytes store-seconds
REPORT="${DIR}/report"
: >"${RESULTS}"
: >"${WALCHECK}"

# Later lines win over the `fsync = off` that cluster_start writes. The
# shared-memory tables of last-used times and usage counts hold a million
# keys, so that no use of the large set is dropped for want of room (the
# background store then writes every one of them, the most it can have to).
say "starting a throwaway cluster in ${DIR} (port ${PORT})"
cluster_start "${DIR}" "${PORT}" "fsync = on
synchronous_commit = on
full_page_writes = on
shared_buffers = ${BENCH_SHARED_BUFFERS:-1GB}
max_wal_size = 4GB
max_connections = $(( MANY + 20 ))
shared_preload_libraries = 'api_keys'
api_keys.last_used_max_keys = 1000000
api_keys.usage_max_entries = 1000000"
export PGHOST="${DIR}/sock" PGPORT="${PORT}"
psql_su() { psql -X -q -v ON_ERROR_STOP=1 -U postgres "$@"; }
psql_val() { psql -X -qAt -v ON_ERROR_STOP=1 -U postgres "$@"; }

# ---------------------------------------------------------------- set-up
# Roles: the application connects as an ordinary role (RLS applies to it);
# bench_app_notrack is the same with usage tracking turned off (the setting is
# SUSET, so a superuser sets it per role).
psql_su -d postgres <<'SQL'
CREATE ROLE bench_app LOGIN;
CREATE ROLE bench_app_notrack LOGIN;
ALTER ROLE bench_app_notrack SET api_keys.last_used_resolution = -1;
SQL

# create_keys DB FROM TO: keys FROM..TO, created with apikey_create, kept in bench_keys.
create_keys() {
    psql_su -d "$1" -v lo="$2" -v hi="$3" <<'SQL'
INSERT INTO bench_keys (i, key)
SELECT g, c.key
  FROM generate_series(:lo, :hi) g,
       LATERAL api_keys.apikey_create('tenant' || (g % 1000), 'key ' || g,
                                      '{read:projects/*, write:projects/42}', NULL,
                                      '{10.0.0.0/8, 2001:db8::/32}', 'live', '{"plan": "bench"}') c;
SQL
}

# import_keys DB N: N imported keys (digests of made-up keys of another
# system, with the native keys' scopes and networks) in one statement.
import_keys() {
    psql_su -d "$1" -v n="$2" -o /dev/null <<'SQL'
SELECT api_keys.apikey_import_many(array_agg(api_keys.imported_key(
         'tenant' || (g % 1000), 'imported ' || g, sha256(convert_to('legacy_key_' || g || '_0123456789abcdef', 'UTF8')),
         '{read:projects/*, write:projects/42}', NULL, '{10.0.0.0/8, 2001:db8::/32}', 'live', '{"plan": "bench"}',
         prefix => 'legacy_key_')))
  FROM generate_series(1, :n) g;
SQL
}

# setup_db DB NKEYS [NIMPORTED]: the extension, NKEYS real keys (and
# NIMPORTED imported ones), the plain-SQL twin of the key table, the RLS
# tables.
setup_db() {
    local db="$1" n="$2" imported="${3:-0}"
    psql_su -d postgres -c "CREATE DATABASE ${db}"
    psql_su -d "${db}" <<'SQL'
CREATE EXTENSION api_keys;
CREATE TABLE bench_keys (i int PRIMARY KEY, key text NOT NULL);
SQL
    local t0 t1 chunk=50000 lo pids=() job
    t0=$(date +%s.%N)
    if [ "${n}" -le "${chunk}" ] || [ "${LOAD_JOBS}" -le 1 ]; then
        for ((lo = 1; lo <= n; lo += chunk)); do
            create_keys "${db}" "${lo}" "$(( lo + chunk - 1 < n ? lo + chunk - 1 : n ))"
        done
    else
        # LOAD_JOBS sessions, each creating every LOAD_JOBS-th chunk.
        for ((job = 0; job < LOAD_JOBS; job++)); do
            (
                for ((lo = 1 + job * chunk; lo <= n; lo += LOAD_JOBS * chunk)); do
                    create_keys "${db}" "${lo}" "$(( lo + chunk - 1 < n ? lo + chunk - 1 : n ))"
                done
            ) &
            pids+=($!)
        done
        for job in "${pids[@]}"; do wait "${job}"; done
    fi
    t1=$(date +%s.%N)
    awk -v n="${n}" -v a="${t0}" -v b="${t1}" -v j="${LOAD_JOBS}" -v db="${db}" 'BEGIN {
        printf "%s: %d keys created with apikey_create in %.1f s (%.0f keys/s, %d sessions)\n",
               db, n, b - a, n / (b - a), (n > 50000 && j > 1) ? j : 1 }' >>"${DIR}/load"
    if [ "${imported}" -gt 0 ]; then
        t0=$(date +%s.%N)
        import_keys "${db}" "${imported}"
        t1=$(date +%s.%N)
        awk -v n="${imported}" -v a="${t0}" -v b="${t1}" -v db="${db}" 'BEGIN {
            printf "%s: %d keys imported with apikey_import_many in %.1f s (%.0f keys/s)\n",
                   db, n, b - a, n / (b - a) }' >>"${DIR}/load"
    fi
    psql_su -d "${db}" -o /dev/null <<'SQL'
-- The floor of doing it in SQL: a table of the same rows, a unique index on digest.
CREATE TABLE bench_plain AS SELECT * FROM api_keys.keys;
CREATE UNIQUE INDEX bench_plain_digest_idx ON bench_plain (digest);
-- RLS: 100 documents of 10 tenants; the hot key (i = 1) belongs to tenant1.
CREATE TABLE bench_docs (id int PRIMARY KEY, tenant text NOT NULL, body text);
INSERT INTO bench_docs SELECT g, 'tenant' || (g % 10), 'document ' || g FROM generate_series(1, 100) g;
ALTER TABLE bench_docs ENABLE ROW LEVEL SECURITY;
CREATE POLICY by_key ON bench_docs FOR SELECT
  USING (tenant = (SELECT api_keys.apikey_current_owner())
         AND (SELECT api_keys.apikey_has_scope('read:projects/7')));
CREATE TABLE bench_docs_plain (LIKE bench_docs INCLUDING ALL);
INSERT INTO bench_docs_plain SELECT * FROM bench_docs;
ALTER TABLE bench_docs_plain ENABLE ROW LEVEL SECURITY;
CREATE POLICY by_setting ON bench_docs_plain FOR SELECT
  USING (tenant = current_setting('bench.owner', true));
GRANT SELECT ON bench_keys, bench_plain, bench_docs, bench_docs_plain TO bench_app, bench_app_notrack;
VACUUM ANALYZE;
SQL
    # pg_prewarm is a contrib module: the server trees of PostgreSQL 16-18
    # (Python wheels) have none. There the first timed round warms the cache.
    if [ "$(psql_val -d "${db}" -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_prewarm'")" = 1 ]; then
        psql_su -d "${db}" -o /dev/null <<'SQL'
CREATE EXTENSION pg_prewarm;
SELECT pg_prewarm(c.oid) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname IN ('api_keys', 'public') AND c.relkind IN ('r', 'i');
SQL
    else
        echo "${db}: no pg_prewarm on this server: tables not prewarmed" >>"${DIR}/load"
    fi
}

say "loading ${SMALL} keys into bench_small"
setup_db bench_small "${SMALL}"
say "loading ${SMALL} keys and ${IMPORTED} imported keys into bench_mixed"
setup_db bench_mixed "${SMALL}" "${IMPORTED}"
say "loading ${MID} keys into bench_mid (${LOAD_JOBS} sessions)"
setup_db bench_mid "${MID}"
say "loading ${LARGE} keys into bench_large (${LOAD_JOBS} sessions)"
setup_db bench_large "${LARGE}"
psql_su -d postgres -c "CREATE DATABASE bench_create"
psql_su -d bench_create -c "CREATE EXTENSION api_keys"
psql_su -d postgres -c "CHECKPOINT"
cat "${DIR}/load" >&2

HOT_KEY="$(psql_val -d bench_small -c "SELECT key FROM bench_keys WHERE i = 1")"
HOT_KEY_MIXED="$(psql_val -d bench_mixed -c "SELECT key FROM bench_keys WHERE i = 1")"
IMPORTED_KEY="legacy_key_1_0123456789abcdef"

# ---------------------------------------------------------------- checks
# Every case must measure what it says: the keys verify as valid with the
# required scope and address, the plain baselines find their row, the
# no-tracking role really has tracking off, and tracking does update.
check() {
    local what="$1" got="$2" want="$3"
    if [ "${got}" != "${want}" ]; then
        echo "check failed: ${what}: got '${got}', want '${want}'" >&2
        exit 1
    fi
}
keys_of() { case "$1" in bench_small|bench_mixed) echo "${SMALL}" ;; bench_mid) echo "${MID}" ;; *) echo "${LARGE}" ;; esac; }
for db in bench_small bench_mixed bench_mid bench_large; do
    n=$(keys_of "${db}")
    check "${db}: native key rows" "$(psql_val -d "${db}" -c "SELECT count(*) FROM api_keys.keys WHERE origin = 'native'")" "${n}"
    check "${db}: sample of bench_keys verifies as valid" "$(psql_val -d "${db}" -U bench_app -c "
        SELECT count(*) FILTER (WHERE v.code = 'valid') || '/' || count(*)
          FROM (SELECT key FROM bench_keys ORDER BY random() LIMIT 200) k,
               LATERAL api_keys.apikey_verify(k.key, '${SCOPE_REQ}', '${CLIENT_IP}') v")" \
        "$(( n < 200 ? n : 200 ))/$(( n < 200 ? n : 200 ))"
    check "${db}: plain lookup finds the key" "$(psql_val -d "${db}" -U bench_app -c "
        SELECT count(*) FROM bench_plain WHERE digest = sha256('${HOT_KEY}'::bytea)")" "$([ "${db}" = bench_small ] && echo 1 || echo 0)"
done
check "bench_mixed: native and imported keys" "$(psql_val -d bench_mixed -c "
    SELECT count(*) FILTER (WHERE origin = 'native') || ' ' || count(*) FILTER (WHERE origin = 'imported')
      FROM api_keys.keys")" "${SMALL} ${IMPORTED}"
check "bench_mixed: an imported key verifies" "$(psql_val -d bench_mixed -U bench_app -c "
    SELECT code FROM api_keys.apikey_verify('${IMPORTED_KEY}', '${SCOPE_REQ}', '${CLIENT_IP}')")" \
    "$([ "${IMPORTED}" -gt 0 ] && echo valid || echo not_found)"
check "bench_app_notrack has tracking off" "$(psql_val -d bench_small -U bench_app_notrack -c "
    SELECT (api_keys.apikey_verify('${HOT_KEY}', '${SCOPE_REQ}', '${CLIENT_IP}')).code; SHOW api_keys.last_used_resolution" | tr '\n' ' ')" "valid -1 "
check "bench_app has tracking on" "$(psql_val -d bench_small -U bench_app -c "
    SELECT (api_keys.apikey_verify('${HOT_KEY}', '${SCOPE_REQ}', '${CLIENT_IP}')).code; SHOW api_keys.last_used_resolution" | tr '\n' ' ')" "valid 1min "
# The use is stored by the background store, at the latest one flush
# interval later; apikey_list shows it at once (stored or still in memory).
check "a verification by bench_app recorded its use" "$(psql_val -d bench_small -c "
    SELECT last_used_at IS NOT NULL FROM api_keys.apikey_list('tenant1') WHERE name = 'key 1'")" "t"
check "rls: the hot key sees its tenant's documents" "$(psql_val -d bench_small -U bench_app -c "
    BEGIN; SELECT api_keys.apikey_authenticate('${HOT_KEY}', '${CLIENT_IP}', '${SCOPE_REQ}') IS NOT NULL;
    SELECT count(*) FROM bench_docs; COMMIT" | tail -1)" "10"
check "rls_plain: the same documents" "$(psql_val -d bench_small -U bench_app -c "
    BEGIN; SELECT set_config('bench.owner', (SELECT owner FROM bench_plain WHERE digest = sha256('${HOT_KEY}'::bytea)), true);
    SELECT count(*) FROM bench_docs_plain; COMMIT" | tail -1)" "10"

# ---------------------------------------------------------------- cases
# The same key with a rate limit it never reaches: what counting costs.
LIMITED_KEY="$(psql_val -d bench_small -c "SELECT key FROM api_keys.apikey_create('tenant1', 'limited',
    '{read:projects/*, write:projects/42}', NULL, '{10.0.0.0/8, 2001:db8::/32}', 'live', '{}',
    rate_limit => 1000000000, rate_window => '1 minute')")"
check "the rate-limited key verifies as valid" "$(psql_val -d bench_small -U bench_app -c "
    SELECT code || ' ' || (remaining > 0) FROM api_keys.apikey_verify('${LIMITED_KEY}', '${SCOPE_REQ}', '${CLIENT_IP}')")" "valid true"
# The same key's twins with a quota, and of an owner with shared limits
# (a rate limit and a quota), never reached: what the other counters cost.
QUOTA_KEY="$(psql_val -d bench_small -c "SELECT key FROM api_keys.apikey_create('tenant1', 'metered',
    '{read:projects/*, write:projects/42}', NULL, '{10.0.0.0/8, 2001:db8::/32}', 'live', '{}',
    quota => 1000000000000000, quota_period => 'month')")"
psql_su -d bench_small -o /dev/null -c "SELECT api_keys.apikey_set_owner_limits('shared_owner',
    rate_limit => 1000000000, rate_window => '1 minute', quota => 1000000000000000, quota_period => 'month')"
OWNER_KEY="$(psql_val -d bench_small -c "SELECT key FROM api_keys.apikey_create('shared_owner', 'shared',
    '{read:projects/*, write:projects/42}', NULL, '{10.0.0.0/8, 2001:db8::/32}', 'live', '{}')")"
check "the key with a quota verifies as valid" "$(psql_val -d bench_small -U bench_app -c "
    SELECT code || ' ' || (remaining > 0) FROM api_keys.apikey_verify('${QUOTA_KEY}', '${SCOPE_REQ}', '${CLIENT_IP}')")" "valid true"
check "the key of an owner with limits verifies as valid" "$(psql_val -d bench_small -U bench_app -c "
    SELECT code || ' ' || (remaining > 0) FROM api_keys.apikey_verify('${OWNER_KEY}', '${SCOPE_REQ}', '${CLIENT_IP}')")" "valid true"
# name|database|role|script|clients|pgbench variables (-D), space-separated
V="scope=${SCOPE_REQ} ip=${CLIENT_IP}"
CASES=()
for c in 1 2; do
    CASES+=(
        "select1|bench_small|bench_app|select1|${c}|"
        "plain_hot|bench_small|bench_app|plain_hot|${c}|key=${HOT_KEY}"
        "verify_hot|bench_small|bench_app|verify_hot|${c}|key=${HOT_KEY} ${V}"
        "verify_hot_notrack|bench_small|bench_app_notrack|verify_hot|${c}|key=${HOT_KEY} ${V}"
        "verify_hot_limited|bench_small|bench_app|verify_hot|${c}|key=${LIMITED_KEY} ${V}"
        "verify_hot_quota|bench_small|bench_app|verify_hot|${c}|key=${QUOTA_KEY} ${V}"
        "verify_hot_owner_limited|bench_small|bench_app|verify_hot|${c}|key=${OWNER_KEY} ${V}"
        "plain_random_1k|bench_small|bench_app|plain_random|${c}|nkeys=${SMALL}"
        "verify_random_1k|bench_small|bench_app|verify_random|${c}|nkeys=${SMALL} ${V}"
        "plain_random_100k|bench_mid|bench_app|plain_random|${c}|nkeys=${MID}"
        "verify_random_100k|bench_mid|bench_app|verify_random|${c}|nkeys=${MID} ${V}"
        "plain_random_1m|bench_large|bench_app|plain_random|${c}|nkeys=${LARGE}"
        "verify_random_1m|bench_large|bench_app|verify_random|${c}|nkeys=${LARGE} ${V}"
        "verify_random_1k_notrack|bench_small|bench_app_notrack|verify_random|${c}|nkeys=${SMALL} ${V}"
        "verify_random_1m_notrack|bench_large|bench_app_notrack|verify_random|${c}|nkeys=${LARGE} ${V}"
        "verify_hot_mixed|bench_mixed|bench_app|verify_hot|${c}|key=${HOT_KEY_MIXED} ${V}"
        "verify_random_1k_mixed|bench_mixed|bench_app_notrack|verify_random|${c}|nkeys=${SMALL} ${V}"
        "verify_imported_key|bench_mixed|bench_app|verify_hot|${c}|key=${IMPORTED_KEY} ${V}"
        "rls|bench_small|bench_app|rls|${c}|key=${HOT_KEY} ${V}"
        "rls_plain|bench_small|bench_app|rls_plain|${c}|key=${HOT_KEY}"
    )
done
# Many clients on one hot key: the shared-memory locks under contention.
CASES+=(
    "plain_hot|bench_small|bench_app|plain_hot|${MANY}|key=${HOT_KEY}"
    "verify_hot|bench_small|bench_app|verify_hot|${MANY}|key=${HOT_KEY} ${V}"
    "verify_hot_notrack|bench_small|bench_app_notrack|verify_hot|${MANY}|key=${HOT_KEY} ${V}"
    "verify_hot_limited|bench_small|bench_app|verify_hot|${MANY}|key=${LIMITED_KEY} ${V}"
)
CASES+=("create_txn|bench_create|postgres|create_txn|1|grants={read:projects/*,write:projects/42} cidrs={10.0.0.0/8}")
CASES+=("create_batch|bench_create|postgres|-|1|")
CASES+=("import_batch|bench_create|postgres|-import|1|")

lsn() { psql_val -d postgres -c "SELECT pg_current_wal_insert_lsn()"; }
wal_since() { psql_val -d postgres -c "SELECT pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '$1')::bigint"; }

# pgbench_case SPEC [SECONDS]: one pgbench run of a case; prints "tps transactions".
pgbench_case() {
    local name db role script clients vars out tps n
    IFS='|' read -r name db role script clients vars <<<"$1"
    # At most 2 pgbench threads: the machine may have no more cores.
    local args=(-n -M prepared -c "${clients}" -j "$(( clients < 2 ? clients : 2 ))"
                -T "${2:-${SECONDS_PER_RUN}}" -U "${role}" -f "${SQL}/${script}.sql")
    local v list
    read -ra list <<<"${vars}"
    for v in "${list[@]}"; do args+=(-D "${v}"); done
    if ! out="$(pgbench "${args[@]}" "${db}" 2>&1)"; then
        echo "${out}" >&2
        echo "pgbench failed: ${name} (${clients} clients)" >&2
        exit 1
    fi
    tps=$(sed -nE 's/^tps = ([0-9.]+) \(without initial connection time\)$/\1/p' <<<"${out}")
    n=$(sed -nE 's/^number of transactions actually processed: ([0-9]+).*$/\1/p' <<<"${out}")
    if [ -z "${tps}" ] || [ -z "${n}" ] || grep -qE '^number of failed transactions: [1-9]' <<<"${out}"; then
        echo "${out}" >&2
        echo "pgbench run without a result: ${name} (${clients} clients)" >&2
        exit 1
    fi
    echo "${tps} ${n}"
}

# run_case ROUND SPEC: one pgbench run (or the batch creation); its TPS and
# the WAL written meanwhile (by anyone: background stores included) per
# transaction appended to RESULTS.
run_case() {
    local round="$1" name db role script clients vars tps n start wal
    IFS='|' read -r name db role script clients vars <<<"$2"
    start=$(lsn)
    if [ "${script}" = -import ]; then
        # Bulk import in one session, one statement (the array built from
        # generate_series and sha256 included): keys per second. Each round
        # imports keys of its own.
        tps=$(psql_val -d "${db}" -v n="${IMPORT_N}" -v r="${round}" <<'SQL' | tail -1
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
SELECT api_keys.apikey_import_many(array_agg(api_keys.imported_key(
         'importer', 'imported ' || g, sha256(convert_to('round' || :r || '_legacy_' || g || '_0123456789', 'UTF8')),
         '{read:projects/*, write:projects/42}', NULL, '{10.0.0.0/8}', prefix => 'legacy_')))
         AS imported
  FROM generate_series(1, :n) g \gset
SELECT round((:imported / (extract(epoch FROM clock_timestamp()) - :t0))::numeric, 1);
SQL
        )
        n=${IMPORT_N}
    elif [ "${script}" = - ]; then
        # Key creation in one session, one statement (its commit included):
        # keys per second, timed inside the session after a first key has
        # loaded the library.
        tps=$(psql_val -d "${db}" -v n="${CREATE_N}" <<'SQL' | tail -1
SELECT count(*) AS warm FROM api_keys.apikey_create('creator', 'warm-up') \gset
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
SELECT count(*) AS created FROM generate_series(1, :n) g,
       LATERAL api_keys.apikey_create('creator', 'batch ' || g, '{read:projects/*, write:projects/42}',
                                      NULL, '{10.0.0.0/8}') c \gset
SELECT round((:created / (extract(epoch FROM clock_timestamp()) - :t0))::numeric, 1);
SQL
        )
        n=$(( CREATE_N + 1 ))
    else
        read -r tps n <<<"$(pgbench_case "$2")"
    fi
    wal=$(awk -v b="$(wal_since "${start}")" -v n="${n}" 'BEGIN { printf "%.1f", (n > 0) ? b / n : 0 }')
    echo "${name} ${clients} ${round} ${tps} ${wal}" >>"${RESULTS}"
    printf '  round %d  %-26s c=%-3s %12s  %10s WAL B/txn\n' "${round}" "${name}" "${clients}" "${tps}" "${wal}" >&2
}

if [ -n "${BENCH_ONLY:-}" ]; then
    kept=()
    for spec in "${CASES[@]}"; do
        [[ "${spec%%|*}" =~ ${BENCH_ONLY} ]] && kept+=("${spec}")
    done
    CASES=("${kept[@]}")
fi
n_cases=${#CASES[@]}
say "${ROUNDS} rounds of ${n_cases} runs of ${SECONDS_PER_RUN} s, interleaved"
for ((round = 1; round <= ROUNDS; round++)); do
    # Each round starts at a different case, so no case always follows the same one.
    offset=$(( (round - 1) * n_cases / ROUNDS ))
    for ((k = 0; k < n_cases; k++)); do
        run_case "${round}" "${CASES[$(( (k + offset) % n_cases ))]}"
    done
done

# ---------------------------------------------------------------- WAL check
# The WAL of a timed run includes the background store of last-used times
# and usage counts, which runs every api_keys.flush_interval. Here each
# tracking verification case runs once more (1 client) with the store
# paused: the WAL written meanwhile is the verifications' own. Resuming the
# store then writes what they recorded: its WAL and its time are measured
# too.
#
# store_idle: wait until no flusher runs and the WAL position has not moved
# for a second; prints the seconds from the call to the last activity seen.
store_idle() {
    local t0 now last prev cur busy
    t0=$(date +%s.%N); last="${t0}"; prev=$(lsn)
    for _ in $(seq 1 1200); do
        sleep 0.1
        now=$(date +%s.%N)
        busy=$(psql_val -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'api_keys flusher'")
        cur=$(lsn)
        if [ "${busy}" != 0 ] || [ "${cur}" != "${prev}" ]; then
            last="${now}"
        elif awk -v a="${now}" -v b="${last}" 'BEGIN { exit !(a - b >= 1) }'; then
            break
        fi
        prev="${cur}"
    done
    awk -v a="${last}" -v b="${t0}" 'BEGIN { printf "%.1f", a - b }'
}
set_flush_interval() {
    psql_su -d postgres -o /dev/null -c "ALTER SYSTEM ${1}" -c "SELECT pg_reload_conf()"
}
walcheck_cases=()
for spec in "${CASES[@]}"; do
    IFS='|' read -r name db role script clients vars <<<"${spec}"
    [[ "${name}" =~ ^verify_(hot|random_.*)$ ]] && [ "${clients}" = 1 ] \
        && [[ "${name}" =~ ${BENCH_WAL_ONLY:-.} ]] && walcheck_cases+=("${spec}")
done
if [ "${#walcheck_cases[@]}" -gt 0 ]; then
    say "WAL check: ${#walcheck_cases[@]} runs of ${WAL_SECONDS} s with the background store paused"
    for spec in "${walcheck_cases[@]}"; do
        # A reload wakes the launcher, which stores what is pending, then
        # waits for the new interval.
        set_flush_interval "SET api_keys.flush_interval = 3600"
        store_idle >/dev/null
        start=$(lsn)
        read -r tps n <<<"$(pgbench_case "${spec}" "${WAL_SECONDS}")"
        own=$(wal_since "${start}")
        start=$(lsn)
        set_flush_interval "RESET api_keys.flush_interval"
        secs=$(store_idle)
        store=$(wal_since "${start}")
        echo "${spec%%|*} ${n} ${own} ${store} ${secs}" >>"${WALCHECK}"
        printf '  %-26s %8d verifications: own WAL %d B, store %d B in %s s\n' \
               "${spec%%|*}" "${n}" "${own}" "${store}" "${secs}" >&2
    done
fi

# ---------------------------------------------------------------- report
PG_VERSION="$(psql_val -d postgres -c "SHOW server_version")"
{
    echo "api_keys benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "PostgreSQL ${PG_VERSION}; extension build: ${BUILD}"
    echo "$(nproc) CPUs: $(lscpu | sed -n 's/^Model name: *//p')"
    echo "${ROUNDS} rounds x ${SECONDS_PER_RUN} s per run, -M prepared, median over rounds;" \
         "fsync=on, synchronous_commit=on, shared_buffers=${BENCH_SHARED_BUFFERS:-1GB}"
    sed 's/^/load: /' "${DIR}/load"
    echo
    awk -v small="${SMALL}" -v mid="${MID}" -v large="${LARGE}" -v many="${MANY}" -v walcheck="${WALCHECK}" \
        -f "${BENCH}/report.awk" "${RESULTS}"
} >"${REPORT}"
cat "${REPORT}"
[ -n "${BENCH_OUT:-}" ] && cp "${REPORT}" "${BENCH_OUT}"
exit 0
