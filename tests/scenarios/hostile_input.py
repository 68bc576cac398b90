"""Hostile input, from SQL, to every parser that touches user input: keys,
scopes, networks, labels, names, metadata, intervals and PostgREST's
request.headers.

Every call must either answer (a documented verification code, a row, a
boolean) or raise a SQLSTATE the contract names for it (22023 for invalid
arguments; 28000 from apikey_authenticate; PGRST from postgrest_pre_request;
other class-22 data exceptions and 54000 that PostgreSQL itself raises for
out-of-range values are tolerated and printed). Never XX000 (an internal
error, e.g. a Rust panic), never a crashed backend (the connection stays
alive and pg_postmaster_start_time() is unchanged), and no call hangs
(HOSTILE_MAX_SECONDS, default 60 s: a bound for runaway work such as
quadratic parsing, far above any normal time on a loaded machine; speed is
measured by the benchmarks, never by a timed test).

Inputs: 10 MB strings, NUL-free binary garbage, arbitrary Unicode, control
characters, near-miss keys, long scope lists and network lists, deeply
nested and huge JSON, and text that is not UTF-8 in databases whose encoding
is not UTF-8 (SQL_ASCII, LATIN1).
"""

import json
import os
import random
import time

import psycopg
from psycopg.types.json import Jsonb

from common import check, connect, create_key, fresh_database

MAX_SECONDS = float(os.environ.get("HOSTILE_MAX_SECONDS", "60"))
MB10 = 10 * 1024 * 1024
CODES = {"malformed", "not_found", "revoked", "expired", "ip_not_allowed", "insufficient_scope", "valid"}
rng = random.Random(int(os.environ.get("HOSTILE_SEED", "7")))

failures = []
tolerated = []
n_calls = 0


def garbage_latin1(n):
    """NUL-free bytes 1..255, as text (each byte one character U+0001..U+00FF)."""
    return bytes(rng.randrange(1, 256) for _ in range(n)).decode("latin-1")


def garbage_unicode(n):
    out = []
    while len(out) < n:
        cp = rng.randrange(1, 0x110000)
        if 0xD800 <= cp <= 0xDFFF:
            continue
        out.append(chr(cp))
    return "".join(out)


def deep_json(depth):
    """A jsonb object nested `depth` levels deep (sent as text)."""
    text = '{"a":' * depth + "1" + "}" * depth
    return Jsonb(None, dumps=lambda _: text)


CONTROL = "".join(chr(i) for i in range(1, 32)) + "\x7f"


class BackendDied(Exception):
    pass


def wait_for_server(timeout=60):
    """After a crash the postmaster restarts every backend: wait until it
    accepts connections again, so that the tests after this one run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with connect() as c:
                c.execute("SELECT 1")
                return
        except psycopg.Error:
            time.sleep(0.2)


def call(conn, label, sql, params=(), states=("22023",), answers=None):
    """Run one hostile call. `states`: SQLSTATEs the contract allows here;
    `answers`: when given, a predicate the first column of the result must
    satisfy."""
    global n_calls
    n_calls += 1
    in_tx = conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
    if in_tx:
        conn.execute("SAVEPOINT hostile")
    t0 = time.monotonic()
    outcome = None
    try:
        cur = conn.execute(sql, params)
        row = cur.fetchone() if cur.description else None
        outcome = ("ok", row[0] if row else None)
    except psycopg.Error as e:
        if conn.broken or e.sqlstate is None:
            failures.append(f"{label}: the backend died (or the call never reached it): {e}")
            print(f"FAIL: {label}: the backend died (or the call never reached it): {e}")
            wait_for_server()
            raise BackendDied(label)
        outcome = ("error", e.sqlstate, (e.diag.message_primary or "")[:160])
    elapsed = time.monotonic() - t0
    shown = outcome if outcome[0] == "error" else ("ok", str(outcome[1])[:60])
    print(f"{elapsed:6.3f}s  {label}: {shown}")
    if elapsed > MAX_SECONDS:
        failures.append(f"{label}: took {elapsed:.2f}s (bound {MAX_SECONDS}s)")
    if outcome[0] == "error":
        state = outcome[1]
        if state == "XX000" or state is None:
            failures.append(f"{label}: internal error {state}: {outcome[2]}")
        elif state not in states:
            if state[:2] == "22" or state in ("54000", "54001"):
                tolerated.append(f"{label}: {state} {outcome[2]}")
            else:
                failures.append(f"{label}: unexpected SQLSTATE {state}: {outcome[2]}")
    elif answers is not None and not answers(outcome[1]):
        failures.append(f"{label}: unexpected answer {str(outcome[1])[:80]!r}")
    if in_tx:
        conn.execute("ROLLBACK TO SAVEPOINT hostile" if outcome[0] == "error" else "RELEASE SAVEPOINT hostile")
    # The session is still usable after every call.
    if conn.execute("SELECT 1").fetchone()[0] != 1:
        failures.append(f"{label}: session not usable afterwards")
    return outcome


def is_code(*codes):
    allowed = set(codes) or CODES
    return lambda v: v in allowed


def hostile_keys(good):
    body = good.split("_", 2)[2]
    return [
        ("10 MB of x", "x" * MB10, {"malformed"}),
        ("10 MB after a valid prefix", "ak_live_" + "A" * MB10, {"malformed"}),
        ("1 MB binary garbage", garbage_latin1(1 << 20), {"malformed"}),
        ("80-char binary garbage", garbage_latin1(80), {"malformed"}),
        ("100k random Unicode", garbage_unicode(100_000), {"malformed"}),
        ("60 random Unicode", garbage_unicode(60), {"malformed"}),
        ("control characters", CONTROL * 1000, {"malformed"}),
        ("key with a control char inside", good[:20] + "\x01" + good[21:], {"malformed"}),
        ("key with a newline appended", good + "\n", None),
        ("key with a tab prepended", "\t" + good, None),
        ("key of 128 chars, bad checksum", "ak_live_" + "a" * 120, {"malformed"}),
        ("key of 129 chars", "ak_live_" + "a" * 121, {"malformed"}),
        ("fullwidth homoglyph body", "ak_live_" + "\uff21" * len(body), {"malformed"}),
        ("upper-case brand", "AK_" + good[3:], {"malformed"}),
        ("every body char changed", "ak_live_" + "".join("b" if ch == "a" else "a" for ch in body), {"malformed"}),
        ("empty", "", {"malformed"}),
        ("NULL", None, {"malformed"}),
        ("only underscores", "_" * 100, {"malformed"}),
        ("brand/env too long", "a" * 40 + "_" + "b" * 40 + "_" + body, {"malformed"}),
        ("SQL in the key", "ak_live_'; DROP TABLE api_keys.keys; --", {"malformed"}),
    ]


HUGE_SCOPES = [f"read:p/{i}" for i in range(100_000)]


def main_utf8(db):
    with connect(db) as c, connect(db) as watcher:
        started = watcher.execute("SELECT pg_postmaster_start_time()").fetchone()[0]
        good_id, good = create_key(c, "hostile", "good", scopes=["read:docs/*"])
        c.execute("SET api_keys.last_used_resolution = 0")

        # --- keys, through every entry point that takes one
        for label, k, want in hostile_keys(good):
            call(c, f"verify({label})", "SELECT code FROM api_keys.apikey_verify(%s)", (k,),
                 answers=is_code(*want) if want else is_code())
            call(c, f"authenticate({label})", "SELECT api_keys.apikey_authenticate(%s)", (k,),
                 states=("28000",), answers=(lambda v: v == good_id) if want is None else (lambda v: False))
            hdr = json.dumps({"x-api-key": k}) if k is not None else "{}"
            if len(hdr) < 5 * MB10:
                c.execute("BEGIN")
                call(c, f"pre_request(x-api-key: {label})",
                     "SELECT set_config('request.headers', %s, true), api_keys.postgrest_pre_request()", (hdr,),
                     states=("PGRST",))
                c.execute("ROLLBACK")

        # --- the same hostile strings in a leak report (none is a key: nothing
        # is revoked), and as text to scan for keys
        hostile = [k for _, k, _ in hostile_keys(good)]
        call(c, "report_leaked(every hostile key)",
             "SELECT count(*) FILTER (WHERE label = 'false_positive') FROM api_keys.apikey_report_leaked(%s, 'hostile')",
             (hostile,), answers=lambda v: v == len(hostile))
        call(c, "verify(good) after the report", "SELECT code FROM api_keys.apikey_verify(%s)", (good,),
             answers=is_code("valid"))
        for label, k, _ in hostile_keys(good):
            if k is not None:
                call(c, f"find_keys({label})", "SELECT count(*) FROM api_keys.apikey_find_keys(%s)", (k,),
                     answers=lambda v: v >= 0)
        call(c, "find_keys(10 MB of key-shaped text)", "SELECT count(*) FROM api_keys.apikey_find_keys(%s)",
             ((good + " ") * (MB10 // (len(good) + 1)),), answers=lambda v: v == MB10 // (len(good) + 1))
        call(c, "import(10 MB prefix)", "SELECT api_keys.apikey_import('h', 'h', sha256('x'), prefix => %s)",
             ("p" * MB10,))
        call(c, "import(binary garbage digest)", "SELECT api_keys.apikey_import('h', 'h', %s)",
             (garbage_latin1(100).encode("latin1"),))

        # --- required scopes and client addresses
        for label, scope in [
            ("10 MB scope", "read:" + "a" * MB10),
            ("100k segments", "read:" + "/".join(["a"] * 100_000)),
            ("deep ** pattern", "read:" + "/".join(["**"] * 1000)),
            ("binary garbage scope", garbage_latin1(4096)),
            ("unicode scope", "read:" + garbage_unicode(200)),
            ("control chars scope", "read:" + CONTROL),
            ("empty scope", ""),
            ("only colon", ":"),
            ("empty segments", "read:a//b"),
            ("33 segments", "read:" + "/".join(["a"] * 33)),
        ]:
            call(c, f"verify(required {label})", "SELECT code FROM api_keys.apikey_verify(%s, %s)", (good, scope),
                 answers=is_code())
            call(c, f"has_scope({label})", "SELECT api_keys.apikey_has_scope(%s)", (scope,),
                 answers=lambda v: v in (True, False))
            call(c, f"authenticate(required {label})", "SELECT api_keys.apikey_authenticate(%s, NULL, %s)",
                 (good, scope), states=("22023", "28000"))
        for ip in ["::ffff:10.0.0.1", "0.0.0.0/0", "::/0", "255.255.255.255/32", "2001:db8::1/128", "::"]:
            call(c, f"verify(client_ip {ip})", "SELECT code FROM api_keys.apikey_verify(%s, NULL, %s::inet)",
                 (good, ip), answers=is_code("valid"))

        # --- apikey_create: labels, names, scopes, networks, metadata, expiry
        def create(label, states=("22023",), answers=None, **kw):
            cols = ", ".join(f"{k} => %({k})s" for k in kw if k not in ("owner", "name"))
            sql = ("SELECT key FROM api_keys.apikey_create(%(owner)s, %(name)s"
                   + (", " + cols if cols else "") + ")")
            params = {"owner": "hostile", "name": "n", **kw}
            return call(c, f"create({label})", sql, params, states=states, answers=answers)

        create("10 MB owner", owner="o" * MB10)
        create("10 MB name", name="n" * MB10)
        create("binary garbage name", name=garbage_latin1(500))
        create("unicode owner", owner=garbage_unicode(100))
        create("control chars name", name=CONTROL)
        for env in ["x" * MB10, "LIVE", "live\n", "l\u00fcve", "", "a" * 17, "9live", garbage_latin1(16)]:
            create(f"environment {env[:10]!r}", environment=env)
        create("10 MB scope", scopes=["read:" + "a" * MB10])
        create("binary garbage scopes", scopes=[garbage_latin1(50) for _ in range(100)])
        create("control chars scope", scopes=["read:" + CONTROL])
        create("NULL in scopes", scopes=["read", None])
        big = create("100k scopes", scopes=HUGE_SCOPES)
        create("100k duplicate scopes", scopes=["read:docs/*"] * 100_000)
        create("100k invalid scopes", scopes=["READ"] * 100_000)
        create("1000 networks", allowed_cidrs=[f"10.{i // 256}.{i % 256}.0/24" for i in range(1000)])
        create("1001 networks", allowed_cidrs=[f"10.{i // 256}.{i % 256}.0/24" for i in range(1001)])
        create("100k networks", allowed_cidrs=[f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}" for i in range(100_000)])
        create("10 MB network", allowed_cidrs=["1" * MB10])
        create("garbage networks", allowed_cidrs=[garbage_latin1(30) for _ in range(50)])
        create("control chars network", allowed_cidrs=["10.0.0.0/8" + CONTROL])
        create("host bits set", allowed_cidrs=["10.1.2.3/8"])
        create("prefix too long", allowed_cidrs=["10.0.0.0/33", "::/129"])
        create("NULL network", allowed_cidrs=["10.0.0.0/8", None])
        create("metadata array", metadata=Jsonb([1, 2]))
        create("metadata nested 200 deep", metadata=deep_json(200))
        create("metadata nested 5000 deep", metadata=deep_json(5000))
        create("metadata 10 MB", metadata=Jsonb({"pad": "x" * MB10}))
        create("metadata with control chars", metadata=Jsonb({CONTROL: CONTROL}))
        create("metadata 100k keys", metadata=Jsonb({str(i): i for i in range(100_000)}))
        create("expiry -infinity", expires_at="-infinity")
        create("expiry infinity", expires_at="infinity", states=())
        create("expiry far future", expires_at="294276-12-31 00:00:00+00", states=())

        # The long lists that were accepted must not make verification slow.
        if big[0] == "ok":
            for label, scope in [("uncovered", "write:p/1"), ("covered last", "read:p/99999")]:
                call(c, f"verify(100k scopes, {label})", "SELECT code FROM api_keys.apikey_verify(%s, %s)",
                     (big[1], scope), answers=is_code("insufficient_scope", "valid"))
            c.execute("BEGIN")
            call(c, "authenticate(100k scopes)", "SELECT api_keys.apikey_authenticate(%s) IS NOT NULL", (big[1],),
                 states=())
            for i in range(3):
                call(c, f"has_scope(100k scopes) #{i}", "SELECT api_keys.apikey_has_scope(%s)",
                     (f"read:p/{rng.randrange(100_000)}",), answers=lambda v: v is True)
            c.execute("COMMIT")
        nets = create("1000 networks (again)", allowed_cidrs=[f"10.{i // 256}.{i % 256}.0/24" for i in range(1000)])
        if nets[0] == "ok":
            for ip in ["192.168.1.1", "10.3.231.7", "2001:db8::1"]:
                call(c, f"verify(1000 networks, {ip})", "SELECT code FROM api_keys.apikey_verify(%s, NULL, %s)",
                     (nets[1], ip), answers=is_code("valid", "ip_not_allowed"))

        # --- apikey_update, apikey_rotate, apikey_list, apikey_revoke
        upd_id, _ = create_key(c, "hostile", "to update")
        for label, kw in [
            ("10 MB name", {"name": "n" * MB10}),
            ("empty name", {"name": ""}),
            ("100k scopes", {"scopes": HUGE_SCOPES}),
            ("10 MB scope", {"scopes": ["read:" + "a" * MB10]}),
            ("100k networks", {"allowed_cidrs": [f"10.0.{i // 256 % 256}.{i % 256}" for i in range(100_000)]}),
            ("garbage networks", {"allowed_cidrs": [garbage_latin1(20)]}),
            ("metadata nested 200 deep", {"metadata": deep_json(200)}),
            ("metadata string", {"metadata": Jsonb("x" * 1000)}),
            ("expiry -infinity", {"expires_at": "-infinity"}),
        ]:
            cols = ", ".join(f"{k} => %({k})s" for k in kw)
            call(c, f"update({label})", f"SELECT api_keys.apikey_update(%(id)s, {cols})", {"id": upd_id, **kw},
                 answers=lambda v: v is True)
        for grace in ["178000000 years", "-1 microsecond", "1 month -31 days", "-178000000 years",
                      "2147483647 days", "1 mon -30 days -1 us"]:
            rid, _ = create_key(c, "hostile", "to rotate")
            call(c, f"rotate(grace {grace})", "SELECT new_key_id FROM api_keys.apikey_rotate(%s, %s::interval)",
                 (rid, grace), states=("22023", "22008"))
        call(c, "rotate(NULL)", "SELECT new_key_id FROM api_keys.apikey_rotate(NULL)")
        call(c, "rotate(unknown)", "SELECT new_key_id FROM api_keys.apikey_rotate(gen_random_uuid())",
             states=("P0002",))
        call(c, "revoke(NULL)", "SELECT api_keys.apikey_revoke(NULL)")
        call(c, "update(NULL)", "SELECT api_keys.apikey_update(NULL, name => 'x')")
        for label, args in [
            ("10 MB owner", ("o" * MB10, "all", None)),
            ("10 MB status", ("hostile", "x" * MB10, None)),
            ("garbage status", ("hostile", garbage_latin1(100), None)),
            ("10 MB search", ("hostile", "all", "s" * MB10)),
            ("garbage search", ("hostile", "all", garbage_unicode(1000))),
            ("LIKE metacharacters", ("hostile", "all", "%_\\")),
            ("NULL status", ("hostile", None, None)),
        ]:
            call(c, f"list({label})", "SELECT count(*) FROM api_keys.apikey_list(%s, %s, %s)", args,
                 answers=lambda v: isinstance(v, int))

        # --- PostgREST headers
        def pre(label, headers, ip_header=None, answers=None):
            c.execute("BEGIN")
            if ip_header is not None:
                c.execute("SELECT set_config('api_keys.postgrest_client_ip_header', %s, true)", (ip_header,))
            if headers is not None:
                c.execute("SELECT set_config('request.headers', %s, true)", (headers,))
            out = call(c, f"pre_request({label})", "SELECT api_keys.postgrest_pre_request()", states=("PGRST",))
            out2 = call(c, f"postgrest_authenticate({label})", "SELECT api_keys.postgrest_authenticate()",
                        states=(), answers=answers or (lambda v: v is None or v == "missing" or v in CODES))
            c.execute("ROLLBACK")
            return out, out2

        pad = "x" * MB10
        pre("not set", None)
        pre("10 MB JSON with a valid key", json.dumps({"x-api-key": good, "pad": pad}))
        pre("10 MB bearer", json.dumps({"authorization": "Bearer " + pad}))
        pre("10 MB of garbage", garbage_latin1(1 << 20) * 10)
        pre("truncated JSON", '{"x-api-key": "' + good)
        pre("not an object", json.dumps([good]))
        pre("JSON null", "null")
        pre("empty", "")
        pre("deep arrays", "[" * 60_000 + "]" * 60_000)
        pre("deep objects", '{"a":' * 10_000 + "1" + "}" * 10_000)
        pre("deep objects around the key", '{"a":' * 1000 + json.dumps({"x-api-key": good}) + "}" * 1000)
        pre("key is an object", json.dumps({"x-api-key": {"k": good}}))
        pre("key is a number", '{"x-api-key": 1e999999}')
        pre("NUL escape in key", '{"x-api-key": "' + good + '\\u0000"}')
        pre("NUL escape before key", '{"x-api-key": "\\u0000' + good + '"}')
        pre("lone surrogate", '{"x-api-key": "\\ud800' + good + '"}')
        pre("escaped valid key", '{"x-api-key": "' + "".join(f"\\u{ord(ch):04x}" for ch in good) + '"}',
            answers=lambda v: v is None)
        pre("duplicate headers", '{"x-api-key": "nope", "x-api-key": "' + good + '"}')
        pre("bearer with control chars", json.dumps({"authorization": "Bearer\x0b" + good}))
        pre("bearer garbage scheme", json.dumps({"authorization": garbage_unicode(500)}))
        pre("100k headers", json.dumps({f"h{i}": "v" for i in range(100_000)}))
        pre("60k of commas in x-forwarded-for", json.dumps({"x-api-key": good, "x-forwarded-for": "," * 60_000}),
            ip_header="x-forwarded-for")
        pre("garbage x-forwarded-for", json.dumps({"x-api-key": good, "x-forwarded-for": garbage_unicode(300)}),
            ip_header="x-forwarded-for")
        pre("garbage ip header name", json.dumps({"x-api-key": good}), ip_header=garbage_unicode(300))

        # --- PostgREST routes: rows of the route table, request methods and
        # paths, required scopes of the hook, the realm
        for label, method, path, scope in [
            ("10 MB pattern", "GET", "/" + "a" * MB10, None),
            ("garbage pattern", "GET", "/" + garbage_unicode(300), None),
            ("binary pattern", "*", "/" + garbage_latin1(300), None),
            ("control chars pattern", "GET", "/" + CONTROL, None),
            ("many stars", "GET", "/" + "*" * 1000, None),
            ("10 MB method", "G" * MB10, "/x", None),
            ("garbage method", garbage_unicode(50), "/x", None),
            ("NULL path", "GET", None, None),
            ("NULL method", None, "/x", None),
            ("10 MB scope", "GET", "/x", "read:" + "a" * MB10),
            ("garbage scope", "GET", "/x", garbage_unicode(300)),
        ]:
            call(c, f"route({label})",
                 "INSERT INTO api_keys.postgrest_routes (method, path, required_scope) VALUES (%s, %s, %s)",
                 (method, path, scope), states=("22023", "23502"))
        c.execute("DELETE FROM api_keys.postgrest_routes")
        c.execute("INSERT INTO api_keys.postgrest_routes VALUES ('*', '/*', 'read:x'), ('GET', '/rpc/*a*b*c*d*e*', NULL)")
        for label, method, path in [
            ("10 MB path", "GET", "/" + "a" * MB10),
            ("10 MB of %", "GET", "/" + "%" * MB10),
            ("10 MB of %41", "GET", "/rpc/" + "%41" * (MB10 // 3)),
            ("star-hostile path", "GET", "/rpc/" + "a" * 100_000),
            ("garbage path", "GET", "/" + garbage_unicode(1000)),
            ("binary path", "GET", "/" + garbage_latin1(1000)),
            ("path without /", "GET", "documents"),
            ("garbage method", garbage_unicode(20), "/x"),
            ("10 MB method", "G" * MB10, "/x"),
            ("star method", "*", "/x"),
        ]:
            call(c, f"required_scope({label})", "SELECT api_keys.postgrest_required_scope(%s, %s)", (method, path),
                 answers=lambda v: v in (None, "read:x"))
        c.execute("DELETE FROM api_keys.postgrest_routes")
        for label, scope in [("10 MB scope", "read:" + "a" * MB10), ("garbage scope", garbage_unicode(300)),
                             ("empty scope", "")]:
            c.execute("BEGIN")
            call(c, f"pre_request(required {label})",
                 "SELECT set_config('request.headers', %s, true), api_keys.postgrest_pre_request(%s)",
                 (json.dumps({"x-api-key": good}), scope))
            c.execute("ROLLBACK")
        for label, realm in [("10 MB realm", "r" * MB10), ("garbage realm", garbage_unicode(100)),
                             ("control chars realm", CONTROL), ("quoted realm", 'a"b\\c')]:
            call(c, f"realm({label})", "SELECT set_config('api_keys.postgrest_realm', %s, false)", (realm,))

        alive = watcher.execute("SELECT pg_postmaster_start_time()").fetchone()[0]
        check(alive == started, "the server never restarted (pg_postmaster_start_time unchanged, watcher alive)")
        still = c.execute("SELECT code FROM api_keys.apikey_verify(%s)", (good,)).fetchone()[0]
        check(still == "valid", "the extension still answers normally afterwards")


def non_utf8(encoding):
    """A database whose encoding is not UTF-8: text that is not valid UTF-8
    reaches the extension. It must answer, or raise a clear error, never
    XX000."""
    name = f"hostile_{encoding.lower()}_{os.getpid()}"
    with connect() as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name}")
        admin.execute(f"CREATE DATABASE {name} TEMPLATE template0 ENCODING '{encoding}' LC_COLLATE 'C' LC_CTYPE 'C'")
    try:
        with connect(name, options="-c client_encoding=UTF8") as c:
            out = call(c, f"[{encoding}] CREATE EXTENSION", "CREATE EXTENSION api_keys", states=("0A000", "22021"))
            if out[0] == "error":
                print(f"{encoding}: the extension refuses this database: {out}")
                return
            row = c.execute("SELECT id, key FROM api_keys.apikey_create('enc', 'ascii', '{read}')").fetchone()
            key = row[1]
            # Raw bytes 0x80..0xFF: in this database they are text, not UTF-8.
            raw = "convert_from(%s::bytea, '" + encoding + "')"
            high = bytes(range(0x80, 0x100))
            for label, sql, params, states, answers in [
                ("verify(high bytes)", f"SELECT code FROM api_keys.apikey_verify({raw})", (high,), ("22021",),
                 is_code("malformed")),
                ("verify(key + high byte)", f"SELECT code FROM api_keys.apikey_verify(%s || {raw})", (key, b"\xe9"),
                 ("22021",), is_code("malformed")),
                ("verify(scope with high bytes)", f"SELECT code FROM api_keys.apikey_verify(%s, {raw})",
                 (key, b"read:caf\xe9"), ("22023", "22021"), is_code()),
                ("authenticate(high bytes)", f"SELECT api_keys.apikey_authenticate({raw})", (high,),
                 ("28000", "22021"), None),
                ("has_scope(high bytes)", f"SELECT api_keys.apikey_has_scope({raw})", (b"read:\xe9",),
                 ("22023", "22021"), None),
                ("create(owner with high bytes)",
                 f"SELECT key FROM api_keys.apikey_create({raw}, 'n')", (b"caf\xe9",), ("22023", "22021"), None),
                ("create(scope with high bytes)",
                 f"SELECT key FROM api_keys.apikey_create('o', 'n', ARRAY[{raw}])", (b"read:caf\xe9",),
                 ("22023", "22021"), None),
                ("create(metadata with high bytes)",
                 f"SELECT key FROM api_keys.apikey_create('o', 'n', metadata => jsonb_build_object('k', {raw}))",
                 (b"caf\xe9",), ("22023", "22021"), None),
                ("list(search with high bytes)",
                 f"SELECT count(*) FROM api_keys.apikey_list(NULL, 'all', {raw})", (b"caf\xe9",),
                 ("22023", "22021"), None),
                ("pre_request(headers with high bytes)",
                 "SELECT set_config('request.headers', '{\"x-api-key\": \"' || " + raw + " || '\"}', true), "
                 "api_keys.postgrest_pre_request()", (high,), ("PGRST", "22021"), None),
            ]:
                try:
                    call(c, f"[{encoding}] {label}", sql, params, states=states, answers=answers)
                except BackendDied:
                    c = connect(name, options="-c client_encoding=UTF8")
            check(c.execute("SELECT code FROM api_keys.apikey_verify(%s)", (key,)).fetchone()[0] == "valid",
                  f"{encoding}: a key made in this database verifies")
    finally:
        with connect() as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


# A session open for the whole test: a crashed backend makes the postmaster
# end every session, this one included (pg_postmaster_start_time() does not
# change on such a restart).
watch_all = connect()
with fresh_database("hostile") as db:
    try:
        main_utf8(db)
    except BackendDied:
        pass
for enc in ("SQL_ASCII", "LATIN1"):
    non_utf8(enc)
try:
    watch_all.execute("SELECT 1")
except psycopg.Error as e:
    failures.append(f"a backend crashed during the test: the watching session was ended ({e})")

print(f"{n_calls} hostile calls")
for t in tolerated:
    print(f"tolerated (PostgreSQL's own data exception): {t}")
check(not failures, f"every hostile call answered or raised a contract SQLSTATE, in bounded time ({len(failures)} failures)"
      + "".join(f"\n    {f}" for f in failures))
