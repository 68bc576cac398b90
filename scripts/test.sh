#!/usr/bin/env bash
# Runs every test of the project on every PostgreSQL version it supports,
# installing whatever is missing first:
#   lint   cargo fmt --check; cargo clippy -D warnings, tests included (for 15, and 18 when tested)
#   core   the pure core's unit and property tests   (cargo test -p api_keys_core)
#   then, for each of PostgreSQL 15, 16, 17 and 18, on clusters of that version:
#     pg_test  the #[pg_test]s of the pgrx layer     (cargo pgrx test pgNN)
#     sql      pg_regress and the scenario tests     (tests/run_sql_tests.sh, release build)
#     bench    a smoke run of the benchmarks         (bench/smoke.sh: seconds, no thresholds)
#   packages  the .deb for 15 and the tarballs for 16-18 (scripts/package.sh),
#             installed and tested (tests/package_test.sh)
#   checkout  the demo and SQL tests from a copy of the checkout in a mode-700
#             directory, which the PostgreSQL OS user cannot enter (tests/checkout_test.sh)
# Prints a line per version, then `all: N passed, M failed`. A test that did
# not run counts as failed; a scenario that cannot run on a version is
# reported as skipped, with its reason, and is not counted as passed.
# Safe to run again. Usage: scripts/test.sh [MAJOR...]   (default: all versions)
source "$(dirname "$0")/common.sh"

if [ "$(id -u)" != 0 ] && [ -z "${API_KEYS_NO_SUDO:-}" ]; then
    # Installing into the servers' trees needs root.
    exec sudo --preserve-env=PATH,HOME,CARGO_HOME,RUSTUP_HOME bash "$0" "$@"
fi

VERSIONS=("${@:-${PG_VERSIONS[@]}}")
for v in "${VERSIONS[@]}"; do
    [[ " ${PG_VERSIONS[*]} " == *" ${v} "* ]] || { echo "unknown PostgreSQL version ${v}; known: ${PG_VERSIONS[*]}" >&2; exit 2; }
done
install_prerequisites "${VERSIONS[@]}"
cd "${ROOT}"
LOG="$(mktemp -d /tmp/api_keys.test.XXXXXX)"
trap 'rm -rf "${LOG}"' EXIT
T0=$(date +%s)
export API_KEYS_WAIT_LOG="${LOG}/lock_waits"   # seconds spent waiting for other checkouts' locks
status=0

# Results, one line per group in ${LOG}/results: "GROUP WHAT PASSED FAILED SKIPPED".
result() { echo "$*" >>"${LOG}/results"; }
# one_check GROUP WHAT CMD...: a command that is one test (passes or fails).
one_check() {
    local group="$1" what="$2"; shift 2
    if "$@" >"${LOG}/${group}.${what}.out" 2>&1; then
        echo "ok - ${what}"; result "${group}" "${what}" 1 0 0
    else
        cat "${LOG}/${group}.${what}.out"; echo "not ok - ${what}"; result "${group}" "${what}" 0 1 0; status=1
    fi
}
# cargo_counts GROUP WHAT EXPECTED LOGFILE RC: the counts of cargo's
# `test result:` lines; when the run failed, every expected test that did
# not pass is a failure (at least one).
cargo_counts() {
    local group="$1" what="$2" expected="$3" log="$4" rc="$5" p f
    p=$(grep -oE '[0-9]+ passed;' "${log}" | awk '{ n += $1 } END { print n + 0 }')
    f=$(grep -oE '[0-9]+ failed;' "${log}" | awk '{ n += $1 } END { print n + 0 }')
    if [ "${rc}" != 0 ]; then
        status=1
        [ $((p + f)) -ge "${expected}" ] || f=$((expected - p))
        [ "${f}" -gt 0 ] || f=1
    fi
    result "${group}" "${what}" "${p}" "${f}" 0
}

say "lint: cargo fmt --check, cargo clippy -D warnings"
one_check lint fmt cargo fmt --all --check
# The tests too (--all-targets, pg_test). The code that differs by version
# is for 15 (the default) or 18, or not: both are checked.
one_check lint clippy cargo clippy --all-targets --features pg_test -- -D warnings
if [[ " ${VERSIONS[*]} " == *" 18 "* ]]; then
    one_check lint clippy-pg18 cargo clippy --all-targets --no-default-features --features "pg18 pg_test" -- -D warnings
fi

say "core: unit and property tests"
rc=0; cargo test -p api_keys_core 2>&1 | tee "${LOG}/core.log" || rc=$?
cargo_counts core tests 1 "${LOG}/core.log" "${rc}"

for v in "${VERSIONS[@]}"; do
    use_pg "${v}"
    g="pg${v}"
    # This version's server tree is ours until its tests are done: no other
    # checkout can install its build between our install and our tests.
    lock_install exclusive
    say "PostgreSQL ${v}: #[pg_test] tests"
    PGDATA_DIR="$(scratch_dir pgtest)"
    rc=0
    cargo pgrx test "pg${v}" --runas "$(pg_os_user)" --pgdata "${PGDATA_DIR}/data" \
        2>&1 | tee "${LOG}/${g}.pgtest.log" || rc=$?
    rm -rf "${PGDATA_DIR}"
    cargo_counts "${g}" pg_test "$(grep -c '#\[pg_test' src/tests.rs)" "${LOG}/${g}.pgtest.log" "${rc}"

    say "PostgreSQL ${v}: SQL-level tests"
    rc=0
    API_KEYS_RELEASE=1 bash tests/run_sql_tests.sh --install 2>&1 | tee "${LOG}/${g}.sql.log" || rc=$?
    if line="$(grep -E '^sql: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "${LOG}/${g}.sql.log" | tail -1)"; then
        read -r p f s <<<"$(awk '{ print $2, $4, $6 }' <<<"${line}")"
        [ "${rc}" = 0 ] || [ "${f}" -gt 0 ] || f=1
        result "${g}" sql "${p}" "${f}" "${s}"
    else
        # The runner died before its summary: none of its tests counts as run.
        n=$(( $(awk '$1 == "test:" { n += NF - 1 } END { print n + 0 }' tests/pg_regress/schedule) \
              + $(ls tests/scenarios/*.py tests/scenarios/*.sh | grep -vcE '/(common.py|lib.sh)$') ))
        result "${g}" sql 0 "${n}" 0
    fi
    [ "${rc}" = 0 ] || status=1
    grep -E '^skip - |# part skipped' "${LOG}/${g}.sql.log" | sed -E "s/^(skip|ok) - /PostgreSQL ${v}: /" >>"${LOG}/skips" || true

    say "PostgreSQL ${v}: benchmark smoke run"
    one_check "${g}" bench bash bench/smoke.sh
    unlock_install
done

say "packages: build (scripts/package.sh) and install them (tests/package_test.sh)"
rc=0
bash scripts/package.sh "${VERSIONS[@]}" 2>&1 | tee "${LOG}/package.log" || rc=$?
if [ "${rc}" = 0 ]; then
    rc=0
    bash tests/package_test.sh "${VERSIONS[@]}" 2>&1 | tee -a "${LOG}/package.log" || rc=$?
    p=$(grep -cE '^ok - ' "${LOG}/package.log" || true)
    f=$(grep -cE '^not ok - ' "${LOG}/package.log" || true)
    [ "${rc}" = 0 ] || [ "${f}" -gt 0 ] || f=1
    result packages tests "${p}" "${f}" 0
else
    result packages tests 0 "${#VERSIONS[@]}" 0   # no package to test: one failure per version
fi
[ "${rc}" = 0 ] || status=1

if [[ " ${VERSIONS[*]} " == *" 15 "* ]]; then
    say "checkout: the demo and SQL tests from a copy in a mode-700 directory (tests/checkout_test.sh)"
    rc=0
    bash tests/checkout_test.sh 2>&1 | tee "${LOG}/checkout.log" || rc=$?
    p=$(grep -cE '^ok - ' "${LOG}/checkout.log" || true)
    result checkout tests "${p}" $(( p < 2 ? 2 - p : 0 )) 0   # two checks; one not run is a failure
    [ "${rc}" = 0 ] || status=1
fi

# The summary: a line per group, then the total (other tooling greps it).
echo
[ -s "${LOG}/skips" ] && { echo "skipped (whole tests, or # parts of passing ones):"; sed 's/^/  /' "${LOG}/skips"; }
awk '{ p[$1] += $3; f[$1] += $4; s[$1] += $5; d[$1] = d[$1] sprintf(" %s %d/%d", $2, $3, $3 + $4 + $5)
       if (!($1 in seen)) { seen[$1] = 1; order[++n] = $1 } }
     END { for (i = 1; i <= n; i++) { g = order[i]
             printf "%s: %d passed, %d failed, %d skipped (%s )\n", g, p[g], f[g], s[g], d[g] } }' "${LOG}/results"
read -r P F <<<"$(awk '{ p += $3; f += $4 } END { print p + 0, f + 0 }' "${LOG}/results")"
[ "${status}" = 0 ] || [ "${F}" -gt 0 ] || F=1
W=$(awk '{ n += $1 } END { print n + 0 }' "${API_KEYS_WAIT_LOG}" 2>/dev/null || echo 0)
echo "time: $(( ($(date +%s) - T0) / 60 )) min $(( ($(date +%s) - T0) % 60 )) s, of which $(( W / 60 )) min $(( W % 60 )) s waiting for other checkouts' install locks"
echo "all: ${P} passed, ${F} failed"
exit "${status}"
