"""pg_dump of a database, restored into a new one, keeps every key working,
the audit log and the PostgREST routes."""

import os

from common import PG_BIN, PSQL, check, connect, create_key, fresh_database, run, verify_code

with fresh_database("dump_src") as src:
    with connect(src) as c:
        _, live = create_key(c, "acme", "live key", scopes=["read:docs"])
        revoked_id, revoked = create_key(c, "acme", "revoked key")
        c.execute("SELECT api_keys.apikey_revoke(%s)", (revoked_id,))
        check(verify_code(c, live) == "valid", "live key valid before dump")
        history = c.execute("SELECT action, key_id, acting_role FROM api_keys.apikey_history('acme')").fetchall()
        check(len(history) == 3, "three events before the dump")
        c.execute("INSERT INTO api_keys.postgrest_routes VALUES ('post', '/documents', 'write:documents')")

    dump = os.path.join(os.environ.get("API_KEYS_TEST_DIR", "/tmp"), "dump.sql")
    out = run([f"{PG_BIN}/pg_dump", "--no-owner", "-d", src]).stdout
    with open(dump, "w") as f:
        f.write(out)
    check("digest" in out and "COPY api_keys.keys" in out, "the dump carries the key rows")
    check("COPY api_keys.events" in out, "the dump carries the audit log")
    check(live not in out and live[8:] not in out, "the dump does not contain a key")

    dst = src.replace("dump_src", "dump_dst")
    with connect() as c:
        c.execute(f'CREATE DATABASE "{dst}"')
    try:
        run([PSQL, "-X", "-v", "ON_ERROR_STOP=1", "-q", "-d", dst, "-f", dump])
        with connect(dst) as c:
            check(verify_code(c, live) == "valid", "live key valid after restore")
            check(verify_code(c, live, "read:docs") == "valid", "its scopes survived")
            check(verify_code(c, revoked) == "revoked", "revoked key still revoked after restore")
            n = c.execute("SELECT count(*) FROM api_keys.apikey_list('acme', 'all')").fetchone()[0]
            check(n == 2, "both rows restored exactly once")
            restored = c.execute("SELECT action, key_id, acting_role FROM api_keys.apikey_history('acme')").fetchall()
            check(restored == history, "the audit log survived the dump")
            routes = c.execute("SELECT * FROM api_keys.postgrest_routes").fetchall()
            check(routes == [("POST", "/documents", "write:documents")], f"the routes survived: {routes}")
            scope = c.execute("SELECT api_keys.postgrest_required_scope('POST', '/documents')").fetchone()[0]
            check(scope == "write:documents", "and apply")
    finally:
        with connect() as c:
            c.execute(f'DROP DATABASE IF EXISTS "{dst}" WITH (FORCE)')
