#!/usr/bin/env python3
"""Deliver api_keys events to each key's webhook.

The database never makes HTTP calls: every key event (created, updated,
rotated, revoked, rotation_due, expiring) is written to api_keys.events and
sent with NOTIFY api_keys_events at commit. This worker LISTENs, and POSTs
each event whose key has a webhook_url, as JSON, with

    X-Api-Keys-Event:      the event name
    X-Api-Keys-Event-Id:   the event's id (deliveries may repeat: dedupe on it)
    X-Api-Keys-Signature:  sha256=<hex HMAC-SHA-256 of the body under WEBHOOK_SECRET>

retrying failed deliveries with exponential backoff. Every POLL seconds it
also calls api_keys.apikey_announce_due() so that keys coming due for
rotation or expiry are announced (once per key and due time).

    WEBHOOK_SECRET=... python3 worker.py "dbname=app user=key_admin"

Options (environment): WEBHOOK_SECRET (required), POLL (seconds, 60),
RETRIES (5), ROTATION_WITHIN ('7 days'), EXPIRY_WITHIN ('7 days').
The connecting role needs api_keys_admin (for apikey_announce_due).
Needs psycopg 3 (pip install 'psycopg[binary]').
"""

import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.request

import psycopg


def sign(secret: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()


def deliver(event: dict, secret: bytes, retries: int) -> bool:
    body = json.dumps(event, sort_keys=True).encode()
    request = urllib.request.Request(
        event["webhook_url"], data=body, method="POST",
        headers={"Content-Type": "application/json",
                 "X-Api-Keys-Event": event["event"],
                 "X-Api-Keys-Event-Id": event["event_id"],
                 "X-Api-Keys-Signature": sign(secret, body)})
    delay = 0.2
    for attempt in range(1, retries + 1):
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                if 200 <= response.status < 300:
                    print(f"delivered {event['event']} {event['event_id']} (attempt {attempt})", flush=True)
                    return True
        except (urllib.error.URLError, OSError) as e:
            print(f"attempt {attempt} for {event['event_id']} failed: {e}", flush=True)
        time.sleep(delay)
        delay = min(delay * 2, 30)
    print(f"gave up on {event['event_id']} after {retries} attempts", flush=True)
    return False


def main() -> int:
    dsn = sys.argv[1] if len(sys.argv) > 1 else ""
    secret = os.environ.get("WEBHOOK_SECRET", "").encode()
    if not secret:
        print("WEBHOOK_SECRET is required", file=sys.stderr)
        return 2
    poll = float(os.environ.get("POLL", "60"))
    retries = int(os.environ.get("RETRIES", "5"))
    rotation_within = os.environ.get("ROTATION_WITHIN", "7 days")
    expiry_within = os.environ.get("EXPIRY_WITHIN", "7 days")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("LISTEN api_keys_events")
        print("listening on api_keys_events", flush=True)
        next_announce = 0.0
        while True:
            if time.monotonic() >= next_announce:
                conn.execute("SELECT api_keys.apikey_announce_due(%s, %s)",
                             (rotation_within, expiry_within))
                next_announce = time.monotonic() + poll
            timeout = max(0.1, next_announce - time.monotonic())
            for note in conn.notifies(timeout=timeout, stop_after=1):
                event = json.loads(note.payload)
                if event.get("webhook_url"):
                    deliver(event, secret, retries)


if __name__ == "__main__":
    sys.exit(main())
