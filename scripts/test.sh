#!/usr/bin/env bash
# Runs every test of the project, installing whatever is missing first:
#   1. the pure core's unit and property tests   (cargo test -p api_keys_core)
#   2. the #[pg_test]s of the pgrx layer          (cargo pgrx test)
#   3. the SQL-level tests against a real server  (tests/run_sql_tests.sh)
#   4. a smoke run of the benchmarks               (bench/smoke.sh: seconds, no thresholds)
# Safe to run again. Usage: scripts/test.sh
source "$(dirname "$0")/common.sh"

if [ "$(id -u)" != 0 ] && [ -z "${API_KEYS_NO_SUDO:-}" ]; then
    # Installing into the system's PostgreSQL needs root.
    exec sudo --preserve-env=PATH,HOME,CARGO_HOME,RUSTUP_HOME bash "$0" "$@"
fi

install_prerequisites
cd "${ROOT}"
LOG="$(mktemp -d /tmp/api_keys.test.XXXXXX)"
trap 'rm -rf "${LOG}"' EXIT
status=0

say "1/4 core unit and property tests"
cargo test -p api_keys_core 2>&1 | tee "${LOG}/core.log" || status=1

say "2/4 #[pg_test] tests"
PGDATA_DIR="$(scratch_dir pgtest)"
with_install_lock exclusive cargo pgrx test pg15 --runas "$(pg_os_user)" --pgdata "${PGDATA_DIR}/data" 2>&1 | tee "${LOG}/pgtest.log" || status=1
rm -rf "${PGDATA_DIR}"

say "3/4 SQL-level tests"
bash tests/run_sql_tests.sh --install 2>&1 | tee "${LOG}/sql.log" || status=1

say "4/4 benchmark smoke run"
if bash bench/smoke.sh >"${LOG}/bench.out" 2>&1; then
    echo "bench: 1 passed, 0 failed" | tee "${LOG}/bench.log"
else
    cat "${LOG}/bench.out"
    echo "bench: 0 passed, 1 failed" | tee "${LOG}/bench.log"
    status=1
fi

# One closing line over all three kinds.
count() { grep -hoE "$1" "${LOG}"/*.log | awk '{ n += $1 } END { print n + 0 }'; }
p=$(( $(count '[0-9]+ passed;') + $(grep -hoE '^(sql|bench): [0-9]+' "${LOG}/sql.log" "${LOG}/bench.log" | awk '{ n += $2 } END { print n + 0 }') ))
f=$(( $(count '[0-9]+ failed;') + $(grep -hoE '[0-9]+ failed$' "${LOG}/sql.log" "${LOG}/bench.log" | awk '{ n += $1 } END { print n + 0 }') ))
[ "${status}" = 0 ] || [ "${f}" -gt 0 ] || f=1
echo
echo "all: ${p} passed, ${f} failed"
exit "${status}"
