"""PostgREST's protocol, driven exactly as PostgREST drives the server.

No PostgREST binary is installable here, so this test plays PostgREST's
part, as its source (src/library/PostgREST/MainTx.hs, Query/PreQuery.hs,
Plan.hs, Error.hs) and its documentation (references/transactions,
references/errors) describe it. PostgREST logs in as `authenticator` and
runs every HTTP request as one transaction on a pooled connection:

    BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY   -- the access mode below; the
                                                     -- role's default isolation
    SELECT set_config('search_path', $1, true), set_config('role', $2, true),
           set_config('request.jwt.claims', $3, true), set_config('request.method', $4, true),
           set_config('request.path', $5, true), set_config('request.headers', $6, true),
           set_config('request.cookies', $7, true)
    SELECT "api_keys"."postgrest_pre_request"()        -- db-pre-request
    <the query>, reading current_setting('response.headers', true)
    COMMIT                                             -- ROLLBACK on error

Access mode: READ ONLY for GET and HEAD, and for POST /rpc/f of a STABLE or
IMMUTABLE function; READ WRITE for POST, PUT, PATCH, DELETE on tables and
POST /rpc/f of a VOLATILE function. `request.path` is the raw path,
percent-encoding included.

An error of SQLSTATE PGRST is answered as PostgREST does (parseRaisePGRST):
MESSAGE must be a JSON object with string `code` and `message` and optional
string `details` and `hint` (the body); DETAIL a JSON object with an integer
`status`, an optional `status_text` and a `headers` object of strings. On
success the headers are `response.headers`, a JSON array of one-key objects.

Checked, with examples/multi_tenant/schema.sql loaded (its routes included):
every row of the answer table (401 missing, 401 invalid_token for
malformed, not_found, revoked and expired, 403 ip_not_allowed, 403
insufficient_scope, 429 rate_limited and quota_exceeded with Retry-After and the RateLimit
fields, and the RateLimit fields of an accepted request); the realm setting;
routes by method and path (HEAD under GET, RPC in READ ONLY, percent-encoded
paths, the most specific route); a hook of one's own with a scope; no key
in any answer; nothing of one request survives into the next; the client
address header. (`quota_exceeded` has no quotas to come from yet; its
answer is tested in core/src/http.rs.)
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
KEYS = []  # every key issued here, to check none ever shows up in an answer


def load_schema(db):
    run([PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-f", SCHEMA])


class Response:
    """What PostgREST sends: status, headers (a dict; names as sent), and
    the body (the rows, or the error object)."""

    def __init__(self, status, headers, body, sqlstate=None):
        self.status, self.headers, self.body, self.sqlstate = status, headers, body, sqlstate

    def __repr__(self):
        return f"Response({self.status}, {self.headers}, {self.body})"


def gucs_headers(value):
    """response.headers as PostgREST reads it (Response/GucHeader.hs): a JSON
    array of objects with a single key and a string value."""
    if value is None or value == "":
        return {}
    items = json.loads(value)
    assert isinstance(items, list), f"response.headers is not an array: {value}"
    out = {}
    for item in items:
        assert isinstance(item, dict) and len(item) == 1, f"not a one-header object: {item}"
        (name, v), = item.items()
        assert isinstance(v, str), f"not a string value: {item}"
        out[name] = v
    return out


def pgrst_error(e):
    """PostgREST's answer to an error of its transaction. SQLSTATE PGRST is
    parsed as parseRaisePGRST does; anything it could not parse would be its
    PGRST121 (a 500), and fails here."""
    if e.sqlstate != "PGRST":
        return Response(None, {}, {"code": e.sqlstate, "message": e.diag.message_primary}, e.sqlstate)
    message, detail = e.diag.message_primary, e.diag.message_detail
    body = json.loads(message)
    assert isinstance(body, dict), f"MESSAGE is not a JSON object: {message}"
    assert isinstance(body.get("code"), str) and isinstance(body.get("message"), str), f"MESSAGE: {message}"
    for optional in ("details", "hint"):
        assert body.get(optional) is None or isinstance(body[optional], str), f"MESSAGE {optional}: {message}"
    assert set(body) <= {"code", "message", "details", "hint"}, f"MESSAGE has other keys: {message}"
    assert detail is not None, "PGRST without DETAIL"
    meta = json.loads(detail)
    assert isinstance(meta, dict) and isinstance(meta.get("status"), int), f"DETAIL: {detail}"
    assert meta.get("status_text") is None or isinstance(meta["status_text"], str), f"DETAIL: {detail}"
    headers = meta["headers"]  # required by PostgREST
    assert isinstance(headers, dict) and all(isinstance(v, str) for v in headers.values()), f"DETAIL: {detail}"
    return Response(meta["status"], headers, body, "PGRST")


def read_only_mode(method, path, volatile):
    if method in ("GET", "HEAD"):
        return True
    if path.startswith("/rpc/") and method == "POST":
        return not volatile
    return False


def request(conn, headers, method="GET", path="/documents", query=GET_DOCUMENTS, params=None,
            set_role="set_config", volatile=True, isolation="READ COMMITTED",
            pre_request='"api_keys"."postgrest_pre_request"'):
    """One PostgREST request: a transaction. Returns a Response."""
    read_only = read_only_mode(method, path, volatile)
    conn.execute(f"BEGIN ISOLATION LEVEL {isolation}" + (" READ ONLY" if read_only else " READ WRITE"))
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
        conn.execute(f"SELECT {pre_request}()")
        rows = conn.execute(query, params).fetchall()
        sent = conn.execute("SELECT current_setting('response.headers', true)").fetchone()[0]
    except psycopg.Error as e:
        conn.execute("ROLLBACK")
        response = pgrst_error(e)
        check_no_key(response, f"{method} {path}")
        return response
    conn.execute("COMMIT")
    response = Response(200, gucs_headers(sent), rows)
    check_no_key(response, f"{method} {path}")
    return response


def check_no_key(response, what):
    text = json.dumps([response.headers, response.body], default=str)
    if any(k in text for k in KEYS):
        check(False, f"{what}: a key shows up in the answer")


def get(conn, headers, **kw):
    """GET /documents: (owner, role, read_only, titles), or the Response."""
    r = request(conn, headers, **kw)
    if r.status != 200:
        return r
    owner, role, ro, titles = r.body[0]
    return owner, role, ro, set(titles)


def refused(r, status, code, headers, what):
    """The Response r is exactly `status` with `headers`, and the body's code
    is `code` with the message PostgREST users see."""
    ok = (r.status == status and r.headers == headers and r.body.get("code") == code
          and r.body.get("message") == f"API key not accepted: {code}")
    check(ok, f"{what}: {status} {code} {headers}" if ok else f"{what}: expected {status} {code} {headers}, got {r}")
    return r


def www(realm="api", **attributes):
    parts = ([f'realm="{realm}"'] if realm else []) + [f'{k}="{v}"' for k, v in attributes.items()]
    return {"WWW-Authenticate": "Bearer " + ", ".join(parts) if parts else "Bearer"}


def expect_401(conn, headers, code, what, realm="api", **kw):
    want = www(realm) if code == "missing" else www(realm, error="invalid_token")
    return refused(request(conn, headers, **kw), 401, code, want, what)


def state_of(conn, sql):
    """The SQLSTATE of running sql on conn, or None when it succeeds."""
    try:
        conn.execute(sql)
        return None
    except psycopg.Error as e:
        return e.sqlstate


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
        # A function for RPC: STABLE, so PostgREST calls it READ ONLY even by POST.
        admin.execute("CREATE FUNCTION app.whoami() RETURNS text LANGUAGE sql STABLE"
                      " AS 'SELECT api_keys.apikey_current_owner()'")
        admin.execute("GRANT EXECUTE ON FUNCTION app.whoami() TO web_anon")
        _, key_a = create_key(admin, "tenant_a", "a",
                              scopes=["read:documents", "write:documents", "rpc:whoami"])
        _, key_b = create_key(admin, "tenant_b", "b", scopes=["read:documents"])
        _, key_a_noscope = create_key(admin, "tenant_a", "a no scope", scopes=["read:reports"])
        revoked_id, key_revoked = create_key(admin, "tenant_a", "revoked", scopes=["read:documents"])
        admin.execute("SELECT api_keys.apikey_revoke(%s)", (revoked_id,))
        later_id, key_later = create_key(admin, "tenant_b", "revoked later", scopes=["read:documents"])
        rotated_id, key_rotated = create_key(admin, "tenant_a", "rotated", scopes=["read:documents"])
        _, key_new = admin.execute("SELECT new_key_id, key FROM api_keys.apikey_rotate(%s)", (rotated_id,)).fetchone()
        _, key_ip = create_key(admin, "tenant_a", "office only", scopes=["read:documents"],
                               allowed_cidrs=["203.0.113.0/24", "2001:db8::/32"])
        # Two requests an hour: no window ends while this test runs.
        _, key_limited = create_key(admin, "tenant_b", "limited", scopes=["read:documents"],
                                    rate_limit=2, rate_window="1 hour")
        routes = admin.execute("SELECT method, path, required_scope FROM api_keys.postgrest_routes"
                               " ORDER BY path, method").fetchall()
        check(routes == [("DELETE", "/documents", "delete:documents"), ("GET", "/documents", "read:documents"),
                         ("PATCH", "/documents", "write:documents"), ("POST", "/documents", "write:documents"),
                         ("PUT", "/documents", "write:documents")],
              f"examples/multi_tenant/schema.sql sets the routes of /documents: {routes}")
    with fresh_database("postgrest_other") as other:
        with connect(other) as c:
            _, key_elsewhere = create_key(c, "tenant_a", "another database")
    KEYS += [key_a, key_b, key_a_noscope, key_revoked, key_later, key_rotated, key_new, key_ip,
             key_elsewhere, key_limited]

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
    check(get(pg, {"x-api-key": key_b}, isolation="REPEATABLE READ") == ("tenant_b", "web_anon", "on", B),
          "under REPEATABLE READ (a role's default_transaction_isolation)")
    check(get(pg, {"x-api-key": key_new})[3] == A, "the rotated-to key works")
    r = request(pg, {"x-api-key": key_a})
    check(r.status == 200 and r.headers == {}, f"a key without a rate limit gets no header: {r.headers}")

    # 401 without a key: a challenge without an error attribute (RFC 6750 3.1).
    expect_401(pg, {}, "missing", "no headers at all")
    expect_401(pg, {"accept": "application/json"}, "missing", "no key header")
    r = expect_401(pg, {"authorization": f"Basic {key_a}"}, "missing", "Authorization that is not Bearer")
    check(r.body.get("hint", "").startswith("Send a valid API key"), f"the body says what to send: {r.body}")

    # 401 invalid_token: the code, nothing else about the key.
    expect_401(pg, {"x-api-key": "ak_live_nope"}, "malformed", "a made-up key")
    typo = key_a[:-1] + ("A" if key_a[-1] != "A" else "B")
    KEYS.append(typo)
    expect_401(pg, {"x-api-key": typo}, "malformed", "a mistyped key")
    expect_401(pg, {"x-api-key": key_elsewhere}, "not_found", "a well-formed key of another database")
    expect_401(pg, {"x-api-key": key_revoked}, "revoked", "a revoked key")
    expect_401(pg, {"authorization": f"Bearer {key_revoked}"}, "revoked", "a revoked key as Bearer")
    expect_401(pg, {"x-api-key": key_rotated}, "expired", "a key rotated without grace")
    expect_401(pg, {"x-api-key": key_revoked}, "revoked", "a refusal of a POST (READ WRITE)", method="POST",
               query="SELECT 1")
    no_context_now(pg, "after a 401")

    # 403 insufficient_scope: the route's scope, in the challenge.
    r = refused(request(pg, {"x-api-key": key_a_noscope}), 403, "insufficient_scope",
                www(error="insufficient_scope", scope="read:documents"),
                "GET /documents with a key without read:documents")
    check(r.body.get("details") == "This request needs the scope read:documents.", f"details: {r.body}")
    refused(request(pg, {"x-api-key": key_a_noscope}, method="HEAD"), 403, "insufficient_scope",
            www(error="insufficient_scope", scope="read:documents"), "HEAD is covered by the GET route")
    refused(request(pg, {"x-api-key": key_a_noscope}, path="/doc%75ments"), 403, "insufficient_scope",
            www(error="insufficient_scope", scope="read:documents"),
            "a percent-encoded path (/doc%75ments is /documents to PostgREST) gets the same route")
    insert = "INSERT INTO app.documents (title) VALUES (%s) RETURNING tenant"
    refused(request(pg, {"x-api-key": key_b}, method="POST", query=insert, params=("b2",)), 403,
            "insufficient_scope", www(error="insufficient_scope", scope="write:documents"),
            "POST /documents with B's read-only key: the POST route's scope")

    for method, scope in [("PUT", "write:documents"), ("PATCH", "write:documents"),
                          ("DELETE", "delete:documents")]:
        refused(request(pg, {"x-api-key": key_b}, method=method, query="SELECT 1"), 403, "insufficient_scope",
                www(error="insufficient_scope", scope=scope), f"{method} /documents (READ WRITE) needs {scope}")

    # Writes (POST) in a READ WRITE transaction, with the scope the route asks.
    r = request(pg, {"x-api-key": key_a}, method="POST", query=insert, params=("a3",))
    check(r.status == 200 and r.body == [("tenant_a",)], f"POST with A's key inserts into tenant A ({r})")
    r = request(pg, {"x-api-key": key_a}, method="POST",
                query="INSERT INTO app.documents (tenant, title) VALUES ('tenant_b', 'planted') RETURNING tenant")
    check(r.sqlstate == "42501", "POST with A's key into tenant B is refused by the policy")
    r = request(pg, {"x-api-key": key_a}, method="GET",
                query="INSERT INTO app.documents (title) VALUES ('in a GET') RETURNING tenant")
    check(r.sqlstate == "25006", "a write inside a GET's READ ONLY transaction fails as usual")
    A.add("a3")
    check(get(pg, {"x-api-key": key_a})[3] == A, "A sees its new row")
    check(get(pg, {"x-api-key": key_b})[3] == B, "B does not")

    # Routes for functions: POST /rpc/whoami of a STABLE function is READ ONLY.
    with connect(db) as admin:
        admin.execute("INSERT INTO api_keys.postgrest_routes (method, path, required_scope)"
                      " VALUES ('*', '/rpc/*', 'rpc:call'), ('post', '/rpc/whoami', 'rpc:whoami')")
    whoami = "SELECT app.whoami(), current_setting('transaction_read_only')"
    r = request(pg, {"x-api-key": key_a}, method="POST", path="/rpc/whoami", query=whoami, volatile=False)
    check(r.status == 200 and r.body == [("tenant_a", "on")],
          f"POST /rpc/whoami (STABLE: READ ONLY) with the most specific route's scope: {r}")
    refused(request(pg, {"x-api-key": key_b}, method="POST", path="/rpc/whoami", query=whoami, volatile=False),
            403, "insufficient_scope", www(error="insufficient_scope", scope="rpc:whoami"),
            "POST /rpc/whoami needs rpc:whoami (the method was stored upper-cased)")
    refused(request(pg, {"x-api-key": key_a}, method="GET", path="/rpc/whoami", query=whoami),
            403, "insufficient_scope", www(error="insufficient_scope", scope="rpc:call"),
            "GET /rpc/whoami: the POST route does not apply, /rpc/* does")
    r = request(pg, {"x-api-key": key_b}, method="POST", path="/%72pc/who%61mi", query=whoami, volatile=False)
    check(r.status == 403 and r.headers == www(error="insufficient_scope", scope="rpc:whoami"),
          f"an encoded /rpc/ path cannot dodge the route: {r}")

    # Defence in depth: without routes the policies still decide.
    with connect(db) as admin:
        saved = admin.execute("SELECT method, path, required_scope FROM api_keys.postgrest_routes").fetchall()
        admin.execute("DELETE FROM api_keys.postgrest_routes")
    check(get(pg, {"x-api-key": key_a_noscope}) == ("tenant_a", "web_anon", "on", set()),
          "without routes a key without read:documents is accepted but sees no rows")
    r = request(pg, {"x-api-key": key_b}, method="POST", query=insert, params=("b2",))
    check(r.sqlstate == "42501", "without routes a POST with B's read-only key is refused by the policy (42501)")
    with connect(db) as admin:
        with admin.cursor() as cur:
            cur.executemany("INSERT INTO api_keys.postgrest_routes VALUES (%s, %s, %s)", saved)

    # A hook of one's own: /rpc/health without a key, a fixed scope otherwise.
    with connect(db) as admin:
        admin.execute("""
            CREATE FUNCTION app.pre_request() RETURNS void LANGUAGE plpgsql AS $$
            BEGIN
                IF current_setting('request.path', true) = '/rpc/health' THEN
                    RETURN;
                END IF;
                PERFORM api_keys.postgrest_pre_request(required_scope => 'read:documents');
            END $$""")
        admin.execute("GRANT EXECUTE ON FUNCTION app.pre_request() TO web_anon")
    own = {"pre_request": "app.pre_request"}
    r = request(pg, {}, method="GET", path="/rpc/health", query="SELECT 'ok'", **own)
    check(r.status == 200 and r.body == [("ok",)], f"own hook: /rpc/health needs no key ({r})")
    refused(request(pg, {}, **own), 401, "missing", www(), "own hook: another path needs a key")
    refused(request(pg, {"x-api-key": key_a_noscope}, **own), 403, "insufficient_scope",
            www(error="insufficient_scope", scope="read:documents"), "own hook: its scope")
    check(request(pg, {"x-api-key": key_b}, method="PATCH", query="SELECT 1", **own).status == 200,
          "own hook: its scope instead of the routes' (PATCH needs write:documents by route)")

    # 429: the RateLimit fields on success, and Retry-After with them when limited.
    first = request(pg, {"x-api-key": key_limited})
    second = request(pg, {"x-api-key": key_limited})
    policy = '"key";q=2;w=3600'
    check(first.status == 200 and first.headers.get("RateLimit-Policy") == policy
          and first.headers.get("RateLimit", "").startswith('"key";r=1;t='),
          f"an accepted request of a limited key: RateLimit fields in response.headers ({first.headers})")
    check(second.status == 200 and second.headers.get("RateLimit", "").startswith('"key";r=0;t='),
          f"the second of two: r=0 ({second.headers})")
    third = request(pg, {"x-api-key": key_limited})
    retry = third.headers.get("Retry-After", "")
    refused(third, 429, "rate_limited",
            {"Retry-After": retry, "RateLimit-Policy": policy, "RateLimit": f'"key";r=0;t={retry}'},
            "the third: 429 rate_limited")
    check(retry.isdigit() and 1 <= int(retry) <= 7200, f"Retry-After in seconds: {retry}")
    check(third.body.get("details") == f"Retry after {retry} seconds.", f"details: {third.body}")
    t = int(second.headers["RateLimit"].split("t=")[1])
    check(1 <= int(retry) <= t, f"r=0's t ({t}) is when the next request is admitted: Retry-After {retry}, "
                                "computed later, is not after it")
    r = request(pg, {"x-api-key": key_limited}, method="HEAD")
    check(r.status == 429 and r.sqlstate == "PGRST", f"and for a HEAD: {r.status}")
    # 429 quota_exceeded: a key's quota, with its policy in the RateLimit fields.
    with connect(db) as admin:
        _, key_quota = create_key(admin, "tenant_a", "quota", scopes=["read:documents"],
                                  quota=1, quota_period="day")
        KEYS.append(key_quota)
    first = request(pg, {"x-api-key": key_quota})
    check(first.status == 200 and first.headers.get("RateLimit-Policy") == '"key-quota";q=1;w=86400'
          and first.headers.get("RateLimit", "").startswith('"key-quota";r=0;t='),
          f"an accepted request of a key with a quota: its policy in the RateLimit fields ({first.headers})")
    over = request(pg, {"x-api-key": key_quota})
    retry = over.headers.get("Retry-After", "")
    refused(over, 429, "quota_exceeded",
            {"Retry-After": retry, "RateLimit-Policy": '"key-quota";q=1;w=86400',
             "RateLimit": f'"key-quota";r=0;t={retry}'},
            "a used-up quota: 429 quota_exceeded")
    check(retry.isdigit() and 1 <= int(retry) <= 86400, f"Retry-After: the seconds to midnight UTC ({retry})")
    # A hook of one's own may have set response.headers before: kept.
    with connect(db) as admin:
        _, key_limited2 = create_key(admin, "tenant_b", "limited 2", scopes=["read:documents"],
                                     rate_limit=5, rate_window="1 hour")
        KEYS.append(key_limited2)
        admin.execute("""
            CREATE FUNCTION app.cached_pre_request() RETURNS void LANGUAGE plpgsql AS $$
            BEGIN
                PERFORM set_config('response.headers', '[{"Cache-Control": "no-store"}]', true);
                PERFORM api_keys.postgrest_pre_request();
            END $$""")
        admin.execute("GRANT EXECUTE ON FUNCTION app.cached_pre_request() TO web_anon")
    r = request(pg, {"x-api-key": key_limited2}, pre_request="app.cached_pre_request")
    check(r.status == 200 and r.headers.get("Cache-Control") == "no-store"
          and r.headers.get("RateLimit", "").startswith('"key";r=4;t='),
          f"headers set before the hook are kept, the RateLimit fields added ({r.headers})")

    # Revocation takes effect at once, between two requests on one connection.
    check(get(pg, {"x-api-key": key_later})[3] == B, "a key works ...")
    with connect(db) as admin:
        admin.execute("SELECT api_keys.apikey_revoke(%s)", (later_id,))
    expect_401(pg, {"x-api-key": key_later}, "revoked", "... and is refused at the next request after its revocation")

    # Nothing of one request survives into the next on the same connection.
    check(get(pg, {"x-api-key": key_a})[0] == "tenant_a", "a request with A's key")
    no_context_now(pg, "after A's request")
    expect_401(pg, {}, "missing", "the next request without a key is not A's")

    # The realm: api_keys.postgrest_realm, per role or database.
    pg.close()
    with connect(db) as admin:
        admin.execute(f'ALTER ROLE authenticator IN DATABASE "{db}" SET api_keys.postgrest_realm = \'acme docs\'')
    pg = connect(db, user="authenticator", autocommit=True)
    expect_401(pg, {}, "missing", "the realm from ALTER ROLE ... SET api_keys.postgrest_realm", realm="acme docs")
    expect_401(pg, {"x-api-key": "ak_live_nope"}, "malformed", "in every challenge", realm="acme docs")
    pg.execute("SET api_keys.postgrest_realm = ''")
    expect_401(pg, {}, "missing", "an empty realm: a bare Bearer challenge", realm="")
    state = state_of(pg, "SET api_keys.postgrest_realm = 'say \"hi\"'")
    check(state == "22023", f"a realm with a quote is refused ({state})")
    pg.close()
    with connect(db) as admin:
        admin.execute(f'ALTER ROLE authenticator IN DATABASE "{db}" RESET api_keys.postgrest_realm')

    # The client address: only from the header the superuser named.
    pg = connect(db, user="authenticator", autocommit=True)
    good, bad = "203.0.113.5", "198.51.100.7"
    ip_refused = (403, "ip_not_allowed", {})

    def expect_403_ip(headers, what):
        refused(request(pg, headers), *ip_refused, what)

    expect_403_ip({"x-api-key": key_ip, "x-forwarded-for": good},
                  "without the setting, a key with allowed networks is refused even with a good x-forwarded-for")
    pg.execute("BEGIN")
    state = state_of(pg, "SELECT set_config('api_keys.postgrest_client_ip_header', 'x-forwarded-for', true)")
    pg.execute("ROLLBACK")
    check(state == "42501", f"authenticator cannot set api_keys.postgrest_client_ip_header ({state})")
    pg.close()

    with connect(db) as admin:
        admin.execute(f'ALTER DATABASE "{db}" SET api_keys.postgrest_client_ip_header = \'x-real-ip\'')
    pg = connect(db, user="authenticator", autocommit=True)
    check(get(pg, {"x-api-key": key_ip, "x-real-ip": good})[3] == A,
          "ALTER DATABASE ... SET the header to x-real-ip: a good x-real-ip is accepted")
    expect_403_ip({"x-api-key": key_ip, "x-real-ip": bad}, "a bad x-real-ip is refused")
    expect_403_ip({"x-api-key": key_ip, "x-forwarded-for": good},
                  "x-forwarded-for is ignored when x-real-ip is the named header")
    pg.close()

    with connect(db) as admin:
        admin.execute(f'ALTER ROLE authenticator IN DATABASE "{db}" SET api_keys.postgrest_client_ip_header = \'x-forwarded-for\'')
    pg = connect(db, user="authenticator", autocommit=True)
    check(get(pg, {"x-api-key": key_ip, "x-forwarded-for": good})[3] == A,
          "ALTER ROLE authenticator ... SET x-forwarded-for: a good address is accepted")
    check(get(pg, {"authorization": f"Bearer {key_ip}", "x-forwarded-for": "2001:db8::7"})[3] == A,
          "an IPv6 address in an allowed network is accepted")
    expect_403_ip({"x-api-key": key_ip, "x-forwarded-for": bad}, "an address outside is refused")
    check(get(pg, {"x-api-key": key_ip, "x-forwarded-for": f"{bad}, {good}"})[3] == A,
          "a list: the last entry (what the trusted proxy saw) is used, accepted")
    expect_403_ip({"x-api-key": key_ip, "x-forwarded-for": f"{good}, {bad}"},
                  "a list whose last entry is outside is refused, whatever the client put first")
    expect_403_ip({"x-api-key": key_ip, "x-real-ip": good}, "x-real-ip is ignored now that x-forwarded-for is named")
    expect_403_ip({"x-api-key": key_ip, "x-forwarded-for": "not an address"}, "an unreadable address counts as none")
    check(get(pg, {"x-api-key": key_a})[3] == A, "a key without allowed networks needs no address")
    pg.close()

    # A client cannot point the setting at a header it controls, not even
    # before the extension's library is loaded in its session.
    pg = connect(db, user="authenticator", autocommit=True)
    early = state_of(pg, "SET api_keys.postgrest_client_ip_header = 'x-client-ip'")
    expect_403_ip({"x-api-key": key_ip, "x-client-ip": good, "x-forwarded-for": bad},
                  f"a session-level SET before the library loads has no effect (SET gave {early})")
    late = state_of(pg, "SET api_keys.postgrest_client_ip_header = 'x-client-ip'")
    check(late == "42501", f"once loaded, SET by the client is refused ({late})")
    expect_403_ip({"x-api-key": key_ip, "x-client-ip": good, "x-forwarded-for": bad},
                  "and the named header is still x-forwarded-for")
    check(pg.execute("SELECT current_setting('api_keys.postgrest_client_ip_header')").fetchone()[0] == "x-forwarded-for",
          "current_setting shows x-forwarded-for")
    pg.close()

    with connect(db) as admin:
        admin.execute(f'ALTER ROLE authenticator IN DATABASE "{db}" RESET api_keys.postgrest_client_ip_header')
        admin.execute(f'ALTER DATABASE "{db}" RESET api_keys.postgrest_client_ip_header')
