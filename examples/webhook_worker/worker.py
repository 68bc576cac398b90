#!/usr/bin/env python3
"""Deliver api_keys events to each key's webhook, durably.

The database never makes HTTP calls: every key event (created, updated,
rotated, revoked, rotation_due, expiring, imported) is written to
api_keys.events, and its id alone is sent with NOTIFY api_keys_events at
commit. This worker reads the events from api_keys.events (readable by
api_keys_admin only; a notification is only a reason to look), and POSTs
each event whose key has a webhook_url, as JSON, with

    X-Api-Keys-Event:      the event name
    X-Api-Keys-Event-Id:   the event's id: deliveries may repeat, dedupe on it
    X-Api-Keys-Signature:  sha256=<hex HMAC-SHA-256 of the body under WEBHOOK_SECRET>

Durable: every delivery is recorded in the worker's own table in the same
transaction as the worker's cursor, and at start, after any reconnect, at
every notification and every POLL seconds the worker delivers, in the order
they were recorded, the events it has not delivered yet. So events that
happen while it is down or disconnected are delivered when it is back:
at least once, exactly once unless it dies between a POST and its record.
SIGTERM and SIGINT stop it at once, except during a POST: then it waits for
the answer, records the delivery and stops (exit status 0), so a service
manager's stop never makes it deliver an event again.

Why not "the last delivered event id": events are numbered (`seq`) when they
are recorded, but transactions commit in another order, so an event can
become visible after a later-numbered one was delivered. The worker keeps
instead the ids it delivered and a floor: a transaction id below which every
transaction had ended when the worker last looked (the xmin of its
snapshot); it re-reads every event of a transaction at or above the floor
that it has not delivered. See docs/lifecycle.md.

Safe against what any role can send on the channel: the notification's text
is never parsed or trusted (NOTIFY is open to every role), and destinations
are checked: loopback, private, link-local and other non-public addresses are
refused unless ALLOW_NETWORKS allows them; the address is resolved once and
connected to directly (no second lookup), and redirects are not followed.
An event that cannot be delivered is logged and retried at the next pass; a
refused one is recorded and not retried; the worker keeps running.

Every POLL seconds it also calls api_keys.apikey_announce_due() so that keys
coming due for rotation or expiry are announced (once per key and due time).

    WEBHOOK_SECRET=... python3 worker.py "dbname=app user=webhook_worker"

Options (environment): WEBHOOK_SECRET (required), POLL (seconds, 60),
RETRIES (attempts per pass, 5), TIMEOUT (seconds per attempt, 10),
ROTATION_WITHIN ('7 days'), EXPIRY_WITHIN ('7 days'), ALLOW_NETWORKS
(comma-separated CIDRs of non-public destinations to allow, e.g.
'10.20.0.0/16'; none by default), STATE_SCHEMA (api_keys_webhooks: the
schema of the worker's tables, created when missing), WORKER_NAME (default:
workers with different names keep separate records).

The connecting role needs api_keys_admin (to read api_keys.events and to
call apikey_announce_due) and either CREATE on the database or an existing
STATE_SCHEMA it owns. It owns the worker's tables: no other role can write
them. Needs psycopg 3 (pip install 'psycopg[binary]').
"""

import contextlib
import hashlib
import hmac
import http.client
import ipaddress
import json
import os
import signal
import socket
import sys
import time
import urllib.parse

import psycopg
from psycopg import sql


def log(message):
    print(message, flush=True)


class Stopped(KeyboardInterrupt):
    """A stop signal (SIGTERM, SIGINT): it ends the worker as Ctrl-C would."""


class Refused(Exception):
    """A destination the worker will not send to."""


def allowed_networks(text):
    return [ipaddress.ip_network(n.strip(), strict=False) for n in text.split(",") if n.strip()]


def address_allowed(address, allow):
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip.version == net.version and ip in net for net in allow):
        return True
    return ip.is_global and not ip.is_multicast


def destination(url, allow):
    """(scheme, host, port, address to connect to, path) of a webhook URL,
    or Refused. Every address the host resolves to must be allowed."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise Refused("not an http(s) URL with a host")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as e:
        raise Refused(f"bad port: {e}") from None
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except UnicodeError as e:
        raise Refused(f"bad host name: {e}") from None
    # (A failed lookup, socket.gaierror, is an OSError: retried at the next pass.)
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    for a in addresses:
        if not address_allowed(a, allow):
            raise Refused(f"{parts.hostname!r} is {a}, not a public address "
                          "(ALLOW_NETWORKS can allow it)")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return scheme, parts.hostname, port, addresses[0], path


class PinnedHTTP(http.client.HTTPConnection):
    """Connects to the address checked, not to a second lookup of the host."""

    def __init__(self, host, port, address, timeout):
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self):
        self.sock = socket.create_connection((self.address, self.port), self.timeout)


class PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(self, host, port, address, timeout):
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self):
        sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def sign(secret, body):
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def post(target, body, headers, timeout):
    """One attempt; True for a 2xx answer. Redirects are not followed."""
    scheme, host, port, address, path = target
    cls = PinnedHTTPS if scheme == "https" else PinnedHTTP
    conn = cls(host, port, address, timeout)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        response.read(64 * 1024)
        return 200 <= response.status < 300
    finally:
        conn.close()


class Worker:
    def __init__(self, dsn, env):
        self.dsn = dsn
        self.secret = env.get("WEBHOOK_SECRET", "").encode()
        self.poll = float(env.get("POLL", "60"))
        self.retries = max(1, int(env.get("RETRIES", "5")))
        self.timeout = float(env.get("TIMEOUT", "10"))
        self.rotation_within = env.get("ROTATION_WITHIN", "7 days")
        self.expiry_within = env.get("EXPIRY_WITHIN", "7 days")
        self.allow = allowed_networks(env.get("ALLOW_NETWORKS", ""))
        self.schema_name = env.get("STATE_SCHEMA", "api_keys_webhooks")
        self.schema = sql.Identifier(self.schema_name)
        self.name = env.get("WORKER_NAME", "default")
        self.delivering = False      # between a POST and its record
        self.stop_requested = False  # a stop signal came while delivering

    def on_stop_signal(self, signum, frame):
        if self.delivering:
            log("stop requested; finishing the delivery in flight first")
            self.stop_requested = True
        else:
            raise Stopped()

    @contextlib.contextmanager
    def delivery(self):
        """A POST and its record: a stop signal waits until both are done."""
        self.delivering = True
        try:
            yield
        finally:
            self.delivering = False
            if self.stop_requested:
                raise Stopped()  # also when the record failed: the stop is kept

    def q(self, text):
        return sql.SQL(text).format(s=self.schema)

    # -- the worker's own tables: its cursor and the deliveries it made
    def prepare(self, conn):
        exists = conn.execute("SELECT pg_catalog.to_regnamespace(%s) IS NOT NULL",
                              (self.schema_name,)).fetchone()[0]
        if not exists:
            conn.execute(self.q("CREATE SCHEMA {s}"))
        conn.execute(self.q("""
            CREATE TABLE IF NOT EXISTS {s}.cursor (
                worker            text PRIMARY KEY,
                system_identifier text NOT NULL,    -- the cluster the floor belongs to
                start_seq         bigint NOT NULL,  -- events up to this one predate the worker
                floor_xid         xid8 NOT NULL,    -- every event of an older transaction is handled
                last_event_id     uuid,
                last_delivered_at timestamptz)"""))
        conn.execute(self.q("""
            CREATE TABLE IF NOT EXISTS {s}.deliveries (
                worker     text NOT NULL,
                event_id   uuid NOT NULL,
                seq        bigint NOT NULL,
                outcome    text NOT NULL CHECK (outcome IN ('delivered', 'refused')),
                detail     text,
                at         timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (worker, event_id))"""))
        system = conn.execute(
            "SELECT system_identifier::text FROM pg_catalog.pg_control_system()").fetchone()[0]
        with conn.transaction():
            row = conn.execute(self.q(
                "SELECT system_identifier, floor_xid::text FROM {s}.cursor WHERE worker = %s FOR UPDATE"),
                (self.name,)).fetchone()
            if row is None:
                # First start: what is in the log already is not this worker's to deliver.
                conn.execute(self.q("""
                    INSERT INTO {s}.cursor (worker, system_identifier, start_seq, floor_xid)
                    SELECT %s, %s, COALESCE(max(seq), 0), pg_snapshot_xmin(pg_current_snapshot())
                      FROM api_keys.events"""), (self.name, system))
                log("first start: delivering events recorded from now on")
            elif row[0] != system:
                # Restored into another cluster (or pg_upgrade): transaction ids
                # are not comparable with the floor any more; the delivered ids are.
                conn.execute(self.q(
                    "UPDATE {s}.cursor SET floor_xid = '0', system_identifier = %s WHERE worker = %s"),
                    (system, self.name))
                log("another cluster than last time: re-reading every event not delivered")

    # -- one pass: everything not handled yet, in order
    def catch_up(self, conn):
        with conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            start_seq, floor, horizon, behind = conn.execute(self.q("""
                SELECT c.start_seq, c.floor_xid::text,
                       pg_snapshot_xmin(pg_current_snapshot())::text,
                       c.floor_xid > pg_snapshot_xmax(pg_current_snapshot())
                  FROM {s}.cursor c WHERE c.worker = %s"""), (self.name,)).fetchone()
            if behind:
                # The transaction counter is below the floor: not the cluster the
                # floor was taken in. Read everything not delivered, and start over.
                log("the floor is ahead of this cluster's transactions: re-reading every event")
                floor = "0"
            events = conn.execute(self.q("""
                SELECT e.id, e.seq, e.xid::text, e.action, e.at, e.key_id, e.owner, e.name,
                       e.prefix, e.expires_at, e.next_rotation_at, e.webhook_url, e.changes
                  FROM api_keys.events e
                 WHERE e.xid >= %s::xid8 AND e.seq > %s AND e.webhook_url IS NOT NULL
                   AND NOT EXISTS (SELECT FROM {s}.deliveries d
                                    WHERE d.worker = %s AND d.event_id = e.id)
                 ORDER BY e.seq"""), (floor, start_seq, self.name)).fetchall()
        unhandled = []
        for e in events:
            try:
                if not self.handle(conn, e):
                    unhandled.append(e[2])
            except psycopg.OperationalError:
                raise
            except Exception as ex:  # never stop on one event
                log(f"event {e[0]}: {type(ex).__name__}: {ex}")
                unhandled.append(e[2])
        # The new floor: the oldest transaction still running when the events
        # were read, or the oldest event not handled, whichever is lower.
        conn.execute(self.q("""
            WITH new AS (
                SELECT LEAST(%s::xid8, (SELECT x::xid8 FROM unnest(%s::text[]) x
                                         ORDER BY x::xid8 LIMIT 1)) AS floor)
            UPDATE {s}.cursor
               SET floor_xid = CASE WHEN %s THEN new.floor ELSE GREATEST(floor_xid, new.floor) END
              FROM new
             WHERE worker = %s"""), (horizon, unhandled, behind, self.name))

    def handle(self, conn, e):
        """Deliver or refuse one event; False when it is to be retried."""
        event_id, seq, _, action, at, key_id, owner, name, prefix, expires_at, rotation_at, url, changes = e
        try:
            target = destination(url, self.allow)
        except Refused as why:
            log(f"refused {action} {event_id}: {why}")
            self.record(conn, event_id, seq, "refused", str(why))
            return True
        except OSError as ex:
            log(f"{event_id}: cannot resolve the webhook's host ({ex}); retried at the next pass")
            return False
        payload = {
            "event_id": str(event_id), "event": action, "at": at.isoformat(), "seq": seq,
            "key_id": str(key_id), "owner": owner, "name": name, "prefix": prefix,
            "expires_at": expires_at.isoformat() if expires_at else None,
            "next_rotation_at": rotation_at.isoformat() if rotation_at else None,
            "webhook_url": url, "changes": changes,
        }
        body = json.dumps(payload, sort_keys=True).encode()
        headers = {"Content-Type": "application/json", "X-Api-Keys-Event": action,
                   "X-Api-Keys-Event-Id": str(event_id), "X-Api-Keys-Signature": sign(self.secret, body)}
        delay = 0.2
        for attempt in range(1, self.retries + 1):
            with self.delivery():
                try:
                    delivered = post(target, body, headers, self.timeout)
                    if delivered:
                        self.record(conn, event_id, seq, "delivered", None)
                        log(f"delivered {action} {event_id} (attempt {attempt})")
                    else:
                        log(f"attempt {attempt} for {event_id}: not a 2xx answer")
                except (OSError, http.client.HTTPException) as ex:
                    delivered = False
                    log(f"attempt {attempt} for {event_id} failed: {ex}")
            if delivered:
                return True
            if attempt < self.retries:
                time.sleep(delay)
                delay = min(delay * 2, 30)
        log(f"{event_id} not delivered after {self.retries} attempts; retried at the next pass")
        return False

    def record(self, conn, event_id, seq, outcome, detail):
        with conn.transaction():
            conn.execute(self.q("""
                INSERT INTO {s}.deliveries (worker, event_id, seq, outcome, detail)
                VALUES (%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"""),
                (self.name, event_id, seq, outcome, detail))
            if outcome == "delivered":
                conn.execute(self.q("""
                    UPDATE {s}.cursor SET last_event_id = %s, last_delivered_at = now()
                     WHERE worker = %s"""), (event_id, self.name))

    def announce(self, conn):
        n = conn.execute("SELECT api_keys.apikey_announce_due(%s, %s)",
                         (self.rotation_within, self.expiry_within)).fetchone()[0]
        log(f"announced {n} keys coming due")

    def serve(self, conn):
        self.prepare(conn)
        conn.execute("LISTEN api_keys_events")
        log("listening on api_keys_events")
        next_round = 0.0
        while True:
            if time.monotonic() >= next_round:
                self.announce(conn)
                self.catch_up(conn)
                next_round = time.monotonic() + self.poll
                continue
            timeout = max(0.05, next_round - time.monotonic())
            # A notification only says "look": its text is never read. One
            # pass serves every notification that has arrived.
            if any(True for _ in conn.notifies(timeout=timeout, stop_after=1)):
                for _ in conn.notifies(timeout=0):
                    pass
                self.catch_up(conn)

    def run(self):
        if not self.secret:
            print("WEBHOOK_SECRET is required", file=sys.stderr)
            return 2
        backoff = 1.0
        while True:
            try:
                with psycopg.connect(self.dsn, autocommit=True,
                                     application_name="api_keys_webhook_worker") as conn:
                    backoff = 1.0
                    self.serve(conn)
            except psycopg.OperationalError as e:
                log(f"connection lost ({str(e).strip()}); reconnecting in {backoff:.0f} s")
                time.sleep(backoff)
                backoff = min(backoff * 2, 30)


def main():
    dsn = sys.argv[1] if len(sys.argv) > 1 else ""
    worker = Worker(dsn, os.environ)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, worker.on_stop_signal)
    try:
        return worker.run()
    except KeyboardInterrupt:
        log("stopped")
        return 0


if __name__ == "__main__":
    sys.exit(main())
