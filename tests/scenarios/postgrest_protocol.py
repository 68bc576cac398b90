"""PostgREST's protocol, driven exactly as PostgREST drives the server.

PostgREST logs in as `authenticator` and runs every HTTP request as one
transaction on a pooled connection:

    BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY      -- GET/HEAD; READ WRITE otherwise
    SELECT set_config('search_path', $1, true), set_config('role', $2, true),
           set_config('request.jwt.claims', $3, true), set_config('request.method', $4, true),
           set_config('request.path', $5, true), set_config('request.headers', $6, true),
           set_config('request.cookies', $7, true)
    SELECT "api_keys"."postgrest_pre_request"()          -- db-pre-request
    <the query>
    COMMIT                                               -- ROLLBACK on error

This test does the same, with examples/multi_tenant/schema.sql loaded, and
checks: rows per tenant; x-api-key and Authorization: Bearer; missing, bad,
unknown, revoked and expired keys give PT401 with the code in the message
and never the key; READ ONLY GET works; nothing of one request survives into
the next; the client address is read only from the header named by the
superuser setting api_keys.postgrest_client_ip_header, which clients cannot
change.
"""

import json
import os

import psycopg

from common import PSQL, check, connect, create_key, fresh_database, run

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCHEMA = os.path.join(ROOT, "examples", "multi_tenant", "schema.sql")

# The query of `GET /documents`, returning one row even when no document is
# visible: who the request is, and the titles it sees.
GET_DOCUMENTS = (
    "SELECT api_keys.apikey_current_owner(), current_user::text,"
    "       current_setting('transaction_read_only'),"
    "       coalesce(array_agg(title ORDER BY title), '{}')"
    "  FROM app.documents"
)
INSERTED = set()
KEYS = []  # every key issued here, to check none ever shows up in a message


def load_schema(db):
    run([PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-f", SCHEMA])


class Refused(Exception):
    pass


def request(conn, headers, method="GET", path="/documents", query=GET_DOCUMENTS, params=None,
            set_role="set_config"):
    """One PostgREST request: a transaction. Returns the query's rows, or a
    psycopg.Error when the server refused it (the transaction is rolled back)."""
    read_only = method in ("GET", "HEAD")
    conn.execute("BEGIN ISOLATION LEVEL READ COMMITTED" + (" READ ONLY" if read_only else ""))
    try:
        if set_role == "SET LOCAL ROLE":
            conn.execute("SET LOCAL ROLE web_anon")
        conn.execute(
            "SELECT set_config('search_path', %s, true),"
            + (" set_config('role', %s, true)," if set_role == "set_config" else " %s,")
            + " set_config('request.jwt.claims', %s, true),"
            "  set_config('request.method', %s, true),"
            "  set_config('request.path', %s, true),"
            "  set_config('request.headers', %s, true),"
            "  set_config('request.cookies', %s, true)",
            ('"app", "public"', "web_anon", '{"role":"web_anon"}', method, path,
             json.dumps(headers), "{}"),
        )
        conn.execute('SELECT "api_keys"."postgrest_pre_request"()')
        rows = conn.execute(query, params).fetchall()
    except psycopg.Error as e:
        conn.execute("ROLLBACK")
        return e
    conn.execute("COMMIT")
    return rows


def get(conn, headers, **kw):
    """GET /documents: (owner, role, read_only, titles), or the error."""
    r = request(conn, headers, **kw)
    if isinstance(r, psycopg.Error):
        return r
    owner, role, ro, titles = r[0]
    return owner, role, ro, set(titles)


def expect_401(conn, headers, code, what, **kw):
    r = request(conn, headers, **kw)
    ok = isinstance(r, psycopg.Error)
    state = r.sqlstate if ok else None
    msg = (r.diag.message_primary or "") if ok else ""
    detail = (r.diag.message_detail or "") if ok else ""
    check(ok and state == "PT401" and msg == f"API key not accepted: {code}" and detail == code,
          f"{what}: PT401 '{msg}'" if ok else f"{what}: expected PT401 {code}, got {r!r}")
    if ok:
        text = " ".join(filter(None, [str(r), r.diag.message_primary, r.diag.message_detail,
                                      r.diag.message_hint, r.diag.context]))
        leaked = [k for k in KEYS if k in text]
        check(not leaked, f"{what}: no key in the error")


def no_context_now(conn, what):
    """A plain transaction as web_anon on the same connection, no pre-request."""
    conn.execute("BEGIN")
    conn.execute("SET LOCAL ROLE web_anon")
    owner, n, headers = conn.execute(
        "SELECT api_keys.apikey_current_owner(), (SELECT count(*) FROM app.documents),"
        "       current_setting('request.headers', true)"
    ).fetchone()
    conn.execute("COMMIT")
    check(owner is None and n == 0 and not headers, f"{what}: the next transaction has no context, rows or headers")


with fresh_database("postgrest") as db:
    load_schema(db)
    with connect(db) as admin:
        admin.execute("INSERT INTO app.documents (tenant, title) VALUES"
                      " ('tenant_a', 'a1'), ('tenant_a', 'a2'), ('tenant_b', 'b1')")
        _, key_a = create_key(admin, "tenant_a", "a", scopes=["read:documents", "write:documents"])
        _, key_b = create_key(admin, "tenant_b", "b", scopes=["read:documents"])
        _, key_a_noscope = create_key(admin, "tenant_a", "a no scope", scopes=["read:reports"])
        revoked_id, key_revoked = create_key(admin, "tenant_a", "revoked", scopes=["read:documents"])
        admin.execute("SELECT api_keys.apikey_revoke(%s)", (revoked_id,))
        later_id, key_later = create_key(admin, "tenant_b", "revoked later", scopes=["read:documents"])
        rotated_id, key_rotated = create_key(admin, "tenant_a", "rotated", scopes=["read:documents"])
        _, key_new = admin.execute("SELECT new_key_id, key FROM api_keys.apikey_rotate(%s)", (rotated_id,)).fetchone()
        _, key_ip = create_key(admin, "tenant_a", "office only", scopes=["read:documents"],
                               allowed_cidrs=["203.0.113.0/24", "2001:db8::/32"])
    with fresh_database("postgrest_other") as other:
        with connect(other) as c:
            _, key_elsewhere = create_key(c, "tenant_a", "another database")
    KEYS += [key_a, key_b, key_a_noscope, key_revoked, key_later, key_rotated, key_new, key_ip, key_elsewhere]

    pg = connect(db, user="authenticator", autocommit=True)
    A, B = {"a1", "a2"}, {"b1"}

    # Rows per tenant, GET in a READ ONLY transaction.
    check(get(pg, {"x-api-key": key_a}) == ("tenant_a", "web_anon", "on", A),
          "GET with A's x-api-key: A's rows, as web_anon, in a READ ONLY transaction")
    check(get(pg, {"x-api-key": key_b}) == ("tenant_b", "web_anon", "on", B), "GET with B's x-api-key: B's rows only")
    check(get(pg, {"x-api-key": key_a}, method="HEAD") == ("tenant_a", "web_anon", "on", A), "HEAD works too")
    check(get(pg, {"authorization": f"Bearer {key_b}"}) == ("tenant_b", "web_anon", "on", B),
          "Authorization: Bearer works")
    check(get(pg, {"authorization": f"bearer {key_a}"})[3] == A, "the Bearer scheme is case-insensitive")
    check(get(pg, {"x-api-key": key_a, "authorization": f"Bearer {key_b}"})[0] == "tenant_a",
          "x-api-key wins over Authorization")
    check(get(pg, {"x-api-key": key_b}, set_role="SET LOCAL ROLE") == ("tenant_b", "web_anon", "on", B),
          "with SET LOCAL ROLE instead of set_config('role')")
    check(get(pg, {"x-api-key": key_a_noscope}) == ("tenant_a", "web_anon", "on", set()),
          "a key without read:documents is accepted but sees no rows")
    check(get(pg, {"x-api-key": key_new})[3] == A, "the rotated-to key works")

    # Refusals: PT401 with the code, never the key.
    expect_401(pg, {}, "missing", "no headers at all")
    expect_401(pg, {"accept": "application/json"}, "missing", "no key header")
    expect_401(pg, {"authorization": f"Basic {key_a}"}, "missing", "Authorization that is not Bearer")
    expect_401(pg, {"x-api-key": "ak_live_nope"}, "malformed", "a made-up key")
    typo = key_a[:-1] + ("A" if key_a[-1] != "A" else "B")
    KEYS.append(typo)
    expect_401(pg, {"x-api-key": typo}, "malformed", "a mistyped key")
    expect_401(pg, {"x-api-key": key_elsewhere}, "not_found", "a well-formed key of another database")
    expect_401(pg, {"x-api-key": key_revoked}, "revoked", "a revoked key")
    expect_401(pg, {"authorization": f"Bearer {key_revoked}"}, "revoked", "a revoked key as Bearer")
    expect_401(pg, {"x-api-key": key_rotated}, "expired", "a key rotated without grace")
    no_context_now(pg, "after a PT401")

    # Revocation takes effect at once, between two requests on one connection.
    check(get(pg, {"x-api-key": key_later})[3] == B, "a key works ...")
    with connect(db) as admin:
        admin.execute("SELECT api_keys.apikey_revoke(%s)", (later_id,))
    expect_401(pg, {"x-api-key": key_later}, "revoked", "... and is refused at the next request after its revocation")

    # Nothing of one request survives into the next on the same connection.
    check(get(pg, {"x-api-key": key_a})[0] == "tenant_a", "a request with A's key")
    no_context_now(pg, "after A's request")
    expect_401(pg, {}, "missing", "the next request without a key is not A's")

    # Writes (POST) in a READ WRITE transaction.
    r = request(pg, {"x-api-key": key_a}, method="POST",
                query="INSERT INTO app.documents (title) VALUES (%s) RETURNING tenant", params=("a3",))
    check(r == [("tenant_a",)], f"POST with A's key inserts into tenant A ({r if not isinstance(r, Exception) else r.sqlstate})")
    r = request(pg, {"x-api-key": key_b}, method="POST",
                query="INSERT INTO app.documents (title) VALUES (%s) RETURNING tenant", params=("b2",))
    check(isinstance(r, psycopg.Error) and r.sqlstate == "42501",
          "POST with B's read-only key is refused by the policy (42501)")
    r = request(pg, {"x-api-key": key_a}, method="POST",
                query="INSERT INTO app.documents (tenant, title) VALUES ('tenant_b', 'planted') RETURNING tenant")
    check(isinstance(r, psycopg.Error) and r.sqlstate == "42501", "POST with A's key into tenant B is refused")
    r = request(pg, {"x-api-key": key_a}, method="GET",
                query="INSERT INTO app.documents (title) VALUES ('in a GET') RETURNING tenant")
    check(isinstance(r, psycopg.Error) and r.sqlstate == "25006", "a write inside a GET's READ ONLY transaction fails as usual")
    A.add("a3")
    check(get(pg, {"x-api-key": key_a})[3] == A, "A sees its new row")
    check(get(pg, {"x-api-key": key_b})[3] == B, "B does not")

    # The client address: only from the header the superuser named.
    good, bad = "203.0.113.5", "198.51.100.7"
    expect_401(pg, {"x-api-key": key_ip, "x-forwarded-for": good}, "ip_not_allowed",
               "without the setting, a key with allowed networks is refused even with a good x-forwarded-for")
    pg.execute("BEGIN")
    try:
        pg.execute("SELECT set_config('api_keys.postgrest_client_ip_header', 'x-forwarded-for', true)")
        state = None
    except psycopg.Error as e:
        state = e.sqlstate
    pg.execute("ROLLBACK")
    check(state == "42501", f"authenticator cannot set api_keys.postgrest_client_ip_header ({state})")
    pg.close()

    with connect(db) as admin:
        admin.execute(f'ALTER DATABASE "{db}" SET api_keys.postgrest_client_ip_header = \'x-real-ip\'')
    pg = connect(db, user="authenticator", autocommit=True)
    check(get(pg, {"x-api-key": key_ip, "x-real-ip": good})[3] == A,
          "ALTER DATABASE ... SET the header to x-real-ip: a good x-real-ip is accepted")
    expect_401(pg, {"x-api-key": key_ip, "x-real-ip": bad}, "ip_not_allowed", "a bad x-real-ip is refused")
    expect_401(pg, {"x-api-key": key_ip, "x-forwarded-for": good}, "ip_not_allowed",
               "x-forwarded-for is ignored when x-real-ip is the named header")
    pg.close()

    with connect(db) as admin:
        admin.execute(f'ALTER ROLE authenticator IN DATABASE "{db}" SET api_keys.postgrest_client_ip_header = \'x-forwarded-for\'')
    pg = connect(db, user="authenticator", autocommit=True)
    check(get(pg, {"x-api-key": key_ip, "x-forwarded-for": good})[3] == A,
          "ALTER ROLE authenticator ... SET x-forwarded-for: a good address is accepted")
    check(get(pg, {"authorization": f"Bearer {key_ip}", "x-forwarded-for": "2001:db8::7"})[3] == A,
          "an IPv6 address in an allowed network is accepted")
    expect_401(pg, {"x-api-key": key_ip, "x-forwarded-for": bad}, "ip_not_allowed", "an address outside is refused")
    check(get(pg, {"x-api-key": key_ip, "x-forwarded-for": f"{bad}, {good}"})[3] == A,
          "a list: the last entry (what the trusted proxy saw) is used, accepted")
    expect_401(pg, {"x-api-key": key_ip, "x-forwarded-for": f"{good}, {bad}"}, "ip_not_allowed",
               "a list whose last entry is outside is refused, whatever the client put first")
    expect_401(pg, {"x-api-key": key_ip, "x-real-ip": good}, "ip_not_allowed",
               "x-real-ip is ignored now that x-forwarded-for is named")
    expect_401(pg, {"x-api-key": key_ip, "x-forwarded-for": "not an address"}, "ip_not_allowed",
               "an unreadable address counts as none")
    check(get(pg, {"x-api-key": key_a})[3] == A, "a key without allowed networks needs no address")
    pg.close()

    # A client cannot point the setting at a header it controls, not even
    # before the extension's library is loaded in its session.
    pg = connect(db, user="authenticator", autocommit=True)
    try:
        pg.execute("SET api_keys.postgrest_client_ip_header = 'x-client-ip'")
        early = None
    except psycopg.Error as e:
        early = e.sqlstate
    expect_401(pg, {"x-api-key": key_ip, "x-client-ip": good, "x-forwarded-for": bad}, "ip_not_allowed",
               f"a session-level SET before the library loads has no effect (SET gave {early})")
    try:
        pg.execute("SET api_keys.postgrest_client_ip_header = 'x-client-ip'")
        late = None
    except psycopg.Error as e:
        late = e.sqlstate
    check(late == "42501", f"once loaded, SET by the client is refused ({late})")
    expect_401(pg, {"x-api-key": key_ip, "x-client-ip": good, "x-forwarded-for": bad}, "ip_not_allowed",
               "and the named header is still x-forwarded-for")
    check(pg.execute("SELECT current_setting('api_keys.postgrest_client_ip_header')").fetchone()[0] == "x-forwarded-for",
          "current_setting shows x-forwarded-for")
    pg.close()

    with connect(db) as admin:
        admin.execute(f'ALTER ROLE authenticator IN DATABASE "{db}" RESET api_keys.postgrest_client_ip_header')
        admin.execute(f'ALTER DATABASE "{db}" RESET api_keys.postgrest_client_ip_header')
