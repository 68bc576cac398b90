#!/usr/bin/env bash
# The README's commands from a checkout that the PostgreSQL OS user cannot
# enter, as a new user's clone in root's home directory (mode 700 on Debian):
# copies this checkout's files into a new mode-700 directory and runs there
#   - scripts/demo.sh (builds and installs the extension, runs examples/demo.sql);
#   - tests/run_sql_tests.sh: the pg_regress suite and the scenario tests that
#     read files of the checkout (docs, README, examples, sql/releases), against
#     the build the demo installed.
# On PostgreSQL 15 (the demo's), holding its install lock exclusively. The
# copy shares this checkout's target directory, so only the extension crate
# itself is compiled again. Prints `ok - ...` / `not ok - ...` per check.
# Usage: tests/checkout_test.sh
source "$(dirname "$0")/../scripts/common.sh"
use_pg 15
if ! holding_install_lock; then
    with_install_lock exclusive bash "$0" "$@"
    exit $?
fi

HOME700="$(mktemp -d /tmp/api_keys.home700.XXXXXX)"   # mktemp -d makes it mode 700
trap 'rm -rf "${HOME700}"' EXIT
chmod 700 "${HOME700}"
COPY="${HOME700}/api_keys"
mkdir "${COPY}"
# The checkout's files as they are (committed or not), without build output.
(cd "${ROOT}" && git ls-files -z --cached --others --exclude-standard) \
    | tar -C "${ROOT}" --null --no-recursion -T - -cf - | tar -xf - -C "${COPY}"
status=0
if runuser -u postgres -- test -r "${COPY}/README.md" 2>/dev/null; then
    echo "not ok - the copy is readable by postgres: this test would prove nothing"; exit 1
fi

if CARGO_TARGET_DIR="${ROOT}/target" bash "${COPY}/scripts/demo.sh" >"${HOME700}/demo.out" 2>&1 \
        && grep -qE '^ *f *[|] *revoked' "${HOME700}/demo.out"; then
    echo "ok - scripts/demo.sh from a mode-700 checkout"
else
    sed 's/^/    /' "${HOME700}/demo.out"; echo "not ok - scripts/demo.sh from a mode-700 checkout"; status=1
fi

# The scenario tests that read files of the checkout. A name that no longer
# exists fails here, so a rename cannot shrink what this test covers.
scenarios=(doc_examples released_scripts upgrade rls_multi_tenant dump_restore)
for s in "${scenarios[@]}"; do
    if [ ! -e "${COPY}/tests/scenarios/${s}.py" ]; then
        echo "not ok - tests/scenarios/${s}.py, named by this test, does not exist"; status=1
    fi
done
API_KEYS_ONLY="^($(IFS='|'; echo "${scenarios[*]}"))\\." \
    bash "${COPY}/tests/run_sql_tests.sh" >"${HOME700}/sql.out" 2>&1 || true
line="$(grep -E '^sql: [0-9]+ passed, [0-9]+ failed' "${HOME700}/sql.out" | tail -1 || true)"
want=$(( $(awk '$1 == "test:" { n += NF - 1 } END { print n + 0 }' "${COPY}/tests/pg_regress/schedule") + ${#scenarios[@]} ))
if [ -n "${line}" ] && [ "$(awk '{ print $4 }' <<<"${line}")" = 0 ] && [ "$(awk '{ print $2 }' <<<"${line}")" = "${want}" ]; then
    echo "ok - pg_regress and ${#scenarios[@]} scenario tests from a mode-700 checkout (${want} passed)"
else
    sed 's/^/    /' "${HOME700}/sql.out"
    echo "not ok - pg_regress and scenario tests from a mode-700 checkout (${line:-no summary})"; status=1
fi
exit "${status}"
