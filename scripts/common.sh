# Shared helpers for the project's scripts. Source it; do not run it.
#
# Everything here works as root (PostgreSQL then runs as the `postgres` OS
# user through runuser) and as a normal user (privileged steps use sudo).

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PG_MAJOR="${PG_MAJOR:-15}"
PG_BIN="/usr/lib/postgresql/${PG_MAJOR}/bin"
PG_CONFIG="${PG_BIN}/pg_config"
PGRX_VERSION="0.18.0"
export PATH="${HOME}/.cargo/bin:${PATH}"

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Run a command with root rights (directly when we are root).
as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi
}

# The OS user that runs PostgreSQL: `postgres` when we are root (PostgreSQL
# refuses to run as root), otherwise ourselves.
pg_os_user() {
    if [ "$(id -u)" = 0 ]; then echo postgres; else id -un; fi
}

# Run a command as the PostgreSQL OS user.
as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# Install what is missing: Debian packages, cargo-pgrx, pgrx's config.
install_prerequisites() {
    local pkgs=(postgresql-${PG_MAJOR} postgresql-server-dev-${PG_MAJOR} postgresql-client-${PG_MAJOR}
                libclang-dev clang sudo pgbouncer python3-venv)
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
    if ! grep -qs "pg${PG_MAJOR} = \"${PG_CONFIG}\"" "${PGRX_HOME:-$HOME/.pgrx}/config.toml"; then
        say "pointing pgrx at the system's PostgreSQL ${PG_MAJOR}"
        cargo pgrx init --pg${PG_MAJOR} "${PG_CONFIG}"
    fi
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

# The system's extension directory is shared by every checkout on this
# machine: an install and the tests that use it run under one lock. A test
# run against what is installed holds it shared; an install holds it
# exclusively (API_KEYS_LOCKED=1 says this process tree holds it already).
INSTALL_LOCK="/tmp/api_keys.install.lock"

# Build the extension and install it into the system's PostgreSQL.
install_extension() {
    local flags=(--pg-config "${PG_CONFIG}")
    [ "${API_KEYS_RELEASE:-0}" = 1 ] && flags+=(--release)
    [ "$(id -u)" = 0 ] || flags+=(--sudo)
    say "building and installing the extension"
    if [ "${API_KEYS_LOCKED:-0}" = 1 ]; then
        (cd "${ROOT}" && cargo pgrx install "${flags[@]}" >/dev/null)
    else
        (cd "${ROOT}" && flock -x "${INSTALL_LOCK}" cargo pgrx install "${flags[@]}" >/dev/null)
    fi
}

# Run a command holding the install lock: `exclusive` or `shared`.
with_install_lock() {
    local mode="$1"; shift
    if [ "${API_KEYS_LOCKED:-0}" = 1 ]; then
        "$@"
    else
        flock "--${mode}" "${INSTALL_LOCK}" env API_KEYS_LOCKED=1 "$@"
    fi
}

# A throwaway cluster: cluster_start DIR PORT [extra postgresql.conf lines].
# Listens on a Unix socket in DIR/sock and on 127.0.0.1:PORT.
cluster_start() {
    local dir="$1" port="$2" conf="${3:-}"
    mkdir -p "${dir}"
    [ "$(id -u)" = 0 ] && chown "$(pg_os_user)" "${dir}"
    as_pg "${PG_BIN}/initdb" -D "${dir}/data" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 >"${dir}/initdb.log" 2>&1
    as_pg mkdir -p "${dir}/sock"
    cat >>"${dir}/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
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
