#!/usr/bin/env bash
# Smoke run of the benchmarks: the machinery of bench/run.sh with tiny sizes
# (1 s per run, 1 round, 3,000 and 10,000 keys instead of 100,000 and
# 1,000,000, 500 keys in the creation batch, one WAL check run of 1 s), so that
# it finishes in about a minute and the scripts cannot rot. No thresholds: it
# exits non-zero only when something did not run (a pgbench script failed, a
# check of the data failed, the extension is not installed).
#
# Usage:   bash bench/smoke.sh        (with the extension already installed)
set -euo pipefail
export BENCH_SECONDS="${BENCH_SECONDS:-1}"
export BENCH_ROUNDS="${BENCH_ROUNDS:-1}"
export BENCH_MID_KEYS="${BENCH_MID_KEYS:-3000}"
export BENCH_LARGE_KEYS="${BENCH_LARGE_KEYS:-10000}"
export BENCH_WAL_SECONDS="${BENCH_WAL_SECONDS:-1}"
export BENCH_WAL_ONLY="${BENCH_WAL_ONLY:-^verify_random_1m$}"
export BENCH_CREATE_KEYS="${BENCH_CREATE_KEYS:-500}"
export BENCH_IMPORTED_KEYS="${BENCH_IMPORTED_KEYS:-5000}"
export BENCH_IMPORT_KEYS="${BENCH_IMPORT_KEYS:-5000}"
export BENCH_SHARED_BUFFERS="${BENCH_SHARED_BUFFERS:-128MB}"
export BENCH_PORT="${BENCH_PORT:-54351}"
exec bash "$(dirname "$0")/run.sh" "$@"
