"""Row-level security end to end, with the example application.

examples/multi_tenant/schema.sql is loaded with psql into a fresh database.
Queries run as a role that does not own the table (`authenticator` logged
in, `web_anon` for each transaction), and as the owner itself under FORCE
ROW LEVEL SECURITY:

- tenant A's key sees A's rows only, tenant B's key B's rows only;
- no key sees none; a key of the right tenant without the scope sees none;
- writes are checked too (own tenant only, with the write scope);
- the context is gone after COMMIT, ROLLBACK and an error, so the next
  transaction on the same connection sees nothing again;
- the context cannot be forged with set_config by a non-superuser.

At the end it prints what the policy costs on a 100,000-row scan
(bench/rls_policy_cost.sh, printed only, never asserted).
"""

import os
import subprocess

import psycopg

from common import PSQL, check, connect, create_key, fresh_database, run

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCHEMA = os.path.join(ROOT, "examples", "multi_tenant", "schema.sql")

A_TITLES = {"a1", "a2", "a3"}
B_TITLES = {"b1", "b2"}


def load_schema(db):
    run([PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-f", SCHEMA])


def sqlstate_of(conn, sql, params=None):
    """Run sql (in a savepoint when inside a transaction): (sqlstate, message), or (None, None)."""
    try:
        with conn.transaction():
            conn.execute(sql, params)
    except psycopg.Error as e:
        return e.sqlstate, e.diag.message_primary or ""
    return None, None


def titles(conn, role, key=None):
    """One transaction as `role`: authenticate `key` (if any), read the titles."""
    with conn.transaction():
        conn.execute(f"SET LOCAL ROLE {role}")
        if key is not None:
            conn.execute("SELECT api_keys.apikey_authenticate(%s)", (key,))
        rows = conn.execute("SELECT title FROM app.documents").fetchall()
    return {r[0] for r in rows}


def owner_now(conn):
    return conn.execute("SELECT api_keys.apikey_current_owner()").fetchone()[0]


with fresh_database("rls") as db:
    load_schema(db)
    with connect(db) as admin:
        force = admin.execute(
            "SELECT c.relrowsecurity, c.relforcerowsecurity, pg_get_userbyid(c.relowner)"
            "  FROM pg_class c WHERE c.oid = 'app.documents'::regclass"
        ).fetchone()
        check(force == (True, True, "app_owner"), f"app.documents: RLS enabled and forced, owned by app_owner ({force})")
        check(
            admin.execute("SELECT count(*) FROM pg_policies WHERE schemaname = 'app'").fetchone()[0] == 4,
            "four policies (select, insert, update, delete)",
        )
        # Rows are loaded by the superuser (who bypasses RLS).
        for t in sorted(A_TITLES):
            admin.execute("INSERT INTO app.documents (tenant, title) VALUES ('tenant_a', %s)", (t,))
        for t in sorted(B_TITLES):
            admin.execute("INSERT INTO app.documents (tenant, title) VALUES ('tenant_b', %s)", (t,))
        _, key_a = create_key(admin, "tenant_a", "a rw", scopes=["read:documents", "write:documents"])
        _, key_a_ro = create_key(admin, "tenant_a", "a ro", scopes=["read:documents"])
        _, key_a_other = create_key(admin, "tenant_a", "a reports", scopes=["read:reports"])
        _, key_b = create_key(admin, "tenant_b", "b all", scopes=["*:documents"])
        revoked_id, key_revoked = create_key(admin, "tenant_a", "a revoked", scopes=["read:documents"])
        admin.execute("SELECT api_keys.apikey_revoke(%s)", (revoked_id,))

    # The schema can be loaded again into another database of the cluster.
    with fresh_database("rls_again") as db2:
        load_schema(db2)
        check(True, "schema.sql loads into a second database of the same cluster")

    app = connect(db, user="authenticator", autocommit=True)
    is_super = app.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user").fetchone()
    check(is_super == (False, False), "the application logs in as a role that is neither superuser nor BYPASSRLS")

    # Non-owner role (web_anon).
    check(titles(app, "web_anon", key_a) == A_TITLES, "tenant A's key sees exactly A's rows")
    check(titles(app, "web_anon", key_b) == B_TITLES, "tenant B's key sees exactly B's rows")
    check(titles(app, "web_anon", key_a_ro) == A_TITLES, "a read-only key of A sees A's rows")
    check(titles(app, "web_anon") == set(), "no key: no rows")
    check(titles(app, "web_anon", key_a_other) == set(), "A's key without read:documents: no rows")
    check(titles(app, "web_anon", key_a) == A_TITLES, "A again after B on the same connection: A's rows only")

    # The owner of the table, under FORCE ROW LEVEL SECURITY.
    with connect(db) as admin:
        admin.execute("GRANT app_owner TO authenticator")
    check(titles(app, "app_owner") == set(), "table owner without a key: no rows (FORCE RLS)")
    check(titles(app, "app_owner", key_b) == B_TITLES, "table owner with B's key: B's rows only")
    with connect(db) as admin:
        admin.execute("REVOKE app_owner FROM authenticator")

    # A key that does not verify: 28000, the code in the message, never the key.
    with app.transaction():
        app.execute("SET LOCAL ROLE web_anon")
        state, msg = sqlstate_of(app, "SELECT api_keys.apikey_authenticate(%s)", (key_revoked,))
        check(state == "28000" and "revoked" in msg, f"revoked key: 28000 naming the code ({state}: {msg})")
        check(key_revoked not in msg, "the key is not in the message")
    check(titles(app, "web_anon", None) == set(), "after a refused key: no rows")

    # Writes.
    with app.transaction(force_rollback=True):
        app.execute("SET LOCAL ROLE web_anon")
        app.execute("SELECT api_keys.apikey_authenticate(%s)", (key_a,))
        tenant = app.execute("INSERT INTO app.documents (title) VALUES ('a4') RETURNING tenant").fetchone()[0]
        check(tenant == "tenant_a", "an insert gets the caller's tenant by default")
        n = app.execute("SELECT count(*) FROM app.documents").fetchone()[0]
        check(n == len(A_TITLES) + 1, "and is visible to it in the same transaction")
        n = app.execute("UPDATE app.documents SET body = 'x' WHERE title LIKE 'b%'").rowcount
        check(n == 0, "A's key updates none of B's rows")
        n = app.execute("UPDATE app.documents SET body = 'x'").rowcount
        check(n == len(A_TITLES) + 1, "A's key updates A's rows")
        n = app.execute("DELETE FROM app.documents").rowcount
        check(n == 0, "A's key without delete:documents deletes nothing")
        state, msg = sqlstate_of(app, "INSERT INTO app.documents (tenant, title) VALUES ('tenant_b', 'forged')")
        check(state == "42501" and "row-level security" in msg, f"inserting into B's tenant is refused ({state}: {msg})")
    with app.transaction(force_rollback=True):
        app.execute("SET LOCAL ROLE web_anon")
        app.execute("SELECT api_keys.apikey_authenticate(%s)", (key_a_ro,))
        state, msg = sqlstate_of(app, "INSERT INTO app.documents (title) VALUES ('ro')")
        check(state == "42501", f"a key without write:documents cannot insert ({state}: {msg})")
    with app.transaction(force_rollback=True):
        app.execute("SET LOCAL ROLE web_anon")
        state, msg = sqlstate_of(app, "INSERT INTO app.documents (tenant, title) VALUES ('tenant_a', 'anon')")
        check(state == "42501", f"no key: cannot insert ({state}: {msg})")
    with app.transaction(force_rollback=True):
        app.execute("SET LOCAL ROLE web_anon")
        app.execute("SELECT api_keys.apikey_authenticate(%s)", (key_b,))
        n = app.execute("DELETE FROM app.documents").rowcount
        check(n == len(B_TITLES), "B's key with *:documents deletes B's rows only (rolled back)")
    check(titles(app, "web_anon", key_a) == A_TITLES, "rolled-back writes left A's rows as they were")
    check(titles(app, "web_anon", key_b) == B_TITLES, "and B's")

    # The context ends with the transaction.
    for how in ("COMMIT", "ROLLBACK", "error"):
        app.execute("BEGIN")
        app.execute("SET LOCAL ROLE web_anon")
        app.execute("SELECT api_keys.apikey_authenticate(%s)", (key_a,))
        n = app.execute("SELECT count(*) FROM app.documents").fetchone()[0]
        check(n == len(A_TITLES) and owner_now(app) == "tenant_a", f"[{how}] authenticated inside the transaction")
        if how == "error":
            try:
                app.execute("SELECT 1 / 0")
                state = None
            except psycopg.Error as e:
                state = e.sqlstate
            check(state == "22012", "[error] the transaction failed")
            app.execute("ROLLBACK")
        else:
            app.execute(how)
        check(owner_now(app) is None, f"[{how}] no context after it")
        check(titles(app, "web_anon") == set(), f"[{how}] the next transaction on the connection sees no rows")
    # Outside a transaction block the context lasts one statement.
    row = app.execute("SELECT api_keys.apikey_authenticate(%s) IS NOT NULL, api_keys.apikey_current_owner()", (key_a,)).fetchone()
    check(row == (True, "tenant_a"), "autocommit: authenticated for the statement")
    check(owner_now(app) is None, "autocommit: gone at the next statement")

    # Forging: a non-superuser cannot set the context's setting at all.
    with app.transaction():
        app.execute("SET LOCAL ROLE web_anon")
        forged = '{"key_id":"00000000-0000-0000-0000-000000000000","owner":"tenant_b","scopes":["*:*"]}'
        state, msg = sqlstate_of(app, "SELECT set_config('api_keys.current_key', %s, true)", (forged,))
        check(state is not None, f"set_config of the context is refused ({state}: {msg})")
    with app.transaction():
        app.execute("SET LOCAL ROLE web_anon")
        sqlstate_of(app, "SET api_keys.current_key = 'tenant_b'")
    check(titles(app, "web_anon") == set(), "after forging attempts: still no rows")
    check(owner_now(app) is None, "and no context")
    app.close()

# What the policy costs (printed, not asserted).
print("policy cost on a 100,000-row scan (bench/rls_policy_cost.sh --existing):")
out = subprocess.run(
    ["bash", os.path.join(ROOT, "bench", "rls_policy_cost.sh"), "--existing"],
    capture_output=True, text=True,
)
print(out.stdout + out.stderr)
check(out.returncode == 0, "the policy cost measurement ran")
