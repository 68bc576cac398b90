#!/usr/bin/env bash
# SQL-level tests: a throwaway cluster, the pg_regress suite (tests/pg_regress,
# one behaviour per file, expected output beside it), then the scenario tests
# (tests/scenarios: several real sessions, pg_dump/restore, pgbouncer).
#
#   tests/run_sql_tests.sh            test what is installed
#   tests/run_sql_tests.sh --install  build and install this checkout first
#                                     (API_KEYS_RELEASE=1: a release build)
#   PG_MAJOR=17 tests/run_sql_tests.sh ...   against PostgreSQL 17 (default 15)
# Either way no other checkout can swap the installed extension meanwhile.
# Servers run as the PostgreSQL OS user; every client (pg_regress, psql, the
# scenario tests) runs as the invoking user, so the checkout need not be
# readable by anyone else.
#
# A scenario that cannot run on this server says why on a line `skip: REASON`
# and exits with status 77: it is reported as skipped, never as passed, and
# never silently left out. Any other non-zero status is a failure. A scenario
# that passes with such a line had a part that could not run here: it is
# reported as `ok - NAME # part skipped: REASON`.
source "$(dirname "$0")/../scripts/common.sh"
if ! holding_install_lock; then
    mode=shared
    [ "${1:-}" = "--install" ] && mode=exclusive
    with_install_lock "${mode}" bash "$0" "$@"
    exit $?
fi
[ "${1:-}" = "--install" ] && install_extension

PORT="${API_KEYS_TEST_PORT:-54329}"
DIR="$(scratch_dir sqltests)"
passed=0
failed=0
skipped=0
failures=()
skips=()

cleanup() {
    cluster_stop "${DIR}"
    [ "${KEEP_TEST_DIR:-0}" = 1 ] || rm -rf "${DIR}"
}
trap cleanup EXIT

say "starting a throwaway cluster in ${DIR}"
cluster_start "${DIR}" "${PORT}" "shared_preload_libraries = 'api_keys'"
export PGHOST="${DIR}/sock" PGPORT="${PORT}" PGUSER=postgres PGDATABASE=postgres
export API_KEYS_TEST_DIR="${DIR}"

say "pg_regress suite (PostgreSQL ${PG_MAJOR})"
mkdir -p "${DIR}/regress"
# Debian's pg_regress and psql (--bindir) as clients of this version's server.
if "${PG_REGRESS}" \
        --host="${PGHOST}" --port="${PORT}" --user=postgres \
        --bindir="${CLIENT_BIN}" \
        --inputdir="${ROOT}/tests/pg_regress" \
        --outputdir="${DIR}/regress" \
        --schedule="${ROOT}/tests/pg_regress/schedule" \
        --dbname=api_keys_regress >"${DIR}/regress/pg_regress.out" 2>&1; then
    n=$(grep -cE '^(ok|test) ' "${DIR}/regress/pg_regress.out" || true)
    cat "${DIR}/regress/pg_regress.out" | grep -E '^(ok|not ok|test |#)' || true
    passed=$((passed + n))
else
    cat "${DIR}/regress/pg_regress.out"
    [ -f "${DIR}/regress/regression.diffs" ] && cat "${DIR}/regress/regression.diffs"
    # Every test of the schedule that did not pass failed, whether it ran or not.
    n_ok=$(grep -cE '^ok |\.\.\. ok' "${DIR}/regress/pg_regress.out" || true)
    n_all=$(awk '$1 == "test:" { n += NF - 1 } END { print n + 0 }' "${ROOT}/tests/pg_regress/schedule")
    passed=$((passed + n_ok))
    failed=$((failed + (n_all - n_ok > 0 ? n_all - n_ok : 1)))
    failures+=("pg_regress")
fi

say "scenario tests"
PY="$(python_with_psycopg)"
export PY
for t in "${ROOT}"/tests/scenarios/*; do
    name="$(basename "$t")"
    case "$t" in
        */common.py | */lib.sh) continue ;;
        *.py) cmd=("${PY}" "$t") ;;
        *.sh) cmd=(bash "$t") ;;
        *) continue ;;
    esac
    # API_KEYS_ONLY=REGEX runs only the scenarios whose file name matches.
    if [ -n "${API_KEYS_ONLY:-}" ] && [[ ! "${name}" =~ ${API_KEYS_ONLY} ]]; then continue; fi
    rc=0
    "${cmd[@]}" >"${DIR}/${name}.log" 2>&1 || rc=$?
    if [ "${rc}" = 0 ]; then
        # A part that could not run on this server is named, with its reason.
        if grep -q '^skip: ' "${DIR}/${name}.log"; then
            echo "ok - ${name} # part skipped: $(grep '^skip: ' "${DIR}/${name}.log" | cut -c7- | paste -sd ';')"
        else
            echo "ok - ${name}"
        fi
        passed=$((passed + 1))
    elif [ "${rc}" = 77 ] && grep -q '^skip: ' "${DIR}/${name}.log"; then
        reason="$(grep -m1 '^skip: ' "${DIR}/${name}.log" | cut -c7-)"
        echo "skip - ${name}: ${reason}"
        skipped=$((skipped + 1))
        skips+=("${name}")
    else
        echo "not ok - ${name}"
        sed 's/^/    /' "${DIR}/${name}.log"
        failed=$((failed + 1))
        failures+=("${name}")
    fi
done

if [ "${failed}" -gt 0 ]; then
    echo "failed: ${failures[*]}"
    echo "server log tail:"
    tail -n 30 "${DIR}/server.log" | sed 's/^/    /'
fi
[ "${skipped}" -gt 0 ] && echo "skipped: ${skips[*]}"
echo "sql: ${passed} passed, ${failed} failed, ${skipped} skipped"
[ "${failed}" -eq 0 ]
