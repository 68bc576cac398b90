"""Concurrency soak: several sessions create, verify, authenticate, update,
rotate (with and without grace) and revoke keys at once, for SOAK_SECONDS
(default 15; set it higher for a longer soak, e.g. SOAK_SECONDS=600).

Invariants, checked during the run and at the end:

1. Revocation is effective at commit, in every session: a transaction that
   starts after a revoke's commit returned to its client answers `revoked`
   for that key (autocommit statements, REPEATABLE READ transactions and
   apikey_authenticate alike). The time a revoke returned is recorded with a
   monotonic clock shared by all threads; a verification that began later
   must see it.
2. A key created (committed) before a verification began, and not revoked or
   rotated by any call that started before the verification ended, is
   `valid`; no key that was created is ever `not_found` or `malformed`.
3. No key has two successors, no key is the successor of two keys, and the
   table's rotation links are exactly the rotations that returned.
4. No unexpected error: only the SQLSTATEs the contract names for the
   operation (55000 when rotating a key that is revoked, expired or already
   rotated). Anything else (deadlock, XX000, lost connection) fails.
"""

import os
import random
import threading
import time

import psycopg
from psycopg.types.json import Jsonb

from common import check, connect, fresh_database

SECONDS = float(os.environ.get("SOAK_SECONDS", "15"))
WORKERS = int(os.environ.get("SOAK_WORKERS", "4"))
clock = time.monotonic


class Key:
    def __init__(self, key_id, key, created_done, grace=None, predecessor=None):
        self.id = key_id
        self.key = key
        self.created_done = created_done
        self.predecessor = predecessor
        self.revoke_started = None  # first time a revoke call started
        self.revoke_done = None  # time a revoke returned true (committed)
        self.rotate_started = None
        self.rotated = None  # (new key id, grace) once a rotation returned
        self.successor = None


keys = {}  # id -> Key
pool = []  # ids that are candidates for operations
lock = threading.RLock()
violations = []
unexpected = []
counts = {}
stop = threading.Event()


def count(what):
    with lock:
        counts[what] = counts.get(what, 0) + 1


def violation(msg):
    with lock:
        violations.append(msg)
    print(f"VIOLATION: {msg}", flush=True)
    stop.set()


def pick(recent_bias=True):
    with lock:
        if not pool:
            return None
        if recent_bias and random.random() < 0.7:
            return keys[random.choice(pool[-20:])]
        return keys[random.choice(pool)]


def expect_code(k, code, t0, t1, how):
    """Check one answer for key k, from a transaction that began at t0 and
    ended at t1, against what the recorded history allows."""
    with lock:
        revoke_done = k.revoke_done
        revoke_started = k.revoke_started
        rotate_started = k.rotate_started
        rotated = k.rotated
        created_done = k.created_done
    if code in ("malformed", "not_found"):
        violation(f"{how}: key {k.id} (created) answered {code}")
    if revoke_done is not None and revoke_done < t0 and code != "revoked":
        violation(f"{how}: key {k.id} answered {code} in a transaction begun "
                  f"{t0 - revoke_done:.4f}s after its revoke committed")
    untouched = (revoke_started is None or revoke_started > t1) and (rotate_started is None or rotate_started > t1)
    if created_done < t0 and untouched and code != "valid":
        violation(f"{how}: key {k.id} untouched yet answered {code}")
    if code == "expired":
        # Only a rotation without grace makes a key of this soak expire.
        if rotate_started is None or rotate_started > t1:
            violation(f"{how}: key {k.id} expired without a rotation")
        elif rotated is not None and rotated[1] != "0":
            violation(f"{how}: key {k.id} expired during a 1 hour grace")
    if rotated is not None and rotated[1] != "0" and code not in ("valid", "revoked"):
        violation(f"{how}: key {k.id} in its grace period answered {code}")


def op_create(c, wid):
    grace_free = random.random() < 0.5
    scopes = ["read:docs/*", "write:docs/42"] if grace_free else ["read"]
    row = c.execute(
        "SELECT id, key FROM api_keys.apikey_create(%s, %s, %s, expires_at => now() + interval '1 day',"
        " metadata => %s)",
        ("soak", f"w{wid}", scopes, Jsonb({"w": wid})),
    ).fetchone()
    done = clock()
    with lock:
        keys[row[0]] = Key(row[0], row[1], done)
        pool.append(row[0])
    count("create")
    return keys[row[0]]


def op_verify(c, other):
    k = pick()
    if k is None:
        return
    mode = random.choice(["autocommit", "repeatable_read", "authenticate", "other_session"])
    conn = other if mode == "other_session" else c
    t0 = clock()
    if mode in ("autocommit", "other_session"):
        code = conn.execute("SELECT code FROM api_keys.apikey_verify(%s)", (k.key,)).fetchone()[0]
        t1 = clock()
        expect_code(k, code, t0, t1, mode)
    elif mode == "repeatable_read":
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        try:
            a = conn.execute("SELECT code FROM api_keys.apikey_verify(%s)", (k.key,)).fetchone()[0]
            b = conn.execute("SELECT code FROM api_keys.apikey_verify(%s, 'read:docs/1')", (k.key,)).fetchone()[0]
        finally:
            conn.execute("COMMIT")
        t1 = clock()
        expect_code(k, a, t0, t1, mode)
        if b not in (a, "insufficient_scope"):
            violation(f"repeatable read: one snapshot, two answers for {k.id}: {a} then {b}")
    else:
        conn.execute("BEGIN")
        try:
            got = conn.execute("SELECT api_keys.apikey_authenticate(%s)", (k.key,)).fetchone()[0]
            cur = conn.execute(
                "SELECT api_keys.apikey_current_key_id(), api_keys.apikey_current_owner()").fetchone()
            conn.execute("COMMIT")
            t1 = clock()
            if got != k.id or cur != (k.id, "soak"):
                violation(f"authenticate {k.id}: got {got}, context {cur}")
            code = "valid"
        except psycopg.Error as e:
            conn.execute("ROLLBACK")
            t1 = clock()
            if e.sqlstate != "28000":
                raise
            code = (e.diag.message_primary or "").rsplit(": ", 1)[-1]
        expect_code(k, code, t0, t1, mode)
        after = conn.execute("SELECT api_keys.apikey_current_key_id()").fetchone()[0]
        if after is not None:
            violation(f"context outlived its transaction: {after}")
    count(f"verify:{mode}")


def op_update(c):
    k = pick(recent_bias=False)
    if k is None:
        return
    changed = c.execute(
        "SELECT api_keys.apikey_update(%s, name => %s, expires_at => now() + interval '2 days',"
        " scopes => %s)",
        (k.id, f"updated {random.randint(0, 999)}", random.choice([["read"], ["read:docs/*", "write:docs/42"]])),
    ).fetchone()[0]
    if changed is not True:
        violation(f"update of existing key {k.id} returned {changed}")
    count("update")


def op_rotate(c):
    k = pick()
    if k is None:
        return
    grace = random.choice(["0", "1 hour"])
    t_start = clock()
    with lock:
        if k.rotate_started is None:
            k.rotate_started = t_start
    try:
        row = c.execute(
            "SELECT old_key_id, new_key_id, key FROM api_keys.apikey_rotate(%s, %s::interval)", (k.id, grace)
        ).fetchone()
    except psycopg.Error as e:
        if e.sqlstate == "55000":
            count("rotate:55000")
            with lock:
                known_reason = k.revoke_started is not None or k.rotated is not None or k.rotate_started is not None
            if not known_reason:
                violation(f"rotate {k.id}: 55000 though it was never revoked or rotated: {e}")
            return
        raise
    done = clock()
    new = Key(row[1], row[2], done, predecessor=k.id)
    with lock:
        if row[0] != k.id:
            violation(f"rotate {k.id} answered old_key_id {row[0]}")
        if k.rotated is not None:
            violation(f"key {k.id} rotated twice: {k.rotated[0]} and {row[1]}")
        if k.revoke_done is not None and k.revoke_done < t_start:
            violation(f"key {k.id} rotated after its revoke had committed")
        k.rotated = (row[1], grace)
        keys[row[1]] = new
        pool.append(row[1])
    count("rotate")
    # The successor is valid as soon as the rotation returned, in any session.
    t0 = clock()
    code = c.execute("SELECT code FROM api_keys.apikey_verify(%s)", (row[2],)).fetchone()[0]
    expect_code(new, code, t0, clock(), "successor")


def op_revoke(c, other):
    k = pick()
    if k is None:
        return
    with lock:
        if k.revoke_started is None:
            k.revoke_started = clock()
    revoked = c.execute("SELECT api_keys.apikey_revoke(%s)", (k.id,)).fetchone()[0]
    done = clock()
    if revoked:
        with lock:
            if k.revoke_done is not None:
                violation(f"key {k.id} revoked twice (both returned true)")
            k.revoke_done = done
        count("revoke")
        # Read-your-writes across sessions: a new transaction elsewhere sees it.
        t0 = clock()
        code = other.execute("SELECT code FROM api_keys.apikey_verify(%s)", (k.key,)).fetchone()[0]
        expect_code(k, code, t0, clock(), "after revoke, other session")
    else:
        count("revoke:false")


def worker(db, wid):
    rng_ops = ["create"] * 15 + ["verify"] * 45 + ["update"] * 10 + ["rotate"] * 15 + ["revoke"] * 15
    try:
        with connect(db) as c, connect(db) as other:
            if wid % 2 == 0:
                # Every successful verification touches last_used_at.
                c.execute("SET api_keys.last_used_resolution = 0")
                other.execute("SET api_keys.last_used_resolution = 0")
            op_create(c, wid)
            while not stop.is_set():
                op = random.choice(rng_ops)
                try:
                    if op == "create":
                        op_create(c, wid)
                    elif op == "verify":
                        op_verify(c, other)
                    elif op == "update":
                        op_update(c)
                    elif op == "rotate":
                        op_rotate(c)
                    else:
                        op_revoke(c, other)
                except psycopg.Error as e:
                    # Record it and go on, so that the soak still checks
                    # every invariant; a lost connection ends the worker.
                    msg = f"worker {wid} {op}: {e.sqlstate} {e.diag.message_primary or e}"
                    with lock:
                        unexpected.append(msg)
                    print(f"UNEXPECTED: {msg}", flush=True)
                    if c.broken or other.broken:
                        stop.set()
                        return
                    for conn in (c, other):
                        if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                            conn.execute("ROLLBACK")
    except Exception as e:  # noqa: BLE001 - any failure of a worker fails the soak
        with lock:
            unexpected.append(f"worker {wid}: {type(e).__name__}: {e}")
        stop.set()


with fresh_database("soak") as db:
    threads = [threading.Thread(target=worker, args=(db, i)) for i in range(WORKERS)]
    started = clock()
    for t in threads:
        t.start()
    while clock() - started < SECONDS and not stop.is_set():
        time.sleep(0.1)
    stop.set()
    for t in threads:
        t.join()
    elapsed = clock() - started
    print(f"soak: {elapsed:.1f}s, {WORKERS} workers, operations: {dict(sorted(counts.items()))}")

    check(not violations, f"no invariant violated during the soak ({violations[:5]})")
    check(counts.get("revoke", 0) > 5 and counts.get("rotate", 0) > 5 and sum(
        v for k, v in counts.items() if k.startswith("verify")) > 50,
        "the soak did enough of each operation to mean something")

    with connect(db) as c:
        rows = c.execute(
            "SELECT id, replaced_by_key_id, revoked_at IS NOT NULL, grace_expires_at > now(), "
            "octet_length(digest), prefix FROM api_keys.keys"
        ).fetchall()
        by_id = {r[0]: r for r in rows}
        check(set(by_id) == set(keys), f"the table holds exactly the {len(keys)} keys issued ({len(by_id)} rows)")
        successors = [r[1] for r in rows if r[1] is not None]
        check(len(successors) == len(set(successors)), "no key is the successor of two keys")
        dup = c.execute(
            "SELECT id FROM api_keys.keys k WHERE (SELECT count(*) FROM api_keys.keys s "
            "WHERE s.id = k.replaced_by_key_id) > 1"
        ).fetchall()
        check(not dup, "no key has two successors")
        links = {k.id: k.rotated[0] for k in keys.values() if k.rotated}
        table_links = {r[0]: r[1] for r in rows if r[1] is not None}
        check(links == table_links, f"rotation links in the table are exactly the {len(links)} rotations that returned")
        check(all(r[4] == 32 and keys[r[0]].key.startswith(r[5]) for r in rows), "every row whole: digest and prefix")

        # Final answers: every key, one fresh transaction each, as the history says.
        bad = []
        for k in keys.values():
            code = c.execute("SELECT code FROM api_keys.apikey_verify(%s)", (k.key,)).fetchone()[0]
            if k.revoke_done is not None:
                want = "revoked"
            elif by_id[k.id][2]:
                want = "revoked"  # a revoke whose result was lost cannot happen here: every call returned
            elif k.rotated is not None and k.rotated[1] == "0":
                want = "expired"
            else:
                want = "valid"
            if code != want:
                bad.append((str(k.id), code, want))
        check(not bad, f"every key's final answer follows its history ({bad[:5]})")
        n_revoked = sum(1 for r in rows if r[2])
        check(n_revoked == sum(1 for k in keys.values() if k.revoke_done is not None),
              "the revoked rows are exactly the revokes that returned true")

    # Last, so that every other invariant was checked too.
    kinds = sorted({u.split(": ", 1)[1][:90] for u in unexpected})
    check(not unexpected, f"no unexpected error ({len(unexpected)} errors; distinct: {kinds[:5]})")
