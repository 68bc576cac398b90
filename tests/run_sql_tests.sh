#!/usr/bin/env bash
# SQL-level tests: a throwaway cluster, the pg_regress suite (tests/pg_regress,
# one behaviour per file, expected output beside it), then the scenario tests
# (tests/scenarios: several real sessions, pg_dump/restore, pgbouncer).
#
#   tests/run_sql_tests.sh            test what is installed
#   tests/run_sql_tests.sh --install  build and install this checkout first
# Either way no other checkout can swap the installed extension meanwhile.
source "$(dirname "$0")/../scripts/common.sh"
if [ "${API_KEYS_LOCKED:-0}" != 1 ]; then
    mode=shared
    [ "${1:-}" = "--install" ] && mode=exclusive
    with_install_lock "${mode}" bash "$0" "$@"
    exit $?
fi
[ "${1:-}" = "--install" ] && install_extension

PORT="${API_KEYS_TEST_PORT:-54329}"
DIR="$(scratch_dir sqltests)"
PG_REGRESS="$("${PG_CONFIG}" --pkglibdir)/pgxs/src/test/regress/pg_regress"
passed=0
failed=0
failures=()

cleanup() {
    cluster_stop "${DIR}"
    [ "${KEEP_TEST_DIR:-0}" = 1 ] || rm -rf "${DIR}"
}
trap cleanup EXIT

say "starting a throwaway cluster in ${DIR}"
cluster_start "${DIR}" "${PORT}" "shared_preload_libraries = 'api_keys'"
export PGHOST="${DIR}/sock" PGPORT="${PORT}" PGUSER=postgres PGDATABASE=postgres
export API_KEYS_TEST_DIR="${DIR}"

say "pg_regress suite"
as_pg mkdir -p "${DIR}/regress"
if as_pg "${PG_REGRESS}" \
        --host="${PGHOST}" --port="${PORT}" --user=postgres \
        --bindir="${PG_BIN}" \
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
    n_ok=$(grep -cE '^ok |\.\.\. ok' "${DIR}/regress/pg_regress.out" || true)
    n_bad=$(grep -cE '^not ok |\.\.\. FAILED' "${DIR}/regress/pg_regress.out" || true)
    passed=$((passed + n_ok))
    failed=$((failed + (n_bad > 0 ? n_bad : 1)))
    failures+=("pg_regress")
fi

say "scenario tests"
PY="$(python_with_psycopg)"
export PY
for t in "${ROOT}"/tests/scenarios/*; do
    name="$(basename "$t")"
    case "$t" in
        */common.py) continue ;;
        *.py) cmd=("${PY}" "$t") ;;
        *.sh) cmd=(bash "$t") ;;
        *) continue ;;
    esac
    if [ -n "${API_KEYS_ONLY:-}" ] && [[ "${name}" != *"${API_KEYS_ONLY}"* ]]; then continue; fi
    if "${cmd[@]}" >"${DIR}/${name}.log" 2>&1; then
        echo "ok - ${name}"
        passed=$((passed + 1))
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
echo "sql: ${passed} passed, ${failed} failed"
[ "${failed}" -eq 0 ]
