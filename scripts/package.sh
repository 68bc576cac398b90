#!/usr/bin/env bash
# Builds packages that install api_keys without a Rust toolchain:
#   PostgreSQL 15      postgresql-15-api-keys_<version>_amd64.deb   (Debian 12; depends on postgresql-15)
#   PostgreSQL 16-18   api_keys-<version>-pgNN-x86_64-linux.tar.gz  (any install of that major version:
#                      lib/postgresql/ and share/postgresql/extension/, and a two-line INSTALL note)
# into target/packages/ (or API_KEYS_PACKAGE_DIR). Release builds, made by
# `cargo pgrx package` against each version's pg_config.
# Usage: scripts/package.sh [MAJOR...]   (default: every version)
source "$(dirname "$0")/common.sh"

VERSIONS=("${@:-${PG_VERSIONS[@]}}")
install_prerequisites "${VERSIONS[@]}"
cd "${ROOT}"
VERSION="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)"
OUT="${API_KEYS_PACKAGE_DIR:-${ROOT}/target/packages}"
mkdir -p "${OUT}"

for v in "${VERSIONS[@]}"; do
    use_pg "${v}"
    say "PostgreSQL ${v}: release build (cargo pgrx package)"
    STAGE="${ROOT}/target/release/api_keys-pg${v}"
    rm -rf "${STAGE}"
    cargo pgrx package --pg-config "${PG_CONFIG}" >/dev/null
    # cargo pgrx package lays the files out under the pg_config's own paths.
    LIB="${STAGE}$("${PG_CONFIG}" --pkglibdir)"
    EXT="${STAGE}$("${PG_CONFIG}" --sharedir)/extension"
    [ -f "${LIB}/api_keys.so" ] && [ -f "${EXT}/api_keys.control" ] && [ -f "${EXT}/api_keys--${VERSION}.sql" ] \
        || { echo "cargo pgrx package left no complete package in ${STAGE}" >&2; exit 1; }
    # The newest glibc symbol version the library needs, for the notes.
    GLIBC="$(objdump -T "${LIB}/api_keys.so" | grep -oE 'GLIBC_[0-9.]+' | sort -V | tail -1 | cut -c7-)"

    WORK="$(mktemp -d)"
    chmod 755 "${WORK}"   # the package's root directory: never 700 (mktemp's mode)
    if [ "${v}" = 15 ]; then
        # A Debian package for Debian's postgresql-15, files where it looks for them.
        NAME="postgresql-15-api-keys"
        DEB="${OUT}/${NAME}_${VERSION}_amd64.deb"
        mkdir -p "${WORK}/DEBIAN" "${WORK}/usr/lib/postgresql/15/lib" "${WORK}/usr/share/postgresql/15/extension"
        install -m 644 "${LIB}/api_keys.so" "${WORK}/usr/lib/postgresql/15/lib/"
        install -m 644 "${EXT}"/api_keys* "${WORK}/usr/share/postgresql/15/extension/"
        cat >"${WORK}/DEBIAN/control" <<CONTROL
Package: ${NAME}
Version: ${VERSION}
Architecture: amd64
Maintainer: api_keys developers <api-keys@localhost>
Depends: postgresql-15, libc6 (>= ${GLIBC})
Section: database
Priority: optional
Installed-Size: $(du -sk "${WORK}/usr" | cut -f1)
Description: API keys inside PostgreSQL 15 (extension api_keys)
 Issues, verifies, rotates and revokes API keys in the database, and gives
 row-level-security policies the calling key. After installing, run
 CREATE EXTENSION api_keys; in each database that needs it.
CONTROL
        dpkg-deb --root-owner-group -Zxz --build "${WORK}" "${DEB}" >/dev/null
        say "made ${DEB}"
    else
        # A tarball laid out like a PostgreSQL installation prefix.
        NAME="api_keys-${VERSION}-pg${v}-x86_64-linux"
        TOP="${WORK}/${NAME}"
        mkdir -p "${TOP}/lib/postgresql" "${TOP}/share/postgresql/extension"
        install -m 755 "${LIB}/api_keys.so" "${TOP}/lib/postgresql/"
        install -m 644 "${EXT}"/api_keys* "${TOP}/share/postgresql/extension/"
        cat >"${TOP}/INSTALL" <<NOTE
api_keys ${VERSION} for PostgreSQL ${v} on x86_64 Linux (glibc ${GLIBC} or later). To install, in this directory, with that server's pg_config first in PATH:
cp lib/postgresql/* "\$(pg_config --pkglibdir)/" && cp share/postgresql/extension/* "\$(pg_config --sharedir)/extension/"
NOTE
        tar --owner=0 --group=0 --sort=name -C "${WORK}" -czf "${OUT}/${NAME}.tar.gz" "${NAME}"
        say "made ${OUT}/${NAME}.tar.gz"
    fi
    rm -rf "${WORK}"
done
