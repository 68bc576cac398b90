#!/usr/bin/env bash
# Build this checkout with --release and put it, with a private copy of the
# system's PostgreSQL 15, into a directory of its own, so that a release build
# can be benchmarked without installing it into the shared system directories
# (the tests install a debug build there, which is several times slower).
#
# Usage:   bash bench/release_tree.sh [TREE]       (default TREE: /tmp/api_keys.release-tree)
# Then:    BENCH_PG_BIN=TREE/usr/lib/postgresql/15/bin bash bench/run.sh
#
# PostgreSQL finds its share and lib directories relative to its binary, so a
# copy of /usr/lib/postgresql/15 and /usr/share/postgresql/15 under TREE loads
# the extension from TREE. The build uses its own target directory
# (BENCH_TARGET_DIR, default /tmp/api_keys.release-target) and touches
# nothing outside it and TREE.
source "$(dirname "$0")/../scripts/common.sh"
TREE="${1:-/tmp/api_keys.release-tree}"
TARGET="${BENCH_TARGET_DIR:-/tmp/api_keys.release-target}"

say "building a release package (cargo pgrx package) into ${TARGET}"
(cd "${ROOT}" && CARGO_TARGET_DIR="${TARGET}" cargo pgrx package --pg-config "${PG_CONFIG}" >&2)
PKG="${TARGET}/release/api_keys-pg${PG_MAJOR}"
[ -f "${PKG}/usr/lib/postgresql/${PG_MAJOR}/lib/api_keys.so" ] || { echo "no package in ${PKG}" >&2; exit 1; }

say "assembling ${TREE}"
rm -rf "${TREE}"
mkdir -p "${TREE}/usr/lib/postgresql" "${TREE}/usr/share/postgresql"
cp -a "/usr/lib/postgresql/${PG_MAJOR}" "${TREE}/usr/lib/postgresql/"
cp -a "/usr/share/postgresql/${PG_MAJOR}" "${TREE}/usr/share/postgresql/"
# Only this checkout's api_keys, not whatever is installed system-wide.
rm -f "${TREE}/usr/share/postgresql/${PG_MAJOR}/extension/api_keys"*
cp -a "${PKG}/usr/." "${TREE}/usr/"
chmod -R a+rX "${TREE}"
echo "${TREE}/usr/lib/postgresql/${PG_MAJOR}/bin"
