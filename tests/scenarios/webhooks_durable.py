"""Webhooks are durable: events that happen while the worker is down, or
while its connection is broken, are delivered when it is back, each exactly
once, in the order they were recorded; an event whose transaction commits
after a later-numbered one was delivered is delivered too. The worker runs
as a role of its own (api_keys_admin, CREATE on the database) and owns its
bookkeeping: another administrator cannot write it. After a restore into
another cluster (another system identifier, transaction ids not comparable
with its floor) it re-reads every event it has no delivery for: nothing is
lost and nothing delivered twice. Stopped (SIGTERM) while a POST waits for
its answer, the worker finishes that delivery, records it and exits 0: it
is not delivered again at the next start."""

import json
import threading

import psycopg

from common import WebhookWorker, check, connect, fresh_database, start_receiver, wait_until

SECRET = "durable-test-secret"


def main():
    answer_held = threading.Event()
    server, base, received = start_receiver(hold={"/held": answer_held})
    with fresh_database("webhooks_durable") as db, connect() as su:
        su.execute("DROP ROLE IF EXISTS webhook_worker")
        su.execute("DROP ROLE IF EXISTS other_admin")
        su.execute("CREATE ROLE webhook_worker LOGIN IN ROLE api_keys_admin")
        su.execute("CREATE ROLE other_admin LOGIN IN ROLE api_keys_admin")
        su.execute(f'GRANT CREATE ON DATABASE "{db}" TO webhook_worker')
        dsn = f"dbname={db} user=webhook_worker"
        # TIMEOUT: a held answer must not time out on a slow machine.
        env = dict(POLL="3600", RETRIES="2", TIMEOUT="120", ALLOW_NETWORKS="127.0.0.1/32")

        def events_of(key_ids):
            with connect(db) as c:
                return [(str(r[0]), r[1]) for r in c.execute(
                    "SELECT id, action FROM api_keys.events WHERE key_id = ANY(%s) ORDER BY seq",
                    (list(key_ids),)).fetchall()]

        def delivered():
            return [json.loads(b) for _, _, b in received]

        def recorded():
            with connect(db) as c:
                return c.execute("SELECT count(*) FROM api_keys_webhooks.deliveries").fetchone()[0]

        def settled():
            wait_until(lambda: recorded() == len({e["event_id"] for e in delivered()}),
                       "the worker recorded every delivery it made")

        def stop_after_recording(worker):
            # Stopped when every delivery it made is recorded, the worker's
            # next start delivers exactly what happened while it was down.
            # (A stop during a POST is its own case below.)
            settled()
            worker.stop()

        started = []

        def start():
            started.append(WebhookWorker(dsn, SECRET, **env))
            return started[-1]

        try:
            worker = start()
            with connect(db) as c:
                a = c.execute("SELECT id FROM api_keys.apikey_create('acme', 'a', webhook_url => %s)",
                              (base + "/a",)).fetchone()[0]
                b = c.execute("SELECT id FROM api_keys.apikey_create('acme', 'b', webhook_url => %s)",
                              (base + "/b",)).fetchone()[0]
            wait_until(lambda: len(received) == 2, "the two creations are delivered while the worker runs")

            # Down: revoke and rotate while no worker listens.
            stop_after_recording(worker)
            with connect(db) as c:
                c.execute("SELECT api_keys.apikey_revoke(%s)", (a,))
                new_b = c.execute("SELECT new_key_id FROM api_keys.apikey_rotate(%s, '1 hour')", (b,)).fetchone()[0]
                c.execute("SELECT api_keys.apikey_update(%s, name => 'b2')", (new_b,))
            check(len(received) == 2, "nothing is delivered while the worker is down")
            worker = start()
            expected = events_of([a, b, new_b])
            wait_until(lambda: len(received) >= len(expected), "the missed events arrive after the restart")

            # Disconnected: the server ends the worker's session; it reconnects and catches up.
            settled()
            with connect(db) as c:
                pid = c.execute("SELECT pid FROM pg_stat_activity WHERE usename = 'webhook_worker' "
                                "AND application_name = 'api_keys_webhook_worker'").fetchone()[0]
                c.execute("SELECT pg_terminate_backend(%s)", (pid,))
                c.execute("SELECT api_keys.apikey_revoke(%s)", (new_b,))
            worker.wait_for("listening on api_keys_events", count=2)
            expected = events_of([a, b, new_b])
            wait_until(lambda: len(received) >= len(expected), "the event recorded while disconnected arrives")

            # Committed out of order: an event recorded first but committed last
            # is still delivered, although a later-numbered one was delivered before.
            slow = psycopg.connect(dbname=db)
            early = slow.execute("SELECT id FROM api_keys.apikey_create('acme', 'slow', webhook_url => %s)",
                                 (base + "/slow",)).fetchone()[0]
            with connect(db) as c:
                late = c.execute("SELECT id FROM api_keys.apikey_create('acme', 'quick', webhook_url => %s)",
                                 (base + "/quick",)).fetchone()[0]
            wait_until(lambda: any(e["key_id"] == str(late) for e in delivered()), "the later event is delivered")
            stop_after_recording(worker)   # and the earlier one commits while the worker is down
            slow.commit()
            slow.close()
            worker = start()
            wait_until(lambda: any(e["key_id"] == str(early) for e in delivered()),
                       "the event that committed late is delivered")

            # Stopped while a POST waits for its answer: the worker records
            # that delivery before it exits, and does not make it again.
            settled()
            with connect(db) as c:
                held = c.execute("SELECT id FROM api_keys.apikey_create('acme', 'held', webhook_url => %s)",
                                 (base + "/held",)).fetchone()[0]
            wait_until(lambda: "/held" in server.arrived, "the delivery to /held waits for its answer")
            worker.proc.terminate()
            worker.wait_for("stop requested; finishing the delivery in flight first")
            answer_held.set()
            rc = worker.proc.wait(timeout=60)
            check(rc == 0 and "stopped" in worker.output(), f"the stopped worker exits 0 (exit status {rc})")
            with connect(db) as c:
                n = c.execute("SELECT count(*) FROM api_keys_webhooks.deliveries d JOIN api_keys.events e "
                              "ON e.id = d.event_id WHERE e.key_id = %s AND d.outcome = 'delivered'",
                              (held,)).fetchone()[0]
            check(n == 1, f"the delivery in flight at the stop is recorded ({n})")
            worker = start()

            # Restored into another cluster: another system identifier, and a
            # floor from the old cluster's transaction ids, ahead of this one's.
            stop_after_recording(worker)
            with connect(db) as c:
                c.execute("UPDATE api_keys_webhooks.cursor SET system_identifier = 'another cluster', "
                          "floor_xid = '9999999999'")
                restored = c.execute("SELECT id FROM api_keys.apikey_create('acme', 'after restore', "
                                     "webhook_url => %s)", (base + "/restored",)).fetchone()[0]
            worker = start()
            wait_until(lambda: any(e["key_id"] == str(restored) for e in delivered()),
                       "an event after a restore into another cluster is delivered")
            check("another cluster than last time" in worker.output(), "the worker noticed the other cluster")

            expected = events_of([a, b, new_b, early, late, held, restored])
            got = [(e["event_id"], e["event"]) for e in delivered()]
            check(sorted(got) == sorted(expected), f"every event arrived exactly once: {got} vs {expected}")
            order = [x for x in got if x[0] in {i for i, _ in events_of([a, b, new_b])}]
            check(order == events_of([a, b, new_b]), "in the order they were recorded")
            check(all(h["X-Api-Keys-Event-Id"] == json.loads(body)["event_id"] for _, h, body in received),
                  "each carries its event id, the idempotency key")

            # The bookkeeping is the worker's: its role owns it, nobody else writes it.
            with connect(db) as c:
                owner, n = c.execute(
                    "SELECT tableowner, (SELECT count(*) FROM api_keys_webhooks.deliveries) "
                    "FROM pg_tables WHERE schemaname = 'api_keys_webhooks' AND tablename = 'deliveries'").fetchone()
            check(owner == "webhook_worker" and n == len(expected), f"deliveries recorded by the worker's role: {owner}, {n}")
            with connect(db, user="other_admin") as c:
                try:
                    c.execute("DELETE FROM api_keys_webhooks.deliveries")
                    check(False, "another administrator can change the worker's records")
                except psycopg.errors.InsufficientPrivilege:
                    check(True, "another administrator cannot change the worker's records (42501)")
        finally:
            for w in started:
                if w.running():
                    print(w.stop())
            with connect(db) as c:
                c.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'webhook_worker'")
                c.execute("DROP SCHEMA IF EXISTS api_keys_webhooks CASCADE")
            su.execute(f'REVOKE CREATE ON DATABASE "{db}" FROM webhook_worker')
    with connect() as su:
        su.execute("DROP ROLE IF EXISTS webhook_worker")
        su.execute("DROP ROLE IF EXISTS other_admin")
    server.shutdown()


if __name__ == "__main__":
    main()
