"""Imported keys behave like native ones wherever a key is checked:
apikey_authenticate for RLS, and PostgREST's pre-request hook (the
application of examples/multi_tenant, requests made as PostgREST makes
them); look-alikes of the native format stay malformed there too; an
imported key rotates to a native one."""

import json
import os

import psycopg

from common import PSQL, ROOT, check, connect, fresh_database, run

SCHEMA = os.path.join(ROOT, "examples", "multi_tenant", "schema.sql")
GITHUB_STYLE = "ghp_16C7e42F292c6912E7710c838347Ae178B4a"
KEYHIPPO_STYLE = "Wj3nQ+/x5Jv0Zr8Lq2Ts9Uw1Yb4Cd6Ef" + "0123456789abcdef" * 8


def import_key(admin, owner, name, key, scopes):
    return admin.execute("SELECT api_keys.apikey_import(%s, %s, sha256(convert_to(%s, 'UTF8')), %s)",
                         (owner, name, key, scopes)).fetchone()[0]


def titles_as(pg, headers):
    """GET /documents as PostgREST runs it: the titles seen, or the error."""
    pg.execute("BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY")
    try:
        pg.execute("SELECT set_config('role', 'web_anon', true), set_config('request.headers', %s, true)",
                   (json.dumps(headers),))
        pg.execute('SELECT "api_keys"."postgrest_pre_request"()')
        rows = pg.execute("SELECT api_keys.apikey_current_owner(), title FROM app.documents ORDER BY title").fetchall()
    except psycopg.Error as e:
        pg.execute("ROLLBACK")
        # PostgREST's refusal: SQLSTATE PGRST, the error body as JSON in the
        # message; the code is the verification's.
        return (e.sqlstate, json.loads(e.diag.message_primary)["code"] if e.sqlstate == "PGRST" else None)
    pg.execute("COMMIT")
    return rows


def main():
    with fresh_database("imported") as db:
        run([PSQL, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", db, "-f", SCHEMA])
        with connect(db) as admin:
            admin.execute("INSERT INTO app.documents (tenant, title) VALUES ('tenant_a', 'a1'), ('tenant_b', 'b1')")
            gh_id = import_key(admin, "tenant_a", "from github style", GITHUB_STYLE, ["read:documents"])
            import_key(admin, "tenant_b", "from keyhippo style", KEYHIPPO_STYLE, ["read:documents"])

        pg = connect(db, user="authenticator")
        check(titles_as(pg, {"x-api-key": GITHUB_STYLE}) == [("tenant_a", "a1")],
              "PostgREST: an imported key in x-api-key sees its tenant's rows")
        check(titles_as(pg, {"authorization": f"Bearer {KEYHIPPO_STYLE}"}) == [("tenant_b", "b1")],
              "PostgREST: an imported key with + and / as Bearer works")
        check(titles_as(pg, {"x-api-key": GITHUB_STYLE[:-1] + "X"}) == ("PGRST", "not_found"),
              "PostgREST: a wrong key of a foreign format is not_found")
        check(titles_as(pg, {"x-api-key": "ak_live_" + "a" * 49}) == ("PGRST", "malformed"),
              "PostgREST: a look-alike of the native format stays malformed")

        # RLS through apikey_authenticate, as the application role.
        with connect(db, user="authenticator") as app:
            app.execute("BEGIN")
            app.execute("SET LOCAL ROLE web_anon")
            key_id = app.execute("SELECT api_keys.apikey_authenticate(%s, required_scope => 'read:documents')",
                                 (GITHUB_STYLE,)).fetchone()[0]
            seen = app.execute("SELECT api_keys.apikey_current_owner(), api_keys.apikey_has_scope('read:documents'), "
                               "array_agg(title) FROM app.documents").fetchone()
            app.execute("COMMIT")
            check(key_id == gh_id and seen == ("tenant_a", True, ["a1"]),
                  f"apikey_authenticate makes the imported key the context for RLS: {seen}")
            app.execute("BEGIN")
            try:
                app.execute("SELECT api_keys.apikey_authenticate(%s)", ("short-and-weak",))
                check(False, "a malformed string authenticates")
            except psycopg.Error as e:
                check(e.sqlstate == "28000" and e.diag.message_primary == "API key not accepted: malformed",
                      "apikey_authenticate: fewer than 16 letters or digits is malformed (28000)")
            app.execute("ROLLBACK")

        # Rotation makes a native key; the imported one ends with its grace.
        with connect(db) as admin:
            native = admin.execute("SELECT key FROM api_keys.apikey_rotate(%s)", (gh_id,)).fetchone()[0]
            origins = admin.execute("SELECT origin FROM api_keys.apikey_list('tenant_a', 'all') "
                                    "ORDER BY created_at").fetchall()
        check(origins == [("imported",), ("native",)], f"the successor is native: {origins}")
        check(titles_as(pg, {"x-api-key": native}) == [("tenant_a", "a1")], "the native successor works")
        check(titles_as(pg, {"x-api-key": GITHUB_STYLE}) == ("PGRST", "expired"),
              "the imported key ends with its grace")
        pg.close()


if __name__ == "__main__":
    main()
