"""Rotation under concurrency, with real sessions against a real server.

1. While one session verifies the old key in a loop, another rotates it with
   a grace period: the old key never fails before the grace ends, and the new
   key is valid from the rotation's commit on.
2. Two sessions rotate the same key at once: exactly one new key, the other
   rotation fails with 55000.
3. Revoke racing rotate: whichever commits first, the end state is
   consistent (the old key revoked or rotated, never both half-done).
"""

import threading

import psycopg

from common import (check, connect, create_key, fresh_database, verify_code, wait_until,
                    wait_until_blocked)

with fresh_database("rotation") as db:
    # 1. verify loop during rotation with grace
    with connect(db) as admin:
        old_id, old_key = create_key(admin, "acme", "rotating")
    failures = []
    stop = threading.Event()
    seen = {"n": 0}

    def verifier():
        with connect(db) as c:
            while not stop.is_set():
                code = verify_code(c, old_key)
                seen["n"] += 1
                if code != "valid":
                    failures.append(code)

    t = threading.Thread(target=verifier)
    t.start()
    wait_until(lambda: seen["n"] >= 10, "the old key was verified 10 times")
    with connect(db) as admin:
        new_id, new_key, grace_end = admin.execute(
            "SELECT new_key_id, key, grace_expires_at FROM api_keys.apikey_rotate(%s, '1 hour')", (old_id,)
        ).fetchone()
        check(verify_code(admin, new_key) == "valid", "new key valid at once")
    after_rotation = seen["n"]
    wait_until(lambda: seen["n"] >= after_rotation + 10, "the old key was verified 10 times after the rotation")
    stop.set()
    t.join()
    check(seen["n"] > 10 and not failures, f"old key never failed during grace ({seen['n']} checks)")

    # 2. two rotations racing: hold the row lock in one transaction, start the
    # second rotation, then commit the first.
    with connect(db) as admin:
        key_id, _ = create_key(admin, "acme", "raced")
    a = connect(db, autocommit=False)
    b = connect(db, autocommit=False)
    a.execute("SELECT * FROM api_keys.apikey_rotate(%s)", (key_id,))
    result = {}

    def second():
        try:
            b.execute("SELECT * FROM api_keys.apikey_rotate(%s)", (key_id,))
            b.commit()
            result["b"] = "ok"
        except psycopg.Error as e:
            b.rollback()
            result["b"] = e.sqlstate

    t = threading.Thread(target=second)
    t.start()
    wait_until_blocked(b.info.backend_pid, db)
    check("b" not in result, "the second rotation waits for the first")
    a.commit()
    t.join()
    check(result.get("b") == "55000", f"the second rotation fails with 55000 (got {result.get('b')})")
    with connect(db) as c:
        successors = c.execute(
            "SELECT count(*) FROM api_keys.apikey_list('acme', 'all') WHERE name = 'raced'"
        ).fetchone()[0]
        check(successors == 2, "exactly one new key (old + one successor)")
    a.close()
    b.close()

    # 3. revoke racing rotate, both orders.
    for first in ("revoke", "rotate"):
        with connect(db) as admin:
            key_id, key = create_key(admin, "acme", f"revoke-vs-rotate-{first}")
        a = connect(db, autocommit=False)
        b = connect(db, autocommit=False)
        stmts = {
            "revoke": ("SELECT api_keys.apikey_revoke(%s)", (key_id,)),
            "rotate": ("SELECT key FROM api_keys.apikey_rotate(%s, '1 hour')", (key_id,)),
        }
        second_name = "rotate" if first == "revoke" else "revoke"
        first_row = a.execute(*stmts[first]).fetchone()
        out = {}

        def run_second():
            try:
                out["row"] = b.execute(*stmts[second_name]).fetchone()
                b.commit()
                out["state"] = "ok"
            except psycopg.Error as e:
                b.rollback()
                out["state"] = e.sqlstate

        t = threading.Thread(target=run_second)
        t.start()
        wait_until_blocked(b.info.backend_pid, db)
        a.commit()
        t.join()
        with connect(db) as c:
            check(verify_code(c, key) == "revoked", f"{first} then {second_name}: old key revoked")
            rows = c.execute(
                "SELECT status, replaced_by_key_id IS NOT NULL FROM api_keys.apikey_list('acme', 'all') WHERE name = %s",
                (f"revoke-vs-rotate-{first}",),
            ).fetchall()
            if first == "revoke":
                check(out["state"] == "55000", "rotating a just-revoked key fails with 55000")
                check(len(rows) == 1, "no successor was made")
            else:
                check(out["state"] == "ok" and out["row"][0] is True, "revoke after rotate revokes the old key")
                new_key = first_row[0]
                check(verify_code(c, new_key) == "valid", "the successor stays valid")
                check(len(rows) == 2, "exactly one successor")
        a.close()
        b.close()
