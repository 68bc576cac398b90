#!/usr/bin/env bash
# Sets up everything (Debian packages, cargo-pgrx, the extension), starts a
# throwaway local cluster, and shows the main job: create a key, verify it,
# list keys, revoke it, verify again. Safe to run again.
# Usage: scripts/demo.sh
source "$(dirname "$0")/common.sh"

if [ "$(id -u)" != 0 ] && [ -z "${API_KEYS_NO_SUDO:-}" ]; then
    exec sudo --preserve-env=PATH,HOME,CARGO_HOME,RUSTUP_HOME bash "$0" "$@"
fi

install_prerequisites
install_extension

PORT="${API_KEYS_DEMO_PORT:-54331}"
DIR="$(scratch_dir demo)"
trap 'cluster_stop "${DIR}"; rm -rf "${DIR}"' EXIT
say "starting a throwaway cluster in ${DIR}"
cluster_start "${DIR}" "${PORT}"

say "the demo (psql output follows)"
# psql runs as the invoking user, who can read the checkout (the PostgreSQL
# OS user may not: a checkout in a mode-700 home directory is fine).
"${CLIENT_BIN}/psql" -X -h "${DIR}/sock" -p "${PORT}" -U postgres -d postgres \
    -v ON_ERROR_STOP=1 --echo-queries -f "${ROOT}/examples/demo.sql"
say "done; the cluster is removed again"
