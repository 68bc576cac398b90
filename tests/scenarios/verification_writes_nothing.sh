#!/usr/bin/env bash
# Verification never writes (the library preloaded): 10,000 verifications of
# random keys, in read-write transactions as applications and PostgREST's
# POSTs make them, change no row of api_keys.keys and write no WAL; after
# one flush interval every used key's last_used_at is set and no unused
# key's is. The cluster has wal_level = minimal, no autovacuum and no timed
# checkpoint, so that nothing else writes WAL meanwhile.
source "$(dirname "$0")/lib.sh"
scenario nowrite
start_cluster "${DIR}" "shared_preload_libraries = 'api_keys'
api_keys.flush_interval = 3600
api_keys.last_used_resolution = 0
wal_level = minimal
max_wal_senders = 0
autovacuum = off
checkpoint_timeout = 1d"
export PGDATABASE=postgres
q -c "CREATE EXTENSION api_keys"

"${PY}" - "${DIR}" <<'PYTHON'
import random
import sys
import time

import psycopg
from common import check, connect

DIR = sys.argv[1]
admin = connect()
keys = [admin.execute("SELECT id, key FROM api_keys.apikey_create('acme', 'k' || %s)", (i,)).fetchone()
        for i in range(1000)]
used = {i for i in random.Random(15).sample(range(1000), 600)}
# Hint bits and visibility set, then a checkpoint: reads change no page now.
# The whole database, catalogs included: CREATE EXTENSION leaves dead
# catalog rows (GRANTs update pg_proc and pg_attribute) that a session's
# first read of the page would prune, writing WAL.
admin.execute("VACUUM (FREEZE)")
admin.execute("CHECKPOINT")


def row_versions():
    return admin.execute("SELECT string_agg(ctid || ':' || xmin, ' ' ORDER BY id) FROM api_keys.keys").fetchone()[0]


def wal():
    return admin.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]


rows_before, wal_before = row_versions(), wal()
rng = random.Random(7)
# Every used key once, then random ones among them.
order = sorted(used) + [rng.choice(sorted(used)) for _ in range(10_000 - len(used))]
rng.shuffle(order)
with psycopg.connect(dbname="postgres") as app:  # read-write transactions
    for n, i in enumerate(order):
        code = app.execute("SELECT code FROM api_keys.apikey_verify(%s)", (keys[i][1],)).fetchone()[0]
        if code != "valid":
            check(False, f"verification {n} answered {code}")
        app.commit()
wal_after = wal()
check(row_versions() == rows_before, "10,000 verifications changed no row of api_keys.keys")
check(wal_after == wal_before, f"and wrote no WAL ({wal_before} -> {wal_after})")
with psycopg.connect(dbname="postgres") as app:
    app.execute("SELECT api_keys.apikey_verify(%s)", (keys[order[0]][1],))
    xid = app.execute("SELECT pg_current_xact_id_if_assigned()").fetchone()[0]
    check(xid is None, "a verifying transaction gets no transaction id")

# One flush interval later (the reload wakes the launcher at once).
admin.execute("ALTER SYSTEM SET api_keys.flush_interval = 1")
admin.execute("SELECT pg_reload_conf()")
deadline = time.monotonic() + 60
while True:
    stored = {r[0] for r in admin.execute("SELECT name FROM api_keys.keys WHERE last_used_at IS NOT NULL")}
    if len(stored) >= len(used) or time.monotonic() > deadline:
        break
    time.sleep(0.1)
check(stored == {f"k{i}" for i in used}, f"every used key's last_used_at is set, no unused key's ({len(stored)})")
PYTHON
