"""The example webhook worker delivers key events to a local HTTP server:
signed, retried after a failure, once per event, only for keys with a
webhook, and announces keys coming due for rotation. (The receiver is on
loopback, which the worker refuses unless ALLOW_NETWORKS allows it.)"""

import hashlib
import hmac
import json

from common import WebhookWorker, check, connect, fresh_database, start_receiver, wait_until

SECRET = b"webhook-test-secret"


def main():
    server, base, received = start_receiver(fail_first={"/flaky": 1})
    with fresh_database("webhooks") as db:
        worker = WebhookWorker(f"dbname={db}", SECRET.decode(), POLL="0.5", RETRIES="4",
                               ROTATION_WITHIN="2 days", EXPIRY_WITHIN="0", ALLOW_NETWORKS="127.0.0.1/32")
        try:
            with connect(db) as c:
                hooked = c.execute("SELECT id FROM api_keys.apikey_create('acme', 'hooked', "
                                   "webhook_url => %s)", (base + "/hook",)).fetchone()[0]
                c.execute("SELECT api_keys.apikey_create('acme', 'no webhook')")
                c.execute("SELECT api_keys.apikey_revoke(%s)", (hooked,))
                flaky = c.execute("SELECT id FROM api_keys.apikey_create('acme', 'flaky', "
                                  "webhook_url => %s)", (base + "/flaky",)).fetchone()[0]
                due = c.execute("SELECT id FROM api_keys.apikey_create('acme', 'due', rotation_interval => '1 day', "
                                "webhook_url => %s)", (base + "/due",)).fetchone()[0]
            wait_until(lambda: len(received) >= 5, "five deliveries")
            # Several announce rounds later (the worker's log counts them), a
            # last event: once it has arrived, every round before it is done.
            worker.wait_for("delivered", count=5)
            rounds = worker.output().count("announced")
            wait_until(lambda: worker.output().count("announced") >= rounds + 3, "three more announce rounds")
            with connect(db) as c:
                c.execute("SELECT api_keys.apikey_create('acme', 'last', webhook_url => %s)", (base + "/last",))
            wait_until(lambda: any(p == "/last" for p, _, _ in received), "the last delivery")
            got = [(p, h["X-Api-Keys-Event"], json.loads(b)) for p, h, b in received]
            summary = sorted((p, ev) for p, ev, _ in got)
            check(summary == sorted([("/hook", "created"), ("/hook", "revoked"), ("/flaky", "created"),
                                     ("/due", "created"), ("/due", "rotation_due"), ("/last", "created")]),
                  f"each event delivered once, none for the key without a webhook: {summary}")
            for p, h, b in received:
                expected = "sha256=" + hmac.new(SECRET, b, hashlib.sha256).hexdigest()
                check(hmac.compare_digest(h["X-Api-Keys-Signature"], expected), f"{p} signature verifies")
                check(json.loads(b)["event_id"] == h["X-Api-Keys-Event-Id"], "event id header matches the body")
            check(any(p == "/flaky" for p, _, _ in got), "a delivery that failed once was retried")
            revoked = next(e for p, ev, e in got if ev == "revoked")
            check(revoked["name"] == "hooked" and revoked["owner"] == "acme" and revoked["changes"] == {}
                  and revoked["webhook_url"] == base + "/hook", f"the body describes the event: {revoked}")
            with connect(db) as c:
                ids = [str(e["event_id"]) for _, _, e in got]
                n = c.execute("SELECT count(*) FROM api_keys.events WHERE id::text = ANY(%s)", (ids,)).fetchone()[0]
                check(n == len(ids), "every delivery is an audited event")
                keys = {str(hooked), str(flaky), str(due)}
                check(keys <= {e["key_id"] for _, _, e in got}, "deliveries name the right keys")
        finally:
            print(worker.stop())
    server.shutdown()


if __name__ == "__main__":
    main()
