# Shared by the shell scenario tests, which start clusters of their own
# (source it first): scripts/common.sh, PY (Python with psycopg, which finds
# tests/scenarios/common.py for its check, connect and wait_until), a
# scratch directory DIR removed at exit with every cluster started in it
# stopped (KEEP_TEST_DIR=1 keeps it), and small helpers.
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/common.sh"
PY="${PY:-$(python_with_psycopg)}"
export PYTHONPATH="${ROOT}/tests/scenarios${PYTHONPATH:+:${PYTHONPATH}}"
# Clusters listen on a Unix socket in their own directory only: one port
# number serves them all, and no two runs can collide on it.
CLUSTER_PORT=5432
SCENARIO_CLUSTERS=()
SERVER_LOG=""

# scenario NAME: make DIR, this test's scratch directory.
scenario() {
    DIR="$(scratch_dir "$1")"
    trap scenario_cleanup EXIT
}

scenario_cleanup() {
    local c
    for c in "${SCENARIO_CLUSTERS[@]}"; do cluster_stop "${c}"; done
    [ "${KEEP_TEST_DIR:-0}" = 1 ] || rm -rf "${DIR}"
}

# start_cluster PATH [postgresql.conf lines]: a cluster in PATH (DIR itself
# or a directory under it), with PGHOST, PGPORT and PGUSER pointing at it.
start_cluster() {
    cluster_start "$1" "${CLUSTER_PORT}" "${2:-}"
    SCENARIO_CLUSTERS+=("$1")
    SERVER_LOG="$1/server.log"
    export PGHOST="$1/sock" PGPORT="${CLUSTER_PORT}" PGUSER=postgres
}

# restart_cluster PATH MODE: stop the cluster (fast, immediate...) and start it again.
restart_cluster() {
    as_pg "${PG_BIN}/pg_ctl" -D "$1/data" -m "$2" -w stop >/dev/null
    as_pg "${PG_BIN}/pg_ctl" -D "$1/data" -l "$1/server.log" -w -t 60 start >/dev/null
}

fail() {
    echo "FAIL: $*" >&2
    [ -z "${SERVER_LOG}" ] || tail -20 "${SERVER_LOG}" >&2
    exit 1
}
ok() { echo "ok: $*"; }
q() { "${CLIENT_BIN}/psql" -X -q -At -v ON_ERROR_STOP=1 "$@"; }
