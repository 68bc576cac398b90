#!/usr/bin/env bash
# Benchmarks of api_keys' hot path, against the extension that is installed.
#
# Usage:   bash bench/run.sh
#
# Starts a throwaway cluster with default durability (fsync, synchronous_commit
# and full_page_writes on), creates the extension, loads keys created with
# apikey_create (1,000 in one database, 1,000,000 in another), then runs the
# pgbench scripts of bench/sql (-M prepared, -n, 1 and 2 clients) interleaved in
# rounds: every round runs every case once, each round starting at a different
# case, so that drift of a busy machine hits all cases alike; the median of the
# rounds is reported. It prints a table of TPS per case, the ratios to the
# baselines and the targets of issue 6, met or not met. Missing a target is
# reported, not an error: the exit status is non-zero only when something did
# not run (a pgbench client aborted, a check of the data failed).
#
# Settings (environment):
#   BENCH_SECONDS=8           duration of one pgbench run
#   BENCH_ROUNDS=3            rounds (median over them)
#   BENCH_SMALL_KEYS=1000     keys in the small database
#   BENCH_LARGE_KEYS=1000000  keys in the large database
#   BENCH_CREATE_KEYS=20000   keys of the batch-creation case, per round
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
#   BENCH_OUT=FILE            also write the report to FILE
#
# It holds the install lock shared (scripts/common.sh) for its whole run, so no
# other checkout can swap the installed extension while it measures.
# bench/smoke.sh runs the same thing in seconds.
source "$(dirname "$0")/../scripts/common.sh"
if ! holding_install_lock; then
    with_install_lock shared bash "$0" "$@"
    exit $?
fi

SECONDS_PER_RUN="${BENCH_SECONDS:-8}"
ROUNDS="${BENCH_ROUNDS:-3}"
SMALL="${BENCH_SMALL_KEYS:-1000}"
LARGE="${BENCH_LARGE_KEYS:-1000000}"
CREATE_N="${BENCH_CREATE_KEYS:-20000}"
LOAD_JOBS="${BENCH_LOAD_JOBS:-2}"
PORT="${BENCH_PORT:-54350}"
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
RESULTS="${DIR}/results"      # lines: case clients round tps
REPORT="${DIR}/report"
: >"${RESULTS}"

# Later lines win over the `fsync = off` that cluster_start writes.
say "starting a throwaway cluster in ${DIR} (port ${PORT})"
cluster_start "${DIR}" "${PORT}" "fsync = on
synchronous_commit = on
full_page_writes = on
shared_buffers = ${BENCH_SHARED_BUFFERS:-1GB}
max_wal_size = 4GB
shared_preload_libraries = 'api_keys'
api_keys.usage_databases = 'bench_usage'
api_keys.usage_flush_interval = 1"
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

# setup_db DB NKEYS: the extension, NKEYS real keys, the plain-SQL twin of the
# key table, the RLS tables.
setup_db() {
    local db="$1" n="$2"
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
say "loading ${LARGE} keys into bench_large (${LOAD_JOBS} sessions)"
setup_db bench_large "${LARGE}"
psql_su -d postgres -c "CREATE DATABASE bench_create"
psql_su -d bench_create -c "CREATE EXTENSION api_keys"
# Usage counts are on for this database only (api_keys.usage_databases).
psql_su -d postgres -c "CREATE DATABASE bench_usage"
psql_su -d bench_usage -c "CREATE EXTENSION api_keys"
psql_su -d postgres -c "CHECKPOINT"
cat "${DIR}/load" >&2

HOT_KEY="$(psql_val -d bench_small -c "SELECT key FROM bench_keys WHERE i = 1")"

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
for db in bench_small bench_large; do
    n=$([ "${db}" = bench_small ] && echo "${SMALL}" || echo "${LARGE}")
    check "${db}: key rows" "$(psql_val -d "${db}" -c "SELECT count(*) FROM api_keys.keys")" "${n}"
    check "${db}: sample of bench_keys verifies as valid" "$(psql_val -d "${db}" -U bench_app -c "
        SELECT count(*) FILTER (WHERE v.code = 'valid') || '/' || count(*)
          FROM (SELECT key FROM bench_keys ORDER BY random() LIMIT 200) k,
               LATERAL api_keys.apikey_verify(k.key, '${SCOPE_REQ}', '${CLIENT_IP}') v")" \
        "$(( n < 200 ? n : 200 ))/$(( n < 200 ? n : 200 ))"
    check "${db}: plain lookup finds the key" "$(psql_val -d "${db}" -U bench_app -c "
        SELECT count(*) FROM bench_plain WHERE digest = sha256('${HOT_KEY}'::bytea)")" "$([ "${db}" = bench_small ] && echo 1 || echo 0)"
done
check "bench_app_notrack has tracking off" "$(psql_val -d bench_small -U bench_app_notrack -c "
    SELECT (api_keys.apikey_verify('${HOT_KEY}', '${SCOPE_REQ}', '${CLIENT_IP}')).code; SHOW api_keys.last_used_resolution" | tr '\n' ' ')" "valid -1 "
check "bench_app has tracking on" "$(psql_val -d bench_small -U bench_app -c "
    SELECT (api_keys.apikey_verify('${HOT_KEY}', '${SCOPE_REQ}', '${CLIENT_IP}')).code; SHOW api_keys.last_used_resolution" | tr '\n' ' ')" "valid 1min "
check "a verification by bench_app recorded its use" "$(psql_val -d bench_small -c "
    SELECT last_used_at IS NOT NULL FROM api_keys.keys WHERE digest = sha256('${HOT_KEY}'::bytea)")" "t"
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
    rate_limit => 2000000000, rate_window => '1 minute')")"
# The same key in the database whose usage is counted.
USAGE_KEY="$(psql_val -d bench_usage -c "SELECT key FROM api_keys.apikey_create('tenant1', 'counted',
    '{read:projects/*, write:projects/42}', NULL, '{10.0.0.0/8, 2001:db8::/32}', 'live', '{}')")"
check "the counted key verifies as valid" "$(psql_val -d bench_usage -U bench_app -c "
    SELECT code FROM api_keys.apikey_verify('${USAGE_KEY}', '${SCOPE_REQ}', '${CLIENT_IP}')")" "valid"
check "the rate-limited key verifies as valid" "$(psql_val -d bench_small -U bench_app -c "
    SELECT code || ' ' || (remaining > 0) FROM api_keys.apikey_verify('${LIMITED_KEY}', '${SCOPE_REQ}', '${CLIENT_IP}')")" "valid true"
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
        "verify_hot_counted|bench_usage|bench_app|verify_hot|${c}|key=${USAGE_KEY} ${V}"
        "plain_random_1k|bench_small|bench_app|plain_random|${c}|nkeys=${SMALL}"
        "verify_random_1k|bench_small|bench_app|verify_random|${c}|nkeys=${SMALL} ${V}"
        "plain_random_1m|bench_large|bench_app|plain_random|${c}|nkeys=${LARGE}"
        "verify_random_1m|bench_large|bench_app|verify_random|${c}|nkeys=${LARGE} ${V}"
        "verify_random_1k_notrack|bench_small|bench_app_notrack|verify_random|${c}|nkeys=${SMALL} ${V}"
        "verify_random_1m_notrack|bench_large|bench_app_notrack|verify_random|${c}|nkeys=${LARGE} ${V}"
        "rls|bench_small|bench_app|rls|${c}|key=${HOT_KEY} ${V}"
        "rls_plain|bench_small|bench_app|rls_plain|${c}|key=${HOT_KEY}"
    )
done
CASES+=("create_txn|bench_create|postgres|create_txn|1|grants={read:projects/*,write:projects/42} cidrs={10.0.0.0/8}")
CASES+=("create_batch|bench_create|postgres|-|1|")

# run_case ROUND SPEC: one pgbench run (or the batch creation), TPS appended to RESULTS.
run_case() {
    local round="$1" name db role script clients vars tps out t0 t1
    IFS='|' read -r name db role script clients vars <<<"$2"
    if [ "${script}" = - ]; then
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
    else
        local args=(-n -M prepared -c "${clients}" -j "${clients}" -T "${SECONDS_PER_RUN}"
                    -U "${role}" -f "${SQL}/${script}.sql")
        local v list
        read -ra list <<<"${vars}"
        for v in "${list[@]}"; do args+=(-D "${v}"); done
        if ! out="$(pgbench "${args[@]}" "${db}" 2>&1)"; then
            echo "${out}" >&2
            echo "pgbench failed: ${name} (${clients} clients)" >&2
            exit 1
        fi
        tps=$(sed -nE 's/^tps = ([0-9.]+) \(without initial connection time\)$/\1/p' <<<"${out}")
        if [ -z "${tps}" ] || grep -qE '^number of failed transactions: [1-9]' <<<"${out}"; then
            echo "${out}" >&2
            echo "pgbench run without a result: ${name} (${clients} clients)" >&2
            exit 1
        fi
    fi
    echo "${name} ${clients} ${round} ${tps}" >>"${RESULTS}"
    printf '  round %d  %-26s c=%s  %12s\n' "${round}" "${name}" "${clients}" "${tps}" >&2
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
    awk -v small="${SMALL}" -v large="${LARGE}" -f "${BENCH}/report.awk" "${RESULTS}"
} >"${REPORT}"
cat "${REPORT}"
[ -n "${BENCH_OUT:-}" ] && cp "${REPORT}" "${BENCH_OUT}"
exit 0
