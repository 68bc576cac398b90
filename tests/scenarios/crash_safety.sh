#!/usr/bin/env bash
# Crash safety: SIGKILL a backend in the middle of a create/rotate loop.
#
# On its own cluster (the crash restarts every backend, which must not
# disturb the runner's cluster), a worker session loops: create a key, rotate
# it (grace 0 or 1 hour), sometimes inside an explicit transaction. Every key
# the server returned is appended to a journal file and flushed before the
# next call, marked `committed` once its transaction's COMMIT (or autocommit
# statement) returned, `pending` before that. A second session does the same
# meanwhile. After a random delay, at a moment when the worker is inside an
# explicit transaction that has returned keys, its backend is killed with SIGKILL
# (as the PostgreSQL OS user, pid from pg_backend_pid()), so the postmaster
# ends every backend and runs crash recovery. Then:
#   - the server accepts connections again, and the log shows the kill and
#     the recovery;
#   - every row is whole: amcheck (verify_heapam and bt_index_check with
#     heapallindexed on every index of the table; where the server has no
#     amcheck, reported as a skipped part) finds no corruption, a full scan
#     through each index returns exactly the table's rows, and the
#     table's constraints hold (digest of 32 bytes, prefix, rotation link and
#     grace set together, every link points to an existing key);
#   - every key returned by a committed call verifies as its history says:
#     valid; the old key of a rotation with a 1 hour grace valid too; the old
#     key of a rotation without grace `expired`; the key whose rotation was
#     cut short by the kill either `valid` (rotation lost) or rotated (its
#     successor row exists) — never missing;
#   - keys returned inside a transaction that never committed are either
#     all present and valid or all absent (`not_found`), never half there;
#   - the extension works normally after recovery (create, verify, rotate).
source "$(dirname "$0")/lib.sh"
scenario crash
start_cluster "${DIR}" "shared_preload_libraries = ''
restart_after_crash = on
log_min_messages = log"
export PGDATABASE=postgres
if [ "$(id -u)" = 0 ]; then KILL_AS=(runuser -u postgres --); else KILL_AS=(); fi
export KILL_CMD="${KILL_AS[*]:-} kill -9"

"${PY}" - "${DIR}" <<'PYTHON'
import json
import os
import random
import shlex
import subprocess
import sys
import threading
import time

import psycopg
from common import check, connect

DIR = sys.argv[1]
JOURNAL = os.path.join(DIR, "journal.jsonl")


with connect() as c:
    c.execute("CREATE EXTENSION api_keys")
    # amcheck is a contrib module: Debian's PostgreSQL 15 has it, the server
    # trees of 16-18 (Python wheels) carry no contrib modules.
    HAVE_AMCHECK = c.execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'amcheck'").fetchone()[0] == 1
    if HAVE_AMCHECK:
        c.execute("CREATE EXTENSION amcheck")

journal = open(JOURNAL, "a")
journal_lock = threading.Lock()


def record(**entry):
    """Append one event to the journal and flush it before going on."""
    with journal_lock:
        journal.write(json.dumps(entry) + "\n")
        journal.flush()
        os.fsync(journal.fileno())


def loop(session, pid_box, stop):
    """create, rotate, repeat; sometimes both in one explicit transaction."""
    conn = connect()
    pid_box.append(conn.execute("SELECT pg_backend_pid()").fetchone()[0])
    n = 0
    try:
        while not stop.is_set():
            n += 1
            grace = random.choice(["0", "1 hour"])
            tx = f"{session}-{n}"
            if random.random() < 0.3:
                conn.execute("BEGIN")
                kid, key = conn.execute("SELECT id, key FROM api_keys.apikey_create('crash', %s)", (tx,)).fetchone()
                record(tx=tx, op="create", id=str(kid), key=key, state="pending")
                old, new, nkey = conn.execute(
                    "SELECT old_key_id, new_key_id, key FROM api_keys.apikey_rotate(%s, %s::interval)", (kid, grace)
                ).fetchone()
                record(tx=tx, op="rotate", old=str(old), id=str(new), key=nkey, grace=grace, state="pending")
                if session == "victim" and n > 20:
                    in_tx.set()  # the killer's cue: keys returned, not committed
                conn.execute("SELECT pg_sleep(0.05)")
                conn.execute("COMMIT")
                record(tx=tx, op="commit", state="committed")
            else:
                kid, key = conn.execute("SELECT id, key FROM api_keys.apikey_create('crash', %s)", (tx,)).fetchone()
                record(tx=tx, op="create", id=str(kid), key=key, state="committed")
                record(tx=tx, op="rotate-start", old=str(kid), grace=grace)
                old, new, nkey = conn.execute(
                    "SELECT old_key_id, new_key_id, key FROM api_keys.apikey_rotate(%s, %s::interval)", (kid, grace)
                ).fetchone()
                record(tx=tx, op="rotate", old=str(old), id=str(new), key=nkey, grace=grace, state="committed")
    except psycopg.Error as e:
        record(op="died", session=session, error=str(e).splitlines()[0])


stop = threading.Event()
in_tx = threading.Event()
victim_pid, other_pid = [], []
victim = threading.Thread(target=loop, args=("victim", victim_pid, stop))
other = threading.Thread(target=loop, args=("other", other_pid, stop))
victim.start()
other.start()
time.sleep(0.5 + random.random() * 0.5)
while not victim_pid:
    time.sleep(0.01)
# Kill while the victim is inside an explicit transaction that has returned
# keys (the other session is wherever it is).
in_tx.clear()
in_tx.wait(10)
kill = os.environ["KILL_CMD"].split() + [str(victim_pid[0])]
subprocess.run(kill, check=True)
print(f"killed backend {victim_pid[0]} with SIGKILL")
victim.join(30)
other.join(30)
stop.set()
check(not victim.is_alive() and not other.is_alive(), "both sessions ended (the crash ends every backend)")

# Wait for the server to accept connections again after crash recovery.
deadline = time.monotonic() + 60
while True:
    try:
        c = connect()
        c.execute("SELECT 1")
        break
    except psycopg.Error:
        if time.monotonic() > deadline:
            sys.exit("FAIL: the server did not come back within 60 s")
        time.sleep(0.2)
log = open(os.path.join(DIR, "server.log")).read()
check(f"(PID {victim_pid[0]}) was terminated by signal 9" in log, "the log shows the backend killed by signal 9")
check("all server processes terminated; reinitializing" in log and "automatic recovery in progress" in log,
      "the postmaster restarted every backend and ran crash recovery")

# Read the journal.
events = [json.loads(line) for line in open(JOURNAL)]
committed_tx = {e["tx"] for e in events if e.get("op") == "commit"}
keys = []  # (key id, key text, tx, committed, role)
rotate_started = {}
for e in events:
    if e.get("op") == "rotate-start":
        rotate_started[e["old"]] = e["grace"]
for e in events:
    if e.get("op") in ("create", "rotate"):
        committed = e["state"] == "committed" or e["tx"] in committed_tx
        keys.append(dict(e, committed=committed))
n_committed = sum(1 for k in keys if k["committed"])
n_pending = len(keys) - n_committed
print(f"journal: {len(keys)} keys returned ({n_committed} committed, {n_pending} in a transaction cut short)")
check(n_committed >= 10, "the loop returned enough keys before the kill to mean something")

# Every row is whole.
indexes = c.execute(
    "SELECT indexrelid::regclass::text FROM pg_index WHERE indrelid = 'api_keys.keys'::regclass").fetchall()
if HAVE_AMCHECK:
    corrupt = c.execute("SELECT count(*) FROM verify_heapam('api_keys.keys')").fetchone()[0]
    check(corrupt == 0, "verify_heapam finds nothing wrong in api_keys.keys")
    for (ix,) in indexes:
        c.execute("SELECT bt_index_check(%s::regclass, true)", (ix,))
    check(len(indexes) >= 3, f"bt_index_check (heapallindexed) passes on {len(indexes)} indexes")
else:
    print("skip: amcheck (verify_heapam, bt_index_check): this server has no contrib modules; "
          "checked instead that a full scan of each index returns exactly the table's rows")
# Without amcheck, and as a second opinion with it: a full scan through each
# index (the planner left no other way) returns exactly the rows of a
# sequential scan of the table, so every row is indexed and every index
# entry points to a row.
c.execute("SET enable_seqscan = off")
c.execute("SET enable_bitmapscan = off")
c.execute("SET enable_indexonlyscan = off")
c.execute("SET enable_sort = off")
for (ix,) in indexes:
    cols = c.execute("SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY k.n) "
                     "FROM pg_index i, unnest(i.indkey) WITH ORDINALITY k(attnum, n), pg_attribute a "
                     "WHERE i.indexrelid = %s::regclass AND a.attrelid = i.indrelid AND a.attnum = k.attnum",
                     (ix,)).fetchone()[0]
    q = f"SELECT ctid::text FROM api_keys.keys ORDER BY {cols}"
    plan = json.dumps(c.execute("EXPLAIN (FORMAT JSON) " + q).fetchone()[0])
    through = sorted(r[0] for r in c.execute(q).fetchall())
    c.execute("RESET enable_seqscan")
    heap = sorted(r[0] for r in c.execute("SELECT ctid::text FROM api_keys.keys").fetchall())
    c.execute("SET enable_seqscan = off")
    check('"Index Scan"' in plan and f'"{ix.split(".")[-1]}"' in plan and through == heap,
          f"a full scan of {ix} returns exactly the table's {len(heap)} rows")
for setting in ("enable_seqscan", "enable_bitmapscan", "enable_indexonlyscan", "enable_sort"):
    c.execute(f"RESET {setting}")
bad = c.execute("""
    SELECT count(*) FROM api_keys.keys k
     WHERE k.digest IS NULL OR octet_length(k.digest) <> 32
        OR k.prefix IS NULL OR k.prefix !~ '^[a-z][a-z0-9]*_[a-z][a-z0-9]*_[A-Za-z0-9]{8}$'
        OR k.owner <> 'crash' OR k.name IS NULL OR k.created_at IS NULL OR k.environment <> 'live'
        OR (k.replaced_by_key_id IS NULL) <> (k.grace_expires_at IS NULL)
        OR (k.replaced_by_key_id IS NOT NULL
            AND NOT EXISTS (SELECT FROM api_keys.keys s WHERE s.id = k.replaced_by_key_id))
""").fetchone()[0]
check(bad == 0, "every row is whole: digest, prefix, owner, name, rotation link and grace")
dups = c.execute("SELECT count(*) FROM (SELECT digest FROM api_keys.keys GROUP BY digest HAVING count(*) > 1) d"
                 ).fetchone()[0]
check(dups == 0, "no digest appears twice")

# Every key returned before the kill verifies as its history says.
rows = {str(r[0]): r[1:] for r in c.execute(
    "SELECT id, replaced_by_key_id, grace_expires_at > now(), prefix FROM api_keys.keys").fetchall()}
rotated_to = {k["old"]: k for k in keys if k["op"] == "rotate" and k["committed"]}
problems = []
for k in keys:
    got = c.execute("SELECT code, key_id::text FROM api_keys.apikey_verify(%s)", (k["key"],)).fetchone()
    if not k["committed"]:
        continue  # checked per transaction below
    if k["id"] not in rows or got[1] != k["id"]:
        problems.append(f"{k['tx']} {k['op']}: key missing after recovery ({got})")
        continue
    if not k["key"].startswith(rows[k["id"]][2]):
        problems.append(f"{k['tx']}: stored prefix does not match the key")
    if k["id"] in rotated_to:
        want = {"0": "expired", "1 hour": "valid"}[rotated_to[k["id"]]["grace"]]
        if got[0] != want or str(rows[k["id"]][0]) != rotated_to[k["id"]]["id"]:
            problems.append(f"{k['tx']}: rotated key answered {got[0]} (want {want}), link {rows[k['id']][0]}")
    elif k["id"] in rotate_started and rows[k["id"]][0] is not None:
        # Its rotation committed but the answer was lost in the crash.
        want = {"0": "expired", "1 hour": "valid"}[rotate_started[k["id"]]]
        if got[0] != want or str(rows[k["id"]][0]) not in rows:
            problems.append(f"{k['tx']}: key whose rotation was cut short answered {got[0]} (want {want})")
    elif got[0] != "valid":
        problems.append(f"{k['tx']} {k['op']}: answered {got[0]}, want valid")
check(not problems, f"every key returned by a committed call verifies as its history says ({problems[:5]})")

# Keys of a transaction the kill cut short: all there or none.
by_tx = {}
for k in keys:
    if not k["committed"]:
        by_tx.setdefault(k["tx"], []).append(k)
for tx, ks in by_tx.items():
    present = [k["id"] in rows for k in ks]
    check(all(present) or not any(present), f"transaction {tx} cut short: all or none of its {len(ks)} keys exist")
    if not any(present):
        codes = {c.execute("SELECT code FROM api_keys.apikey_verify(%s)", (k["key"],)).fetchone()[0] for k in ks}
        check(codes == {"not_found"}, f"its keys answer not_found ({codes})")

# The extension works normally after recovery.
kid, key = c.execute("SELECT id, key FROM api_keys.apikey_create('crash', 'after')").fetchone()
new = c.execute("SELECT key FROM api_keys.apikey_rotate(%s, '1 hour')", (kid,)).fetchone()[0]
codes = [c.execute("SELECT code FROM api_keys.apikey_verify(%s)", (k,)).fetchone()[0] for k in (key, new)]
check(codes == ["valid", "valid"], "create, rotate and verify work after recovery")
PYTHON
