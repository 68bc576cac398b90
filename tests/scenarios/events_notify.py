"""Key events reach a real LISTEN client, at commit only, without secrets."""

import json

from common import check, connect, fresh_database


def drain(listener, timeout=1.0):
    return [json.loads(n.payload) for n in listener.notifies(timeout=timeout)]


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
        events = drain(listener)
        check([e["event"] for e in events] == ["created", "updated"], f"created and updated at commit: {events}")
        e = events[0]
        for field in ("event_id", "at", "key_id", "owner", "name", "prefix", "expires_at",
                      "next_rotation_at", "webhook_url"):
            check(field in e, f"payload has {field}")
        check(e["key_id"] == str(kid) and e["owner"] == "acme" and e["webhook_url"] == "https://h.example/x",
              "payload names the key, owner and webhook")
        check(key.startswith(e["prefix"]) and len(e["prefix"]) < len(key) // 2, "payload has the prefix only")

        rotated = admin.execute("SELECT new_key_id, key FROM api_keys.apikey_rotate(%s, '1 hour')", (kid,)).fetchone()
        issued.append(rotated[1])
        admin.execute("SELECT api_keys.apikey_revoke(%s)", (rotated[0],))
        events = drain(listener)
        check([(x["event"], x["key_id"]) for x in events] ==
              [("rotated", str(kid)), ("created", str(rotated[0])), ("revoked", str(rotated[0]))],
              "rotate announces the old and the new key; revoke follows")

        # Each notification is an audit row.
        ids = {x["event_id"] for x in events}
        n = admin.execute("SELECT count(*) FROM api_keys.events WHERE id::text = ANY(%s)", (list(ids),)).fetchone()[0]
        check(n == len(ids), "every notification has its audit row")

        # A huge owner and name still fit a notification.
        big = "x" * 1024
        admin.execute("SELECT api_keys.apikey_create(%s, %s)", (big, big))
        events = drain(listener)
        check(len(events) == 1 and len(events[0]["owner"]) == 200, "payload cuts owner and name to 200 characters")

        raw = admin.execute("SELECT string_agg(changes::text, ' ') FROM api_keys.events").fetchone()[0]
        for k in issued:
            check(k not in raw and k[len(k) // 2:] not in raw, "no key in the audit log")


if __name__ == "__main__":
    main()
