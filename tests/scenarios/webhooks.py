"""The example webhook worker delivers key events to a local HTTP server:
signed, retried after a failure, once per event, only for keys with a
webhook, and announces keys coming due for rotation."""

import hashlib
import hmac
import http.server
import json
import os
import pathlib
import subprocess
import threading
import time

from common import check, connect, fresh_database

ROOT = pathlib.Path(__file__).resolve().parents[2]
WORKER = ROOT / "examples" / "webhook_worker" / "worker.py"
SECRET = b"webhook-test-secret"


class Receiver(http.server.BaseHTTPRequestHandler):
    received = []
    fail_first = {"/flaky": 1}

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        left = Receiver.fail_first.get(self.path, 0)
        if left:
            Receiver.fail_first[self.path] = left - 1
            self.send_response(500)
            self.end_headers()
            return
        Receiver.received.append((self.path, dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def wait_for(pred, what, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    check(False, f"timed out waiting for {what}")


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    with fresh_database("webhooks") as db:
        dsn = f"dbname={db}"
        env = dict(os.environ, WEBHOOK_SECRET=SECRET.decode(), POLL="0.5", RETRIES="4",
                   ROTATION_WITHIN="2 days", EXPIRY_WITHIN="0")
        worker = subprocess.Popen([os.environ.get("PY", "python3"), str(WORKER), dsn], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            line = worker.stdout.readline()
            check("listening" in line, f"worker started: {line.strip()}")
            with connect(db) as c:
                hooked = c.execute("SELECT id FROM api_keys.apikey_create('acme', 'hooked', "
                                   "webhook_url => %s)", (base + "/hook",)).fetchone()[0]
                c.execute("SELECT api_keys.apikey_create('acme', 'no webhook')")
                c.execute("SELECT api_keys.apikey_revoke(%s)", (hooked,))
                flaky = c.execute("SELECT id FROM api_keys.apikey_create('acme', 'flaky', "
                                  "webhook_url => %s)", (base + "/flaky",)).fetchone()[0]
                due = c.execute("SELECT id FROM api_keys.apikey_create('acme', 'due', rotation_interval => '1 day', "
                                "webhook_url => %s)", (base + "/due",)).fetchone()[0]
            wait_for(lambda: len(Receiver.received) >= 5, "five deliveries")
            time.sleep(1.5)  # a few more announce rounds: nothing may repeat
            got = [(p, h["X-Api-Keys-Event"], json.loads(b)) for p, h, b in Receiver.received]
            summary = sorted((p, ev) for p, ev, _ in got)
            check(summary == sorted([("/hook", "created"), ("/hook", "revoked"), ("/flaky", "created"),
                                     ("/due", "created"), ("/due", "rotation_due")]),
                  f"each event delivered once, none for the key without a webhook: {summary}")
            for p, h, b in Receiver.received:
                expected = "sha256=" + hmac.new(SECRET, b, hashlib.sha256).hexdigest()
                check(hmac.compare_digest(h["X-Api-Keys-Signature"], expected), f"{p} signature verifies")
                check(json.loads(b)["event_id"] == h["X-Api-Keys-Event-Id"], "event id header matches the body")
            check(any(p == "/flaky" for p, _, _ in got), "a delivery that failed once was retried")
            with connect(db) as c:
                ids = [str(e["event_id"]) for _, _, e in got]
                n = c.execute("SELECT count(*) FROM api_keys.events WHERE id::text = ANY(%s)", (ids,)).fetchone()[0]
                check(n == len(ids), "every delivery is an audited event")
                keys = {str(hooked), str(flaky), str(due)}
                check({e["key_id"] for _, _, e in got} == keys, "deliveries name the right keys")
        finally:
            worker.terminate()
            out, _ = worker.communicate(timeout=10)
            print(out)
    server.shutdown()


if __name__ == "__main__":
    main()
