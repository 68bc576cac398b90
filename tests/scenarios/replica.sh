#!/usr/bin/env bash
# Verification on a streaming hot standby.
#
# Builds a primary and a hot standby (pg_basebackup and streaming over the
# primary's Unix socket, run as the PostgreSQL OS user), then checks:
#   - keys created on the primary answer `valid` on the standby once the
#     standby has replayed past the primary's WAL position (waited for with
#     pg_last_wal_replay_lsn() >= the primary's pg_current_wal_lsn());
#   - scopes, networks and the other codes answer the same on both;
#   - apikey_authenticate and the three accessors work on the standby, and the
#     context ends with the transaction there too;
#   - a revoke on the primary is answered `revoked` on the standby after
#     replay, also in a standby session that verified the key before (no
#     cache keeps it alive); a rotation replays too;
#   - usage tracking never makes a standby call fail, with
#     api_keys.last_used_resolution 0 and 1 and the default, for keys never
#     used and keys just used; the standby does not write last_used_at;
#   - key management on the standby fails cleanly (read-only transaction),
#     without an internal error.
# Both clusters are stopped and removed on exit.
source "$(dirname "$0")/lib.sh"
scenario replica
PRIMARY="${DIR}/primary"
STANDBY="${DIR}/standby"
# Each cluster listens on a socket in its own directory: one port number.
P_PORT="${CLUSTER_PORT}"
S_PORT="${CLUSTER_PORT}"
SCENARIO_CLUSTERS+=("${STANDBY}")   # stopped before the primary

echo "primary and standby in ${DIR}"
start_cluster "${PRIMARY}" "shared_preload_libraries = 'api_keys'
api_keys.flush_interval = 1
wal_level = replica
max_wal_senders = 4
hot_standby = on"

mkdir -p "${STANDBY}"
chown "$(pg_os_user)" "${STANDBY}" 2>/dev/null || true
as_pg "${PG_BIN}/pg_basebackup" -h "${PRIMARY}/sock" -p "${P_PORT}" -U postgres -D "${STANDBY}/data" \
    -X stream -R --checkpoint=fast --no-sync >"${STANDBY}/basebackup.log" 2>&1 \
    || { cat "${STANDBY}/basebackup.log"; exit 1; }
as_pg mkdir -p "${STANDBY}/sock"
cat >>"${STANDBY}/data/postgresql.conf" <<CONF
port = ${S_PORT}
unix_socket_directories = '${STANDBY}/sock'
hot_standby = on
CONF
as_pg "${PG_BIN}/pg_ctl" -D "${STANDBY}/data" -l "${STANDBY}/server.log" -w -t 60 start >/dev/null \
    || { cat "${STANDBY}/server.log"; exit 1; }

"${PY}" - "${PRIMARY}/sock" "${P_PORT}" "${STANDBY}/sock" "${S_PORT}" <<'PYTHON'
import sys
import time

import psycopg
from common import check, connect

p_host, p_port, s_host, s_port = sys.argv[1:5]
primary = connect(host=p_host, port=p_port)
standby = connect(host=s_host, port=s_port)
check(standby.execute("SELECT pg_is_in_recovery()").fetchone()[0], "the standby is in recovery (hot standby)")
check(primary.execute("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'").fetchone()[0] == 1,
      "the standby streams from the primary")


def replayed():
    """Wait until the standby has replayed everything the primary wrote."""
    target = primary.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if standby.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (str(target),)).fetchone()[0]:
            return
        time.sleep(0.05)
    sys.exit(f"FAIL: the standby did not replay up to {target} within 30 s")


def stored(key_id):
    """Wait until the primary's background worker stored a use of the key
    (it flushes every second here)."""
    deadline = time.monotonic() + 60
    while not primary.execute("SELECT last_used_at IS NOT NULL FROM api_keys.keys WHERE id = %s",
                              (key_id,)).fetchone()[0]:
        if time.monotonic() > deadline:
            sys.exit("FAIL: the primary did not store the use within 60 s")
        time.sleep(0.05)


def code(conn, key, scope=None, ip=None):
    return conn.execute("SELECT code FROM api_keys.apikey_verify(%s, %s, %s::inet)", (key, scope, ip)).fetchone()[0]


# CREATE EXTENSION on the primary replays to the standby like everything else.
primary.execute("CREATE EXTENSION api_keys")


def create(*args, **kw):
    cols = "".join(f", {k} => %({k})s" for k in kw)
    return primary.execute(f"SELECT id, key FROM api_keys.apikey_create(%(o)s, %(n)s{cols})",
                           {"o": args[0], "n": args[1], **kw}).fetchone()


scoped_id, scoped = create("acme", "scoped", scopes=["read:docs/*"], allowed_cidrs=["10.0.0.0/8"])
plain_id, plain = create("acme", "plain", scopes=["read"])
doomed_id, doomed = create("acme", "to revoke")
rotating_id, rotating = create("acme", "to rotate")
expired_soon_id, expired_soon = create("acme", "short", expires_at="infinity")
replayed()

# Same answers on both sides.
cases = [
    (scoped, "read:docs/1", "10.1.2.3"), (scoped, "write:docs/1", "10.1.2.3"), (scoped, None, "192.168.0.1"),
    (scoped, None, None), (plain, "read:x", None), (plain, "write:x", None), (doomed, None, None),
    ("ak_live_nope", None, None), (plain[:-1] + ("A" if plain[-1] != "A" else "B"), None, None),
]
on_primary = [code(primary, *c) for c in cases]
on_standby = [code(standby, *c) for c in cases]
check(on_standby == on_primary, f"the standby answers like the primary: {on_standby}")
check(on_standby[:3] == ["valid", "insufficient_scope", "ip_not_allowed"] and on_standby[4] == "valid",
      "keys created on the primary verify on the standby after replay")

# The request context on the standby.
standby.execute("BEGIN")
got = standby.execute("SELECT api_keys.apikey_authenticate(%s, '10.0.0.1', 'read:docs/9')", (scoped,)).fetchone()[0]
ctx = standby.execute("SELECT api_keys.apikey_current_key_id(), api_keys.apikey_current_owner(), "
                      "api_keys.apikey_has_scope('read:docs/3'), api_keys.apikey_has_scope('write:docs/3')").fetchone()
standby.execute("COMMIT")
check(got == scoped_id and ctx == (scoped_id, "acme", True, False),
      f"apikey_authenticate and the accessors work on the standby: {ctx}")
check(standby.execute("SELECT api_keys.apikey_current_key_id()").fetchone()[0] is None,
      "the context ends with the transaction on the standby")
standby.execute("BEGIN")
try:
    standby.execute("SELECT api_keys.apikey_authenticate(%s, '192.168.0.1')", (scoped,))
    sys.exit("FAIL: authenticate from a disallowed address succeeded on the standby")
except psycopg.Error as e:
    check(e.sqlstate == "28000", f"a refused key raises 28000 on the standby ({e.sqlstate})")
standby.execute("ROLLBACK")

# PostgREST's hook on the standby (its GET transactions are READ ONLY anyway).
standby.execute("BEGIN READ ONLY")
standby.execute("SELECT set_config('request.headers', %s, true), set_config('request.method', 'GET', true),"
                "       set_config('request.path', '/documents', true)", ('{"x-api-key": "%s"}' % plain,))
standby.execute("SELECT api_keys.postgrest_pre_request()")  # reads the route table, too
owner = standby.execute("SELECT api_keys.apikey_current_owner()").fetchone()[0]
standby.execute("COMMIT")
check(owner == "acme", "postgrest_pre_request works on the standby")

# Usage tracking never makes a standby call fail, whatever the resolution.
fresh_id, fresh = create("acme", "never used")
code(primary, plain)  # plain: just used on the primary (with the default resolution)
stored(plain_id)
replayed()
before = standby.execute("SELECT id, last_used_at FROM api_keys.keys ORDER BY id").fetchall()
for resolution in ("0", "1", "60", "-1"):
    standby.execute(f"SET api_keys.last_used_resolution = {resolution}")
    for k in (fresh, plain, scoped):
        for _ in range(3):
            c = code(standby, k, None, "10.0.0.1")
            if c != "valid":
                sys.exit(f"FAIL: resolution {resolution}: {k[:16]} answered {c} on the standby")
        standby.execute("BEGIN")
        standby.execute("SELECT api_keys.apikey_authenticate(%s, '10.0.0.1')", (k,))
        standby.execute("COMMIT")
    time.sleep(1.1 if resolution == "1" else 0)
    for k in (fresh, plain):
        code(standby, k)
check(True, "verification and authentication on the standby never failed with resolution 0, 1, 60 and -1")
after = standby.execute("SELECT id, last_used_at FROM api_keys.keys ORDER BY id").fetchall()
check(before == after, "the standby wrote nothing (last_used_at unchanged there)")
primary.execute("SET api_keys.last_used_resolution = 0")
code(primary, fresh)
stored(fresh_id)
replayed()
check(standby.execute("SELECT last_used_at IS NOT NULL FROM api_keys.keys WHERE id = %s", (fresh_id,)).fetchone()[0],
      "usage recorded on the primary replays to the standby")

# Management on the standby fails (the standby is read-only), and the session
# stays usable. The SQLSTATE should be 25006; anything else is printed as a
# NOTE (not part of the replica contract, reported separately).
for sql, args in [("SELECT * FROM api_keys.apikey_create('acme', 'on standby')", ()),
                  ("SELECT api_keys.apikey_revoke(%s)", (plain_id,)),
                  ("SELECT * FROM api_keys.apikey_rotate(%s)", (plain_id,)),
                  ("SELECT api_keys.apikey_update(%s, name => 'x')", (plain_id,))]:
    try:
        standby.execute(sql, args)
        sys.exit(f"FAIL: {sql} succeeded on the standby")
    except psycopg.Error as e:
        what = sql.split("(")[0].split(".")[-1]
        check(not standby.broken and e.sqlstate == "25006", f"{what} on the standby fails with 25006: {e.sqlstate}")
check(standby.execute("SELECT count(*) FROM api_keys.apikey_list('acme', 'all')").fetchone()[0] == 6,
      "apikey_list works on the standby")

# Revocation reaches the standby at replay, even in a session that verified
# the key before (kept plans, no cache of answers).
long_lived = connect(host=s_host, port=s_port)
check(code(long_lived, doomed) == "valid", "the key is valid on the standby before the revoke")
check(primary.execute("SELECT api_keys.apikey_revoke(%s)", (doomed_id,)).fetchone()[0] is True, "revoked on the primary")
replayed()
check(code(long_lived, doomed) == "revoked", "revoked on the standby after replay (same session)")
check(code(standby, doomed) == "revoked", "revoked on the standby after replay (another session)")
standby.execute("BEGIN")
try:
    standby.execute("SELECT api_keys.apikey_authenticate(%s)", (doomed,))
    sys.exit("FAIL: a revoked key authenticated on the standby")
except psycopg.Error as e:
    check(e.sqlstate == "28000" and "revoked" in str(e), f"authenticate with the revoked key on the standby: {e.sqlstate}")
standby.execute("ROLLBACK")

# Rotation replays: with a grace period both keys work on the standby; after
# a revoke of the old one only the new one does.
new_id, new_key = primary.execute("SELECT new_key_id, key FROM api_keys.apikey_rotate(%s, '1 hour')",
                                  (rotating_id,)).fetchone()
replayed()
check((code(standby, rotating), code(standby, new_key)) == ("valid", "valid"), "rotation with grace: both keys valid on the standby")
primary.execute("SELECT api_keys.apikey_revoke(%s)", (rotating_id,))
replayed()
check((code(long_lived, rotating), code(long_lived, new_key)) == ("revoked", "valid"),
      "after the old key's revoke: old revoked, new valid on the standby")

# Rate limits are counted by each server in its own memory: the standby
# enforces a replayed key's limit without writing anything.
limited = primary.execute("SELECT key FROM api_keys.apikey_create('acme', 'limited', rate_limit => 2)").fetchone()[0]
replayed()
codes = [code(standby, limited) for _ in range(3)]
check(codes == ["valid", "valid", "rate_limited"], f"the standby enforces rate limits: {codes}")
check(code(primary, limited) == "valid", "the primary counts its own requests")
PYTHON
