"""A real pgbouncer in transaction pooling mode in front of the test server.

pgbouncer (Debian package, /usr/sbin/pgbouncer) runs with pool_mode =
transaction and ONE server connection for the database, so two clients
share it: every transaction of either client runs on the same backend.
Two clients with keys of different tenants interleave many transactions
(authenticate, then read the rows), first in strict alternation, then
concurrently from two threads, with autocommit statements, rollbacks and
failed transactions mixed in. Checked:

- via pg_backend_pid(), the clients really shared one server connection;
- at the start of every transaction, and in every statement outside an
  authenticated transaction, the context is empty;
- inside, each client sees its own tenant's context and rows, never the
  other's.

pgbouncer is stopped on exit, whatever happens.
"""

import atexit
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

import psycopg

from common import PSQL, check, connect, create_key, fresh_database, run

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCHEMA = os.path.join(ROOT, "examples", "multi_tenant", "schema.sql")
PGBOUNCER = "/usr/sbin/pgbouncer"
ROUNDS = int(os.environ.get("API_KEYS_PGBOUNCER_ROUNDS", "150"))

bouncer = None
workdir = tempfile.mkdtemp(prefix="api_keys.pgbouncer.")


def stop_bouncer():
    global bouncer
    if bouncer is not None and bouncer.poll() is None:
        bouncer.terminate()
        try:
            bouncer.wait(10)
        except subprocess.TimeoutExpired:
            bouncer.kill()
            bouncer.wait()
    bouncer = None
    shutil.rmtree(workdir, ignore_errors=True)


atexit.register(stop_bouncer)
for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    signal.signal(sig, lambda *_: sys.exit(1))


def start_bouncer():
    """pgbouncer on a Unix socket in its own directory (no TCP port that
    another run could hold); the port only names the socket file."""
    global bouncer
    port = 6432
    pghost = os.environ.get("PGHOST", "/var/run/postgresql")
    pgport = os.environ.get("PGPORT", "5432")
    with open(os.path.join(workdir, "userlist.txt"), "w") as f:
        f.write('"authenticator" ""\n"postgres" ""\n')
    with open(os.path.join(workdir, "pgbouncer.ini"), "w") as f:
        f.write(f"""[databases]
* = host={pghost} port={pgport}

[pgbouncer]
listen_port = {port}
unix_socket_dir = {workdir}
auth_type = trust
auth_file = {workdir}/userlist.txt
pool_mode = transaction
default_pool_size = 1
min_pool_size = 0
reserve_pool_size = 0
max_db_connections = 1
max_client_conn = 8
server_lifetime = 3600
server_idle_timeout = 3600
ignore_startup_parameters = extra_float_digits
logfile = {workdir}/pgbouncer.log
pidfile = {workdir}/pgbouncer.pid
""")
    kw = {}
    if os.getuid() == 0:
        pw = pwd.getpwnam("postgres")
        for root, dirs, files in os.walk(workdir):
            for name in [root] + [os.path.join(root, n) for n in files]:
                os.chown(name, pw.pw_uid, pw.pw_gid)
        kw = {"user": pw.pw_uid, "group": pw.pw_gid, "extra_groups": []}
    bouncer = subprocess.Popen([PGBOUNCER, os.path.join(workdir, "pgbouncer.ini")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)
    deadline = time.time() + 15
    while time.time() < deadline:
        if bouncer.poll() is not None:
            break
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(os.path.join(workdir, f".s.PGSQL.{port}"))
                return port
        except OSError:
            time.sleep(0.1)
    log = open(os.path.join(workdir, "pgbouncer.log")).read() if os.path.exists(os.path.join(workdir, "pgbouncer.log")) else ""
    print(log, file=sys.stderr)
    check(False, "pgbouncer started")


def through_bouncer(db, port):
    # pgbouncer 1.18 in transaction mode cannot keep prepared statements.
    return psycopg.connect(host=workdir, port=port, dbname=db, user="authenticator",
                           autocommit=True, prepare_threshold=None)


ORDER = []  # which client ran each authenticated transaction, in order


def switches(order):
    return sum(1 for x, y in zip(order, order[1:]) if x != y)


class Client:
    def __init__(self, name, conn, key, tenant, titles):
        self.name, self.conn, self.key, self.tenant, self.titles = name, conn, key, tenant, titles
        self.pids = set()
        self.problems = []
        self.transactions = 0

    def problem(self, what):
        self.problems.append(f"{self.name}: {what}")

    def authenticated_read(self, end="COMMIT"):
        """BEGIN; SET LOCAL ROLE web_anon; (empty context?) authenticate; read; end."""
        c = self.conn
        c.execute("BEGIN")
        try:
            c.execute("SET LOCAL ROLE web_anon")
            pid0, owner0, key0 = c.execute(
                "SELECT pg_backend_pid(), api_keys.apikey_current_owner(), api_keys.apikey_current_key_id()"
            ).fetchone()
            if owner0 is not None or key0 is not None:
                self.problem(f"context {owner0!r} at the start of a transaction")
            n0 = c.execute("SELECT count(*) FROM app.documents").fetchone()[0]
            if n0 != 0:
                self.problem(f"{n0} rows visible before authenticating")
            c.execute("SELECT api_keys.apikey_authenticate(%s)", (self.key,))
            pid1, owner, titles = c.execute(
                "SELECT pg_backend_pid(), api_keys.apikey_current_owner(),"
                "       coalesce(array_agg(title ORDER BY title), '{}') FROM app.documents"
            ).fetchone()
            if pid1 != pid0:
                self.problem("the backend changed inside a transaction")
            if owner != self.tenant:
                self.problem(f"context {owner!r} instead of {self.tenant!r}")
            if set(titles) != self.titles:
                self.problem(f"saw rows {sorted(titles)}")
            self.pids.add(pid1)
            ORDER.append(self.name)
            if end == "error":
                try:
                    c.execute("SELECT 1 / 0")
                    self.problem("1 / 0 did not fail")
                except psycopg.errors.DivisionByZero:
                    pass
                c.execute("ROLLBACK")
            else:
                c.execute(end)
        except BaseException:
            c.execute("ROLLBACK")
            raise
        self.transactions += 1

    def outside(self):
        """An autocommit statement: no context, whatever ran before on the backend."""
        pid, owner, key_id, scoped = self.conn.execute(
            "SELECT pg_backend_pid(), api_keys.apikey_current_owner(), api_keys.apikey_current_key_id(),"
            "       api_keys.apikey_has_scope('read:documents')"
        ).fetchone()
        self.pids.add(pid)
        if owner is not None or key_id is not None or scoped:
            self.problem(f"context {owner!r} outside a transaction")

    def one_statement(self):
        """Authenticate in an autocommit statement: the context lasts that statement."""
        pid, owner = self.conn.execute(
            "SELECT pg_backend_pid(), (SELECT api_keys.apikey_current_owner()"
            "  FROM (SELECT api_keys.apikey_authenticate(%s)) s)", (self.key,)
        ).fetchone()
        self.pids.add(pid)


with fresh_database("pgbouncer") as db:
    run([PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-f", SCHEMA])
    with connect(db) as admin:
        admin.execute("INSERT INTO app.documents (tenant, title) VALUES"
                      " ('tenant_a', 'a1'), ('tenant_a', 'a2'), ('tenant_b', 'b1'), ('tenant_c', 'c1')")
        _, key_a = create_key(admin, "tenant_a", "a", scopes=["read:documents"])
        _, key_b = create_key(admin, "tenant_b", "b", scopes=["read:documents"])

    port = start_bouncer()
    check(True, f"pgbouncer started (transaction pooling, one server connection) on {workdir}")
    a = Client("A", through_bouncer(db, port), key_a, "tenant_a", {"a1", "a2"})
    b = Client("B", through_bouncer(db, port), key_b, "tenant_b", {"b1"})

    # 1. Strict alternation: every step of one client runs right after the other's.
    ends = ["COMMIT", "COMMIT", "ROLLBACK", "error"]
    for i in range(ROUNDS):
        first, second = (a, b) if i % 2 == 0 else (b, a)
        first.authenticated_read(ends[i % len(ends)])
        second.outside()
        second.authenticated_read(ends[(i + 1) % len(ends)])
        first.outside()
        if i % 5 == 0:
            first.one_statement()
            second.outside()
    both = a.pids | b.pids
    check(len(both) == 1 and a.pids == b.pids,
          f"alternating: all {a.transactions + b.transactions} transactions of both clients ran on one server connection (pids {sorted(both)})")
    check(not a.problems and not b.problems,
          f"alternating: no client ever saw the other's context or rows {(a.problems + b.problems)[:5]}")

    # 2. Concurrently, from two threads.
    errors = []

    def hammer(client):
        try:
            for i in range(ROUNDS):
                client.authenticated_read(ends[i % len(ends)])
                client.outside()
                if i % 7 == 0:
                    client.one_statement()
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(f"{client.name}: {type(e).__name__}: {e}")

    before = (a.transactions, b.transactions)
    ORDER.clear()
    threads = [threading.Thread(target=hammer, args=(c,)) for c in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    check(not errors, f"concurrent: no client failed {errors[:3]}")
    n = a.transactions + b.transactions - sum(before)
    check(n == 2 * ROUNDS, f"concurrent: {n} transactions ran")
    check(switches(ORDER) >= ROUNDS // 10,
          f"concurrent: the clients' transactions interleaved ({switches(ORDER)} switches between A and B)")
    both = a.pids | b.pids
    check(len(both) == 1, f"concurrent: still one server connection for both (pids {sorted(both)})")
    check(not a.problems and not b.problems,
          f"concurrent: no client ever saw the other's context or rows {(a.problems + b.problems)[:5]}")

    # 3. Directly on that backend, after everything: the server connection
    # pgbouncer keeps carries no context.
    a.outside()
    check(not a.problems, "after the run, the pooled server connection has no context")

    # The clients were really pooled: pgbouncer itself counts one server connection.
    a.conn.close()
    b.conn.close()
    with connect(db) as admin:
        n_backends = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND usename = 'authenticator'", (db,)
        ).fetchone()[0]
    check(n_backends == 1, f"the server saw exactly one authenticator backend ({n_backends})")
    stop_bouncer()
