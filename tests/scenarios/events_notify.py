"""Key events reach a real LISTEN client, at commit only: each notification
carries the id of an event of the audit log and nothing else; the event,
read from api_keys.events, holds the key as it was and no secret."""

from common import check, connect, fresh_database


def drain(listener, timeout=1.0):
    return [n.payload for n in listener.notifies(timeout=timeout)]


def events(admin, ids):
    """The audit rows of notified ids, in the order notified."""
    rows = dict((str(r[0]), r[1:]) for r in admin.execute(
        "SELECT id, action, key_id, owner, name, prefix, expires_at, next_rotation_at, webhook_url "
        "FROM api_keys.events WHERE id::text = ANY(%s)", (ids,)).fetchall())
    check(set(rows) == set(ids), f"every notified id is an event of the audit log: {ids}")
    return [rows[i] for i in ids]


def main():
    with fresh_database("events") as db, connect(db) as admin, connect(db) as listener:
        listener.execute("LISTEN api_keys_events")
        issued = []

        # Nothing is sent for a transaction that rolls back.
        with connect(db, autocommit=False) as tx:
            issued.append(tx.execute("SELECT key FROM api_keys.apikey_create('acme', 'rolled back')").fetchone()[0])
            tx.rollback()
        check(drain(listener, 0.5) == [], "no event for a rolled-back create")

        # Nothing is sent before commit; everything at commit.
        with connect(db, autocommit=False) as tx:
            kid, key = tx.execute("SELECT id, key FROM api_keys.apikey_create('acme', 'svc', "
                                  "rotation_interval => '30 days', webhook_url => 'https://h.example/x')").fetchone()
            issued.append(key)
            tx.execute("SELECT api_keys.apikey_update(%s, scopes => '{read}')", (kid,))
            check(drain(listener, 0.5) == [], "no event before commit")
            tx.commit()
        ids = drain(listener)
        rows = events(admin, ids)
        check([r[0] for r in rows] == ["created", "updated"], f"created and updated at commit: {rows}")
        action, key_id, owner, name, prefix, expires_at, next_rotation_at, webhook_url = rows[0]
        check(key_id == kid and owner == "acme" and name == "svc" and webhook_url == "https://h.example/x"
              and next_rotation_at is not None and expires_at is None,
              "the event holds the key as it was: owner, name, times, webhook")
        check(key.startswith(prefix) and len(prefix) < len(key) // 2, "the event has the prefix only")

        rotated = admin.execute("SELECT new_key_id, key FROM api_keys.apikey_rotate(%s, '1 hour')", (kid,)).fetchone()
        issued.append(rotated[1])
        admin.execute("SELECT api_keys.apikey_revoke(%s)", (rotated[0],))
        rows = events(admin, drain(listener))
        check([(r[0], r[1]) for r in rows] ==
              [("rotated", kid), ("created", rotated[0]), ("revoked", rotated[0])],
              "rotate announces the old and the new key; revoke follows")

        # A huge owner and name are whole in the event; the notification is an id anyway.
        big = "x" * 1024
        admin.execute("SELECT api_keys.apikey_create(%s, %s)", (big, big))
        rows = events(admin, drain(listener))
        check(len(rows) == 1 and rows[0][2] == big and rows[0][3] == big, "owner and name are kept whole")

        raw = admin.execute("SELECT string_agg(changes::text || coalesce(prefix, ''), ' ') "
                            "FROM api_keys.events").fetchone()[0]
        for k in issued:
            check(k not in raw and k[len(k) // 2:] not in raw, "no key in the audit log")


if __name__ == "__main__":
    main()
