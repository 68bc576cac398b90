"""Attacks on the event channel (issue 14, part 3), each of which must fail.

Any role can LISTEN and NOTIFY on api_keys_events: PostgreSQL has no
privilege for either. So:

1. a role without api_keys_admin that LISTENs learns nothing but event ids
   (no owner, name, prefix or webhook URL, which may carry a secret), and
   cannot read the events themselves;
2. a forged NOTIFY (a made-up id, a real id, non-JSON garbage, an old-style
   JSON event aimed at an internal address) makes the worker deliver
   nothing, and the worker keeps running and delivering real events;
3. an event whose webhook points at a loopback, link-local or private
   address is refused (and recorded as refused) unless the operator allows
   that network explicitly.
"""

import json
import re

import psycopg

from common import WebhookWorker, check, connect, fresh_database, start_receiver, wait_until

SECRET = "channel-test-secret"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def outcomes(db, ids):
    with connect(db) as c:
        return dict(c.execute("SELECT event_id::text, outcome FROM api_keys_webhooks.deliveries "
                              "WHERE event_id::text = ANY(%s)", ([str(i) for i in ids],)).fetchall())


def event_ids(db, key_id):
    with connect(db) as c:
        return [str(r[0]) for r in c.execute("SELECT id FROM api_keys.events WHERE key_id = %s ORDER BY seq",
                                             (key_id,)).fetchall()]


def listening_role_learns_only_ids(db, base):
    with connect() as su:
        su.execute("DROP ROLE IF EXISTS eavesdropper")
        su.execute("CREATE ROLE eavesdropper LOGIN")
    try:
        with connect(db, user="eavesdropper") as ear, connect(db) as admin:
            ear.execute("LISTEN api_keys_events")
            secret_path = "/services/T0000/B0000/XXXXXXXXsecretXXXXXXXX"
            kid, key = admin.execute("SELECT id, key FROM api_keys.apikey_create('victim corp', 'payments', "
                                     "webhook_url => %s)", ("https://hooks.example.com" + secret_path,)).fetchone()
            admin.execute("SELECT api_keys.apikey_revoke(%s)", (kid,))
            notes = list(ear.notifies(timeout=5, stop_after=2))
            payloads = [n.payload for n in notes]
            check(len(payloads) == 2 and all(UUID.match(p) for p in payloads),
                  f"a role without api_keys_admin receives ids only: {payloads}")
            check(payloads == event_ids(db, kid), "the ids are those of the events")
            text = " ".join(payloads)
            check(all(s not in text for s in ("victim", "payments", secret_path, key[:16])),
                  "no owner, name, prefix or webhook URL on the channel")
            try:
                ear.execute("SELECT * FROM api_keys.events")
                check(False, "the eavesdropper can read the events")
            except psycopg.errors.InsufficientPrivilege:
                check(True, "and it cannot read api_keys.events (42501)")
    finally:
        with connect() as su:
            su.execute("DROP ROLE IF EXISTS eavesdropper")


def forged_notifications_change_nothing(db, base, received, worker):
    with connect(db) as admin:
        real = admin.execute("SELECT id FROM api_keys.apikey_create('acme', 'real', webhook_url => %s)",
                             (base + "/real",)).fetchone()[0]
    wait_until(lambda: len(received) == 1, "the real event is delivered")
    delivered_id = json.loads(received[0][2])["event_id"]
    with connect() as su:
        su.execute("DROP ROLE IF EXISTS forger")
        su.execute("CREATE ROLE forger LOGIN")
    try:
        with connect(db, user="forger") as forger:
            for payload in [
                "3f2504e0-4f89-11d3-9a0c-0305e82c3301",                       # a made-up id
                delivered_id,                                               # a real, delivered id
                "}{ not json \x01\x7f",                                      # garbage
                json.dumps({"event_id": "3f2504e0-4f89-11d3-9a0c-0305e82c3302", "event": "revoked",
                            "key_id": str(real), "owner": "acme",
                            "webhook_url": base + "/ssrf"}),               # an old-style event, aimed inside
                "x" * 7999,
            ]:
                forger.execute("SELECT pg_notify('api_keys_events', %s)", (payload,))
    finally:
        with connect() as su:
            su.execute("DROP ROLE IF EXISTS forger")
    # A real event after the forged ones: once it has arrived, the worker has
    # handled every notification before it.
    with connect(db) as admin:
        admin.execute("SELECT api_keys.apikey_revoke(%s)", (real,))
    wait_until(lambda: len(received) == 2, "the next real event is delivered")
    paths = [p for p, _, _ in received]
    check(paths == ["/real", "/real"], f"forged notifications delivered nothing: {paths}")
    check(worker.running(), "the worker is still running")
    check("Traceback" not in worker.output(), "and never crashed")


def internal_destinations_are_refused(db, base, received):
    port = base.rsplit(":", 1)[1]
    targets = {
        "loopback": f"http://127.0.0.1:{port}/internal",
        "localhost": f"http://localhost:{port}/internal",
        "loopback v6": f"http://[::1]:{port}/internal",
        "mapped v4": f"http://[::ffff:127.0.0.1]:{port}/internal",
        "link-local metadata": "http://169.254.169.254/latest/meta-data/",
        "private 10/8": "http://10.1.2.3/hook",
        "private 192.168/16": "https://192.168.1.1/hook",
    }
    ids = {}
    with connect(db) as admin:
        for what, url in targets.items():
            kid = admin.execute("SELECT id FROM api_keys.apikey_create('acme', %s, webhook_url => %s)",
                                (what, url)).fetchone()[0]
            ids[what] = event_ids(db, kid)[0]
    wait_until(lambda: len(outcomes(db, ids.values())) == len(ids), "every internal destination is decided")
    got = outcomes(db, ids.values())
    for what, event in ids.items():
        check(got[event] == "refused", f"{what} ({targets[what]}) is refused")
    check(not any(p == "/internal" for p, _, _ in received), "nothing reached the loopback receiver")


def allowed_when_the_operator_says_so(db, base, received):
    with connect(db) as admin:
        admin.execute("SELECT api_keys.apikey_create('acme', 'allowed', webhook_url => %s)", (base + "/allowed",))
    wait_until(lambda: any(p == "/allowed" for p, _, _ in received), "an allowed loopback destination is delivered")
    check(True, "with ALLOW_NETWORKS=127.0.0.1/32 the loopback receiver gets its event")


def main():
    server, base, received = start_receiver()
    with fresh_database("security_events") as db:
        listening_role_learns_only_ids(db, base)
        refusing = WebhookWorker(f"dbname={db}", SECRET, POLL="3600", RETRIES="1", TIMEOUT="2",
                                 WORKER_NAME="strict")
        try:
            internal_destinations_are_refused(db, base, received)
        finally:
            print(refusing.stop())
        allowing = WebhookWorker(f"dbname={db}", SECRET, POLL="3600", RETRIES="1", TIMEOUT="2",
                                 ALLOW_NETWORKS="127.0.0.1/32", WORKER_NAME="allowing")
        try:
            # Even with loopback allowed, forged notifications deliver nothing.
            forged_notifications_change_nothing(db, base, received, allowing)
            allowed_when_the_operator_says_so(db, base, received)
        finally:
            print(allowing.stop())
    server.shutdown()


if __name__ == "__main__":
    main()
