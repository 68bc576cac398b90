#!/usr/bin/env bash
# Tests the packages of scripts/package.sh (in target/packages/) as a user
# without Rust would use them:
#   15     apt-get install ./postgresql-15-api-keys_V_amd64.deb, a fresh cluster,
#          the demo (examples/demo.sql) and the pg_regress suite against it, then
#          apt-get remove --purge, which must leave none of its files behind;
#   16-18  unpack the tarball, install it as its INSTALL note says into the
#          matching server tree, and run the pg_regress suite there.
# Each version runs under its install lock, held exclusively: the extension
# that was installed in the tree before (a development build) is put back
# afterwards, whatever happens, so later test runs find what they expect.
# Prints `ok - ...` / `not ok - ...` per check.
# Usage: tests/package_test.sh [MAJOR...]   (default: every version)
source "$(dirname "$0")/../scripts/common.sh"
OUT="${API_KEYS_PACKAGE_DIR:-${ROOT}/target/packages}"
VERSION="$(sed -n 's/^version = "\(.*\)"$/\1/p' "${ROOT}/Cargo.toml" | head -1)"

if [ "${1:-}" != "--locked" ]; then
    status=0
    for v in "${@:-${PG_VERSIONS[@]}}"; do
        use_pg "${v}"
        with_install_lock exclusive env PG_MAJOR="${v}" bash "$0" --locked || status=1
    done
    exit "${status}"
fi

# One version (PG_MAJOR), holding its install lock.
LIBDIR="$("${PG_CONFIG}" --pkglibdir)"
EXTDIR="$("${PG_CONFIG}" --sharedir)/extension"
WORK="$(scratch_dir "package${PG_MAJOR}")"
DIR="${WORK}/cluster"
status=0
ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; status=1; }

# Put back what was installed before.
mkdir -p "${WORK}/saved"
cp -a "${LIBDIR}/api_keys.so" "${EXTDIR}"/api_keys* "${WORK}/saved/" 2>/dev/null || true
restore() {
    cluster_stop "${DIR}"
    if [ "${PG_MAJOR}" = 15 ] && dpkg-query -W -f='${Status}' postgresql-15-api-keys 2>/dev/null | grep -q installed; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq --purge postgresql-15-api-keys >/dev/null || true
    fi
    rm -f "${LIBDIR}/api_keys.so" "${EXTDIR}"/api_keys*
    for f in "${WORK}"/saved/*; do
        [ -e "$f" ] || continue
        case "$f" in *.so) as_root cp -a "$f" "${LIBDIR}/" ;; *) as_root cp -a "$f" "${EXTDIR}/" ;; esac
    done
    rm -rf "${WORK}"
}
trap restore EXIT
# Nothing of ours in the tree: what the tests see comes from the package.
as_root rm -f "${LIBDIR}/api_keys.so" "${EXTDIR}"/api_keys*

# run_regress NAME: the pg_regress suite against the running cluster.
run_regress() {
    mkdir -p "${WORK}/regress"
    if "${PG_REGRESS}" \
            --host="${DIR}/sock" --port=5432 --user=postgres --bindir="${CLIENT_BIN}" \
            --inputdir="${ROOT}/tests/pg_regress" --outputdir="${WORK}/regress" \
            --schedule="${ROOT}/tests/pg_regress/schedule" --dbname=api_keys_regress \
            >"${WORK}/regress/out" 2>&1; then
        ok "$1: pg_regress suite ($(grep -cE '^(ok|test) ' "${WORK}/regress/out") tests)"
    else
        sed 's/^/    /' "${WORK}/regress/out"
        [ -f "${WORK}/regress/regression.diffs" ] && sed 's/^/    /' "${WORK}/regress/regression.diffs"
        not_ok "$1: pg_regress suite"
    fi
}

if [ "${PG_MAJOR}" = 15 ]; then
    DEB="${OUT}/postgresql-15-api-keys_${VERSION}_amd64.deb"
    [ -f "${DEB}" ] || { not_ok "no ${DEB} (run scripts/package.sh)"; exit 1; }
    # apt fetches local files as its sandbox user: give it a copy it can read.
    cp "${DEB}" "${WORK}/" && chmod 644 "${WORK}/$(basename "${DEB}")"
    if as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${WORK}/$(basename "${DEB}")" >"${WORK}/apt.log" 2>&1 \
            && [ -f "${LIBDIR}/api_keys.so" ] && [ -f "${EXTDIR}/api_keys--${VERSION}.sql" ]; then
        ok "deb: apt-get install ./$(basename "${DEB}")"
    else
        sed 's/^/    /' "${WORK}/apt.log"; not_ok "deb: apt-get install ./$(basename "${DEB}")"; exit 1
    fi
    cluster_start "${DIR}" 5432 "shared_preload_libraries = 'api_keys'"
    if "${CLIENT_BIN}/psql" -X -h "${DIR}/sock" -p 5432 -U postgres -d postgres -v ON_ERROR_STOP=1 \
            -f "${ROOT}/examples/demo.sql" >"${WORK}/demo.out" 2>&1 \
            && grep -qE '^ *f *[|] *revoked' "${WORK}/demo.out"; then
        ok "deb: CREATE EXTENSION and the demo in a fresh cluster"
    else
        sed 's/^/    /' "${WORK}/demo.out"; not_ok "deb: the demo"
    fi
    run_regress deb
    cluster_stop "${DIR}"
    files="$(dpkg-query -L postgresql-15-api-keys | grep -E 'api_keys' || true)"
    if as_root env DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq --purge postgresql-15-api-keys >"${WORK}/apt.log" 2>&1 \
            && ! dpkg-query -W -f='${Status}' postgresql-15-api-keys 2>/dev/null | grep -q installed \
            && [ -n "${files}" ] && ! ls -d ${files} >/dev/null 2>&1; then
        ok "deb: apt-get remove --purge leaves none of its $(wc -l <<<"${files}") files"
    else
        sed 's/^/    /' "${WORK}/apt.log"; not_ok "deb: apt-get remove --purge"
    fi
else
    TAR="${OUT}/api_keys-${VERSION}-pg${PG_MAJOR}-x86_64-linux.tar.gz"
    [ -f "${TAR}" ] || { not_ok "no ${TAR} (run scripts/package.sh)"; exit 1; }
    tar -xzf "${TAR}" -C "${WORK}"
    TOP="${WORK}/$(basename "${TAR}" .tar.gz)"
    # The note's install command, as a user would run it: this tree's pg_config first in PATH.
    if [ "$(wc -l <"${TOP}/INSTALL")" = 2 ] && [ -f "${TOP}/lib/postgresql/api_keys.so" ] \
            && (cd "${TOP}" && PATH="${PG_BIN}:${PATH}" as_root bash -euo pipefail -c "$(sed -n 2p INSTALL)") \
            && [ -f "${LIBDIR}/api_keys.so" ] && [ -f "${EXTDIR}/api_keys--${VERSION}.sql" ]; then
        ok "tarball pg${PG_MAJOR}: installed as its two-line INSTALL note says"
    else
        not_ok "tarball pg${PG_MAJOR}: install"; exit 1
    fi
    cluster_start "${DIR}" 5432 "shared_preload_libraries = 'api_keys'"
    run_regress "tarball pg${PG_MAJOR}"
fi
exit "${status}"
