"""Attack 9: a database owner who is not a superuser, and who administers
keys (a member of api_keys_admin), tries to run code as the owner of the
extension's SECURITY DEFINER functions (a superuser).

The owner plants look-alike operators and functions for what the
functions' statements use (`bytea = bytea`, `uuid = uuid`, `timestamptz`
comparisons and `+ interval`, `int8 <`, `text = text`, `unnest`, `now`,
`cardinality`, `pg_notify`, `gen_random_uuid`,
`sha256`) in a schema of their own and in `public`, each of which records
that it ran and, when it runs as a superuser, makes the owner a superuser;
puts those schemas first in the search_path of their sessions and of the
database; and then calls every SECURITY DEFINER function: the importers,
the leak report, creation, update, rotation, revocation, the reports and
the PostgREST hooks.

First a control: the planted objects do intercept an ordinary statement in
such a session, so the attack is real. Then none of them may run inside the
functions, and the owner stays an ordinary role.
"""

import json

from common import check, connect, fresh_database, planted_trap

# (operator, left and right argument types, result type)
OPERATORS = [
    ("=", "bytea", "bytea", "boolean"),
    ("=", "uuid", "uuid", "boolean"),
    ("=", "text", "text", "boolean"),
    ("<", "timestamptz", "timestamptz", "boolean"),
    (">", "timestamptz", "timestamptz", "boolean"),
    ("+", "timestamptz", "interval", "timestamptz"),
    ("<", "bigint", "bigint", "boolean"),
    ("<", "integer", "integer", "boolean"),
]
# (name, argument types, result type, body)
FUNCTIONS = [
    ("unnest", "anyarray", "SETOF anyelement", "RETURN QUERY SELECT * FROM pg_catalog.unnest($1)"),
    ("now", "", "timestamptz", "RETURN pg_catalog.now()"),
    ("cardinality", "anyarray", "integer", "RETURN pg_catalog.cardinality($1)"),
    ("pg_notify", "text, text", "void", "PERFORM pg_catalog.pg_notify($1, $2)"),
    ("gen_random_uuid", "", "uuid", "RETURN pg_catalog.gen_random_uuid()"),
    ("sha256", "bytea", "bytea", "RETURN pg_catalog.sha256($1)"),
]


def plant(schema):
    """The look-alikes in one schema."""
    sql = []
    for i, (op, left, right, result) in enumerate(OPERATORS):
        fn = f"{schema}.op_{i}"
        sql.append(
            f"CREATE FUNCTION {fn}({left}, {right}) RETURNS {result} LANGUAGE plpgsql AS $$"
            f" BEGIN PERFORM evil.fire('{left} {op} {right}');"
            f" RETURN $1 OPERATOR(pg_catalog.{op}) $2; END $$;"
            f" CREATE OPERATOR {schema}.{op} (LEFTARG = {left}, RIGHTARG = {right}, FUNCTION = {fn});")
    for name, args, result, body in FUNCTIONS:
        sql.append(
            f"CREATE FUNCTION {schema}.{name}({args}) RETURNS {result} LANGUAGE plpgsql AS $$"
            f" BEGIN PERFORM evil.fire('{name}'); {body}; END $$;")
    return "\n".join(sql)


EVIL = planted_trap("sec9_owner") + plant("evil") + "\n" + plant("public")

# Every SECURITY DEFINER function, called as the attacker would.
CALLS = [
    ("apikey_import",
     "SELECT api_keys.apikey_import('tenant', 'legacy', pg_catalog.sha256('legacy-key-0123456789abcdef'::bytea),"
     " scopes => '{read}', expires_at => pg_catalog.now() OPERATOR(pg_catalog.+) interval '1 day',"
     " rotation_interval => interval '30 days')"),
    ("apikey_import_many",
     "SELECT api_keys.apikey_import_many(ARRAY["
     " api_keys.imported_key('tenant', 'bulk 1', pg_catalog.sha256('bulk-key-one-0123456789'::bytea)),"
     " api_keys.imported_key('tenant', 'bulk 2', pg_catalog.sha256('bulk-key-two-0123456789'::bytea))])"),
    ("apikey_create", "SELECT key FROM api_keys.apikey_create('tenant', 'native', scopes => '{read}')"),
    ("apikey_report_leaked",
     "SELECT pg_catalog.string_agg(label, ',') FROM api_keys.apikey_report_leaked("
     " ARRAY['legacy-key-0123456789abcdef', %(native)s, 'never-issued-0123456789'], 'sec9', 'https://example.test/x')"),
    ("postgrest_required_scope", "SELECT api_keys.postgrest_required_scope('GET', '/documents')"),
    ("postgrest_check", "SELECT pg_catalog.count(*) FROM api_keys.postgrest_check('read')"),
    ("postgrest_authenticate", "SELECT api_keys.postgrest_authenticate()"),
    ("apikey_update", "SELECT api_keys.apikey_update(%(id)s, name => 'renamed', scopes => '{read,write}')"),
    ("apikey_rotate", "SELECT key FROM api_keys.apikey_rotate(%(id)s, interval '1 hour')"),
    ("apikey_revoke", "SELECT api_keys.apikey_revoke(%(id)s)"),
    ("apikey_list", "SELECT pg_catalog.count(*) FROM api_keys.apikey_list('tenant', 'all')"),
    ("apikey_history", "SELECT pg_catalog.count(*) FROM api_keys.apikey_history('tenant')"),
    ("apikey_usage", "SELECT pg_catalog.count(*) FROM api_keys.apikey_usage('tenant')"),
    ("apikey_due_for_rotation", "SELECT pg_catalog.count(*) FROM api_keys.apikey_due_for_rotation(interval '60 days')"),
    ("apikey_expiring", "SELECT pg_catalog.count(*) FROM api_keys.apikey_expiring(interval '60 days')"),
    ("apikey_announce_due", "SELECT pg_catalog.count(*) FROM api_keys.apikey_announce_due(interval '60 days')"),
    ("apikey_set_owner_limits", "SELECT pg_catalog.count(*) FROM api_keys.apikey_set_owner_limits('tenant', rate_limit => 100)"),
    ("apikey_owner_limits", "SELECT pg_catalog.count(*) FROM api_keys.apikey_owner_limits('tenant')"),
    ("apikey_quotas", "SELECT pg_catalog.count(*) FROM api_keys.apikey_quotas('tenant')"),
    ("apikey_owner_usage", "SELECT pg_catalog.count(*) FROM api_keys.apikey_owner_usage('tenant')"),
]

with connect() as c:
    c.execute("DROP ROLE IF EXISTS sec9_owner")
    c.execute("CREATE ROLE sec9_owner LOGIN IN ROLE api_keys_admin")
try:
    with fresh_database("sec9") as db:
        with connect() as c:
            c.execute(f'ALTER DATABASE "{db}" OWNER TO sec9_owner')
        with connect(db) as c:
            # Every SECURITY DEFINER function of the extension is called below.
            definers = {r[0] for r in c.execute(
                "SELECT p.proname FROM pg_catalog.pg_proc p"
                "  JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_proc'::regclass AND d.objid = p.oid"
                "   AND d.deptype = 'e'"
                "  JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'api_keys'"
                " WHERE p.prosecdef")}
            called = {name for name, _ in CALLS}
            check(definers == called,
                  f"the attack calls every SECURITY DEFINER function (not called: {sorted(definers - called)},"
                  f" not definers: {sorted(called - definers)})")
            c.execute("INSERT INTO api_keys.postgrest_routes (method, path, required_scope)"
                      " VALUES ('GET', '/*', 'read')")
        with connect(db, user="sec9_owner") as owner:
            owner.execute(EVIL)
            owner.execute(f'ALTER DATABASE "{db}" SET search_path = evil, public, pg_catalog')
        with connect(db, user="sec9_owner") as owner:
            check(owner.execute("SHOW search_path").fetchone()[0].startswith("evil"),
                  "the owner's sessions start with the planted schemas first")
            # The control: in this session, an ordinary statement runs the look-alikes.
            owner.execute("SELECT now(), gen_random_uuid() = gen_random_uuid()")
            fired = [r[0] for r in owner.execute("DELETE FROM evil.fired RETURNING what")]
            check("now" in fired and "uuid = uuid" in fired and "gen_random_uuid" in fired,
                  f"the look-alikes intercept an ordinary statement of this session ({fired})")
            args = {}
            for name, sql in CALLS:
                with owner.transaction():
                    row = owner.execute(sql, args).fetchone()
                if name == "apikey_create":
                    args["native"] = row[0]
                    args["id"] = owner.execute(
                        "SELECT key_id FROM api_keys.apikey_verify(%s)", (row[0],)).fetchone()[0]
                    # The report revokes the native key; update, rotate and
                    # revoke work on another one.
                if name == "apikey_report_leaked":
                    check(row[0] == "true_positive,true_positive,false_positive",
                          f"the leak report revoked the imported and the native key ({row[0]})")
                    args["id"], second = owner.execute(
                        "SELECT id, key FROM api_keys.apikey_create('tenant', 'second', scopes => '{read}')"
                    ).fetchone()
                    # A PostgREST request with it, as PostgREST sets it.
                    for setting, value in [("request.method", "GET"), ("request.path", "/documents"),
                                           ("request.headers", json.dumps({"authorization": f"Bearer {second}"}))]:
                        owner.execute("SELECT pg_catalog.set_config(%s, %s, false)", (setting, value))
                if name == "postgrest_required_scope":
                    check(row[0] == "read:*", f"the route's scope is found ({row[0]})")
                if name in ("postgrest_check", "postgrest_authenticate"):
                    check(row[0] in (0, None), f"{name} accepts the second key ({row[0]})")
            check(owner.execute(
                "SELECT pg_catalog.count(*) FROM api_keys.apikey_list('tenant', 'all')").fetchone()[0] >= 5,
                "the functions did their work")
        with connect(db) as admin:
            fired = admin.execute("SELECT who, what FROM evil.fired").fetchall()
            check(fired == [], f"none of the planted operators or functions ran inside the functions ({fired})")
        with connect() as c:
            check(c.execute("SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = 'sec9_owner'").fetchone()[0]
                  is False, "the database owner is still not a superuser")
finally:
    with connect() as c:
        c.execute("DROP ROLE IF EXISTS sec9_owner")
