#!/usr/bin/env bash
# No key reaches the server log.
#
# Starts its own cluster (the runner's logs at `warning` only) with
#
#   log_statement = 'none'            no statement is logged for being run;
#   log_min_messages = debug1         every message the server and the
#                                     extension raise down to DEBUG1 is logged;
#   log_min_error_statement = panic   a failing statement's text is not logged
#                                     with its error;
#   log_error_verbosity = verbose     DETAIL, HINT, CONTEXT and source location
#                                     are logged too.
#
# Why the two statement settings: PostgreSQL logs the *text* of statements
# when told to (log_statement = 'mod'/'all', or the STATEMENT: line that
# log_min_error_statement adds to every failing statement), and a key written
# as a literal is part of that text. That is PostgreSQL's doing, not the
# extension's, and the README tells users to keep it off (and to pass keys as
# bind parameters). With it off, anything left in the log that contains a key
# came from the extension (or from PostgreSQL messages the extension feeds
# with a key), which is what this test is about. Most calls below pass keys
# as literals on purpose, so that the settings, not luck, keep them out.
#
# Then it exercises every function of the extension, successes and errors
# (bad input, revoked, wrong scope, ip_not_allowed, 42501 from a key-
# authenticated transaction and from a role without the grant, 55000, P0002,
# 28000, PGRST through postgrest_pre_request; the lifecycle functions, events
# and audit log; imports, leak reports and scans), collects every key issued, runs
# the pg_regress suite against the same cluster, and searches the whole server
# log for
#   - every collected key, its body, and its secret part (what follows the
#     prefix), and the server-side peppers (api_keys.pepper_file), and
#   - anything shaped like a key at all (brand_environment_ + 49 base-62
#     characters), which also catches keys issued by the pg_regress suite.
# A canary raised with RAISE LOG proves the search would find a leak.
source "$(dirname "$0")/lib.sh"
scenario secrets

# A server-side pepper too: peppers are secrets as well, searched for below.
PEPPERS="${DIR}/peppers"
"${PY}" -c 'import secrets; print("# newest first"); print(secrets.token_hex(24)); print(secrets.token_hex(24))' >"${PEPPERS}"
chmod 600 "${PEPPERS}"
[ "$(id -u)" = 0 ] && chown "$(pg_os_user)" "${PEPPERS}"
start_cluster "${DIR}" "shared_preload_libraries = ''
api_keys.pepper_file = '${PEPPERS}'
log_statement = 'none'
log_min_messages = debug1
log_min_error_statement = panic
log_error_verbosity = verbose
log_connections = on
log_disconnections = on"
export PGDATABASE=postgres
KEYS="${DIR}/keys.txt"

echo "exercising every function"
"${PY}" - "${KEYS}" <<'PYTHON'
import sys

import psycopg
from psycopg.types.json import Jsonb

keys_file = open(sys.argv[1], "w")
issued = []


def keep(k):
    issued.append(k)
    keys_file.write(k + "\n")
    keys_file.flush()
    return k


conn = psycopg.connect(dbname="postgres", autocommit=True)
lit = psycopg.ClientCursor(conn)  # literals in the statement text
bind = conn.cursor()  # bind parameters (extended protocol)
errors = {}


def run(cur, sql, params=None, expect=None):
    """Run sql; when `expect` is a SQLSTATE, the call must fail with it."""
    try:
        cur.execute(sql, params)
        rows = cur.fetchall() if cur.description else []
        if expect is not None:
            sys.exit(f"FAIL: expected SQLSTATE {expect}, got success: {sql[:60]}")
        return rows
    except psycopg.Error as e:
        if conn.info.transaction_status == psycopg.pq.TransactionStatus.INERROR:
            conn.execute("ROLLBACK")
        if e.sqlstate != expect:
            sys.exit(f"FAIL: expected {expect}, got {e.sqlstate} {e}: {sql[:60]}")
        errors[e.sqlstate] = errors.get(e.sqlstate, 0) + 1
        return None


conn.execute("CREATE EXTENSION api_keys")
conn.execute("CREATE ROLE secrets_app NOLOGIN")
conn.execute("SET api_keys.last_used_resolution = 0")


def create(cur, *args, **kw):
    cols = "".join(f", {k} => %({k})s" for k in kw)
    rows = run(cur, f"SELECT id, key, prefix FROM api_keys.apikey_create(%(owner)s, %(name)s{cols})",
               {"owner": args[0], "name": args[1], **kw})
    keep(rows[0][1])
    return rows[0]


# --- create, with every argument; and its errors
k1 = create(lit, "acme", "scoped", scopes=["read:docs/*", "write:docs/42"], allowed_cidrs=["10.0.0.0/8", "2001:db8::/32"])
k2 = create(lit, "acme", "test env", environment="test", metadata=Jsonb({"plan": "trial"}), expires_at="infinity")
k3 = create(bind, "acme", "to revoke", scopes=["read"])
k4 = create(lit, "acme", "to rotate", scopes=["*:projects/**"])
k5 = create(lit, "acme", "everywhere", allowed_cidrs=["0.0.0.0/0", "::/0"])  # two WARNINGs
k6 = create(lit, "acme", "to delete")
for bad in [dict(scopes=["READ:x"]), dict(allowed_cidrs=["10.1.2.3/8"]), dict(expires_at="2001-01-01"),
            dict(environment="Prod"), dict(metadata=Jsonb([1]))]:
    cols = "".join(f", {k} => %({k})s" for k in bad)
    run(lit, f"SELECT * FROM api_keys.apikey_create('acme', 'bad'{cols})", bad, expect="22023")
run(lit, "SELECT * FROM api_keys.apikey_create('acme', '')", expect="22023")

# A well-formed key that is not in the table: delete its row (superuser).
conn.execute("DELETE FROM api_keys.keys WHERE id = %s", (k6[0],))


def near_miss(k):
    """The key with its last character changed: checksum fails, but it is
    almost the whole secret, so it must not be logged either."""
    keep(k)
    last = "A" if k[-1] != "A" else "B"
    return keep(k[:-1] + last)


# --- verify: every code, literal and bound
for cur in (lit, bind):
    for key, args, want in [
        (k1[1], ("read:docs/7", "10.1.2.3"), "valid"),
        (k1[1], ("write:docs/7", "10.1.2.3"), "insufficient_scope"),
        (k1[1], (None, "192.168.0.1"), "ip_not_allowed"),
        (k1[1], (None, None), "ip_not_allowed"),
        (k2[1], (None, None), "valid"),
        (k6[1], (None, None), "not_found"),
        (near_miss(k4[1]), (None, None), "malformed"),
        ("ak_live_nope", (None, None), "malformed"),
    ]:
        got = run(cur, "SELECT code FROM api_keys.apikey_verify(%s, %s, %s::inet)", (key, *args))[0][0]
        if got != want:
            sys.exit(f"FAIL: verify answered {got}, expected {want}")
    run(cur, "SELECT code FROM api_keys.apikey_verify(%s, 'READ')", (k1[1],), expect="22023")
    run(cur, "SELECT code FROM api_keys.apikey_verify(%s, NULL, 'not-an-ip')", (k1[1],), expect="22P02")

# --- the request context; management refused there (42501)
conn.execute("BEGIN")
run(lit, "SELECT api_keys.apikey_authenticate(%s, '10.9.9.9', 'read:docs/1')", (k1[1],))
run(lit, "SELECT api_keys.apikey_current_key_id(), api_keys.apikey_current_owner(), "
         "api_keys.apikey_has_scope('read:docs/2'), api_keys.apikey_has_scope('write:x')")
conn.execute("COMMIT")
for sql in ["SELECT * FROM api_keys.apikey_create('acme', 'from a key')",
            f"SELECT * FROM api_keys.apikey_rotate('{k4[0]}')",
            f"SELECT api_keys.apikey_revoke('{k4[0]}')",
            f"SELECT api_keys.apikey_update('{k4[0]}', name => 'x')",
            "SELECT api_keys.apikey_has_scope('NOT A SCOPE')"]:
    conn.execute("BEGIN")
    run(lit, "SELECT api_keys.apikey_authenticate(%s, '10.9.9.9')", (k1[1],))
    run(lit, sql, expect="22023" if "NOT A SCOPE" in sql else "42501")
# Forging the context is refused (the value is not a key).
conn.execute("BEGIN")
run(lit, "SELECT set_config('api_keys.current_key', "
         "'{\"key_id\":\"00000000-0000-0000-0000-000000000000\",\"owner\":\"x\",\"scopes\":[]}', true)",
    expect="22023")
run(lit, "SELECT api_keys.apikey_authenticate(%s)", (near_miss(k2[1]),), expect="28000")
run(lit, "SELECT api_keys.apikey_authenticate(%s, '192.168.1.1')", (k1[1],), expect="28000")
run(lit, "SELECT api_keys.apikey_authenticate(%s, NULL, 'READ')", (k1[1],), expect="22023")
run(lit, "SELECT api_keys.apikey_authenticate(%s)", (k6[1],), expect="28000")

# --- a role without the grant (42501 missing privilege)
conn.execute("SET ROLE secrets_app")
run(lit, "SELECT * FROM api_keys.apikey_create('acme', 'sneaky')", expect="42501")
run(lit, f"SELECT * FROM api_keys.apikey_rotate('{k4[0]}')", expect="42501")
run(lit, "SELECT count(*) FROM api_keys.keys", expect="42501")
got = run(lit, "SELECT code FROM api_keys.apikey_verify(%s)", (k2[1],))[0][0]
conn.execute("RESET ROLE")

# --- update, rotate, revoke, list, and their errors
run(lit, f"SELECT api_keys.apikey_update('{k2[0]}', name => 'renamed', scopes => '{{read}}', allowed_cidrs => '{{}}',"
         " expires_at => 'infinity', metadata => '{\"a\": 1}')")
run(lit, f"SELECT api_keys.apikey_update('{k2[0]}', scopes => '{{BAD}}')", expect="22023")
run(lit, f"SELECT api_keys.apikey_update('{k2[0]}', allowed_cidrs => '{{nope}}')", expect="22023")
run(lit, "SELECT api_keys.apikey_update(gen_random_uuid(), name => 'x')")
rot = run(lit, f"SELECT new_key_id, key FROM api_keys.apikey_rotate('{k4[0]}', '1 hour')")
keep(rot[0][1])
run(lit, f"SELECT * FROM api_keys.apikey_rotate('{k4[0]}')", expect="55000")
run(lit, "SELECT * FROM api_keys.apikey_rotate(gen_random_uuid())", expect="P0002")
run(lit, f"SELECT * FROM api_keys.apikey_rotate('{rot[0][0]}', '-1 hour')", expect="22023")
run(lit, f"SELECT api_keys.apikey_revoke('{k3[0]}')")
run(lit, f"SELECT api_keys.apikey_revoke('{k3[0]}')")
run(lit, f"SELECT * FROM api_keys.apikey_rotate('{k3[0]}')", expect="55000")
if run(lit, "SELECT code FROM api_keys.apikey_verify(%s)", (k3[1],))[0][0] != "revoked":
    sys.exit("FAIL: revoked key not answered revoked")
run(lit, "SELECT * FROM api_keys.apikey_list('acme', 'all', 'ROT')")
run(lit, "SELECT * FROM api_keys.apikey_list(NULL, 'bogus')", expect="22023")

# --- lifecycle: rotation policy, webhooks, due and expiring keys, events, audit log
life = create(lit, "acme", "lifecycle", rotation_interval="1 day", webhook_url="https://hooks.example.com/k",
              expires_at="2999-01-01")
run(lit, "SELECT * FROM api_keys.apikey_create('acme', 'bad hook', webhook_url => 'ftp://example.com')", expect="22023")
run(lit, "SELECT * FROM api_keys.apikey_create('acme', 'bad policy', rotation_interval => '-1 day')", expect="22023")
run(lit, f"SELECT api_keys.apikey_update('{life[0]}', rotation_interval => '0', webhook_url => '')")
run(lit, f"SELECT api_keys.apikey_update('{life[0]}', rotation_interval => '2 days', webhook_url => 'https://h.example.com/')")
run(lit, "SELECT * FROM api_keys.apikey_due_for_rotation(within => '3 days')")
run(lit, "SELECT * FROM api_keys.apikey_expiring(within => '1000 years')")
run(lit, "SELECT * FROM api_keys.apikey_due_for_rotation(within => '-1 day')", expect="22023")
run(lit, "SELECT api_keys.apikey_announce_due('3 days', '1000 years')")
run(lit, "SELECT * FROM api_keys.apikey_history('acme')")
run(lit, "SELECT * FROM api_keys.apikey_history(NULL, since => now() - interval '1 hour')")
run(lit, "DELETE FROM api_keys.events", expect="42501")
run(lit, "LISTEN api_keys_events")
liferot = run(lit, f"SELECT key FROM api_keys.apikey_rotate('{life[0]}', '1 minute')")
keep(liferot[0][0])
notes = list(conn.notifies(timeout=0.5, stop_after=1))
if notes and any(k in notes[0].payload for k in issued):
    sys.exit("FAIL: a NOTIFY payload carries a key")
run(lit, "UNLISTEN *")

# --- leaked and imported keys: imports, reports, scans, and their errors
legacy = keep("legacy_" + "Zx9Q" * 8)
run(lit, "SELECT api_keys.apikey_import('acme', 'legacy', sha256(convert_to(%s, 'UTF8')), prefix => 'legacy_')",
    (legacy,))
run(lit, "SELECT api_keys.apikey_import('acme', 'again', sha256(convert_to(%s, 'UTF8')))", (legacy,), expect="23505")
run(lit, "SELECT api_keys.apikey_import('acme', 'whole', sha256(convert_to(%s, 'UTF8')), prefix => %s)",
    (legacy, legacy), expect="22023")
run(lit, "SELECT api_keys.apikey_import_many(ARRAY[api_keys.imported_key('acme', 'bulk', "
         "sha256(convert_to(%s, 'UTF8'))), NULL])", (keep("bulk_" + "Yw8R" * 8),), expect="22023")
if run(bind, "SELECT code FROM api_keys.apikey_verify(%s)", (legacy,))[0][0] != "valid":
    sys.exit("FAIL: the imported key does not verify")
leak = create(lit, "acme", "to leak")
run(lit, "SELECT * FROM api_keys.apikey_report_leaked(ARRAY[%s, %s, %s], 'github:content', 'https://github.com/o/r')",
    (leak[1], legacy, near_miss(k2[1])))
run(lit, "SELECT * FROM api_keys.apikey_report_leaked(ARRAY[%s], NULL)", (leak[1],), expect="22023")
run(lit, "SELECT * FROM api_keys.apikey_find_keys(%s)", ("a log line with " + k2[1] + " in it",))

# --- PostgREST: accepted, and every refusal (SQLSTATE PGRST)
import json  # noqa: E402

for headers, ip_header, expect in [
    ({"x-api-key": k2[1]}, None, None),
    ({"authorization": "Bearer " + rot[0][1]}, None, None),
    ({"x-api-key": k3[1]}, None, "PGRST"),  # revoked
    ({"x-api-key": near_miss(k5[1])}, None, "PGRST"),  # malformed
    ({"authorization": "Bearer " + k1[1]}, None, "PGRST"),  # ip_not_allowed: no address header named
    ({"x-api-key": k1[1], "x-forwarded-for": "203.0.113.9, 10.0.0.7"}, "x-forwarded-for", None),
    ({"x-api-key": k1[1], "x-forwarded-for": "10.0.0.7, 203.0.113.9"}, "x-forwarded-for", "PGRST"),
    ({"accept": "*/*"}, None, "PGRST"),  # missing
]:
    conn.execute("BEGIN READ ONLY")
    if ip_header:
        run(lit, "SELECT set_config('api_keys.postgrest_client_ip_header', %s, true)", (ip_header,))
    run(lit, "SELECT set_config('request.headers', %s, true)", (json.dumps(headers),))
    run(lit, "SELECT api_keys.postgrest_pre_request()", expect=expect)
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        run(lit, "SELECT api_keys.postgrest_authenticate()")
        conn.execute("COMMIT")
# insufficient_scope, with the scope a hook of one's own requires
conn.execute("BEGIN READ ONLY")
run(lit, "SELECT set_config('request.headers', %s, true)", (json.dumps({"x-api-key": k2[1]}),))
run(lit, "SELECT api_keys.postgrest_pre_request('admin:everything')", expect="PGRST")  # rolls back

# --- a canary: a key-shaped string the test itself logs, to prove the search works
canary = "zz_canary_" + "Q" * 43 + "Zz9Zz9"
conn.execute(f"DO $$ BEGIN RAISE LOG 'canary %', '{canary}'; END $$")
keys_file.write("#canary " + canary + "\n")
keys_file.close()
seen = sorted(errors.items())
print(f"issued and collected {len(issued)} keys; errors raised by SQLSTATE: {seen}")
for state in ("22023", "23505", "28000", "42501", "55000", "P0002", "PGRST"):
    if state not in errors:
        sys.exit(f"FAIL: no {state} was exercised")
PYTHON

echo "running the pg_regress suite against the same cluster"
mkdir -p "${DIR}/regress"
if "${PG_REGRESS}" --host="${PGHOST}" --port="${PGPORT}" --user=postgres --bindir="${CLIENT_BIN}" \
        --inputdir="${ROOT}/tests/pg_regress" --outputdir="${DIR}/regress" \
        --schedule="${ROOT}/tests/pg_regress/schedule" --dbname=api_keys_regress \
        >"${DIR}/regress/pg_regress.out" 2>&1; then
    echo "pg_regress suite ran (and passed)"
else
    echo "pg_regress suite ran (with failures; see the runner's own pg_regress result)"
fi

echo "searching the server log"
as_pg "${PG_BIN}/pg_ctl" -D "${DIR}/data" -m fast -w stop >/dev/null   # flush everything to the log
"${PY}" - "${KEYS}" "${DIR}/server.log" "${PEPPERS}" <<'PYTHON'
import re
import sys

keys_path, log_path = sys.argv[1], sys.argv[2]
log = open(log_path, "rb").read().decode("utf-8", "replace")
keys, canary = [], None
peppers = [l.strip() for l in open(sys.argv[3]) if l.strip() and not l.startswith("#")]
for line in open(keys_path):
    line = line.strip()
    if line.startswith("#canary "):
        canary = line.split(" ", 1)[1]
    elif line:
        keys.append(line)

debug_lines = log.count("DEBUG:")
print(f"server log: {len(log)} bytes, {log.count(chr(10))} lines, {debug_lines} DEBUG lines; {len(keys)} keys to look for")
if debug_lines == 0:
    sys.exit("FAIL: no DEBUG line in the log: log_min_messages = debug1 did not take effect")

shape = re.compile(r"[a-z][a-z0-9]{0,15}_[a-z][a-z0-9]{0,15}_[0-9A-Za-z]{49}(?![0-9A-Za-z])")
found_shapes = set(m.group(0) for m in shape.finditer(log))
if canary not in log or canary not in found_shapes:
    sys.exit("FAIL: the canary is not found: the search would miss a leak")
found_shapes.discard(canary)

leaks = []
for k in keys:
    parts = k.split("_", 2)
    if len(parts) == 3:
        body = parts[2]
        secret = body[8:]  # what follows the prefix (brand_env_ + 8 body characters)
    else:  # an imported key of another format: itself and its second half
        body, secret = k, k[len(k) // 2:]
    for what, needle in (("key", k), ("body", body), ("secret part", secret)):
        if needle in log:
            line = next(l for l in log.splitlines() if needle in l)
            leaks.append(f"{what} of {k[:16]}… in: {line[:200]}")
            break
for p in peppers:
    if p in log:
        leaks.append(f"a pepper ({p[:4]}…) is in the server log")
for s in sorted(found_shapes):
    line = next(l for l in log.splitlines() if s in l)
    leaks.append(f"key-shaped string {s[:16]}… in: {line[:200]}")
if leaks:
    print("FAIL: keys in the server log:\n  " + "\n  ".join(leaks))
    sys.exit(1)
print(f"ok: none of the {len(keys)} keys, bodies or secret parts, none of the {len(peppers)} peppers, "
      "and nothing key-shaped, is in the server log (the canary was found)")
PYTHON
