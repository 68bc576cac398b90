"""Shared helpers for the scenario tests (several real sessions).

The runner (tests/run_sql_tests.sh) exports PGHOST/PGPORT/PGUSER for a
throwaway cluster with the extension installed.
"""

import contextlib
import os
import subprocess
import sys
import uuid

import psycopg

# The server's programs (pg_dump must be at least the server's version) and
# the client's: Debian's psql for every server version (scripts/common.sh).
PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
PG_CONFIG = os.path.join(PG_BIN, "pg_config")
PSQL = os.path.join(os.environ.get("CLIENT_BIN", "/usr/lib/postgresql/15/bin"), "psql")


def connect(dbname="postgres", autocommit=True, **kw):
    return psycopg.connect(dbname=dbname, autocommit=autocommit, **kw)


@contextlib.contextmanager
def fresh_database(prefix="scenario"):
    """A new database with the extension created; dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    with connect() as c:
        c.execute(f'CREATE DATABASE "{name}"')
    try:
        with connect(name) as c:
            c.execute("CREATE EXTENSION api_keys")
        yield name
    finally:
        with connect() as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def create_key(conn, owner="acme", name="k", **kw):
    cols = ", ".join(f"{k} => %({k})s" for k in kw)
    sql = f"SELECT id, key FROM api_keys.apikey_create(%(owner)s, %(name)s{', ' + cols if cols else ''})"
    return conn.execute(sql, {"owner": owner, "name": name, **kw}).fetchone()


def verify_code(conn, key, *args):
    placeholders = "".join(", %s" for _ in args)
    return conn.execute(f"SELECT code FROM api_keys.apikey_verify(%s{placeholders})", (key, *args)).fetchone()[0]


def check(cond, message):
    if not cond:
        print(f"FAIL: {message}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {message}")


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def wait_until(predicate, what, timeout=60.0, interval=0.02):
    """Wait for a condition instead of sleeping for a guessed time; fail
    after `timeout` seconds (a hang, never a slow machine)."""
    import time
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            check(False, f"timed out waiting until {what}")
        time.sleep(interval)


def wait_until_blocked(pid, dbname="postgres"):
    """Wait until backend `pid` waits for a lock (another session's row or
    relation lock), so a test knows the order of events without a sleep."""
    with connect(dbname) as c:
        wait_until(lambda: c.execute(
            "SELECT wait_event_type = 'Lock' FROM pg_catalog.pg_stat_activity WHERE pid = %s",
            (pid,)).fetchone() == (True,), f"backend {pid} waits for a lock")



def planted_trap(attacker):
    """SQL that creates schema `evil` with table `evil.fired` and function
    `evil.fire(what)`: the look-alike objects of an attack call it, and it
    records who ran `what` and, when that is a superuser, makes role
    `attacker` a superuser (the escalation the attack is after)."""
    return f"""
CREATE SCHEMA evil;
GRANT USAGE ON SCHEMA evil TO PUBLIC;
CREATE TABLE evil.fired (who text, what text);
GRANT INSERT ON evil.fired TO PUBLIC;
CREATE FUNCTION evil.fire(what text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO evil.fired VALUES (current_user, what);
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE {attacker} SUPERUSER';
    END IF;
END $$;
"""

# --- webhook deliveries: a local receiver and the example worker ----------

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WEBHOOK_WORKER = os.path.join(ROOT, "examples", "webhook_worker", "worker.py")


def start_receiver(fail_first=None, hold=None):
    """An HTTP server on 127.0.0.1 (a port of its own) that records every
    POST as (path, headers, body) and answers 204; a path in `fail_first`
    is answered 500 that many times first; a POST to a path in `hold` (a
    dict of path: threading.Event) is listed in `server.arrived` at once
    and answered only when its event is set. Returns (server, base URL, the
    list of POSTs); call server.shutdown() when done."""
    import http.server
    import threading

    received, failing, held = [], dict(fail_first or {}), dict(hold or {})

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path in held:
                server.arrived.append(self.path)
                held[self.path].wait(timeout=120)
            if failing.get(self.path, 0):
                failing[self.path] -= 1
                self.send_response(500)
            else:
                received.append((self.path, dict(self.headers), body))
                self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.arrived = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}", received


class WebhookWorker:
    """examples/webhook_worker/worker.py in a process of its own, its output
    in a file the test can wait on."""

    def __init__(self, dsn, secret, **env):
        import tempfile
        self.log = tempfile.NamedTemporaryFile("w+", prefix="webhook_worker.", suffix=".log", delete=False)
        full = dict(os.environ, WEBHOOK_SECRET=secret, **{k: str(v) for k, v in env.items()})
        self.proc = subprocess.Popen([os.environ.get("PY", sys.executable), WEBHOOK_WORKER, dsn], env=full,
                                     stdout=self.log, stderr=subprocess.STDOUT, text=True)
        self.wait_for("listening on api_keys_events")

    def output(self):
        with open(self.log.name) as f:
            return f.read()

    def wait_for(self, text, count=1):
        """Wait until the worker has printed `text` at least `count` times."""
        wait_until(lambda: self.output().count(text) >= count or self.proc.poll() is not None,
                   f"the worker prints {text!r}")
        check(self.proc.poll() is None, f"the worker is running (it printed {text!r})\n{self.output()}")

    def running(self):
        return self.proc.poll() is None

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        out = self.output()
        os.unlink(self.log.name)
        return out
