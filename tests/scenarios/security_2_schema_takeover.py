"""Attack 2: the extension's schema in someone else's hands.

* A role that is not a superuser creates `api_keys` before `CREATE
  EXTENSION`: the installation refuses (42501) instead of adopting it, and
  likewise a pre-created schema that is not empty or lets others CREATE in
  it, and an existing `api_keys_admin` / `api_keys_worker` role that can
  log in or has a group role must not have.
* Whoever could swap the schema for a look-alike (here a superuser, in a
  rolled-back transaction, standing in for an owner who could): a renamed
  real schema and a new `api_keys.keys` holding a made-up key's digest with
  every scope. Verification through the real functions finds the real
  table by OID and answers `not_found` for the made-up key.
"""

import hashlib
import uuid

import psycopg

from common import check, connect


def new_database():
    name = f"sec2_{uuid.uuid4().hex[:8]}"
    with connect() as c:
        c.execute(f'CREATE DATABASE "{name}"')
    return name


def drop(name):
    with connect() as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def refused(db, setup, what, fragment):
    """CREATE EXTENSION after `setup` fails with 42501 naming the problem."""
    with connect(db) as c:
        for sql in setup:
            c.execute(sql)
    with connect(db) as c:
        try:
            c.execute("CREATE EXTENSION api_keys")
            check(False, f"{what}: CREATE EXTENSION refused")
        except psycopg.Error as e:
            check(e.sqlstate == "42501" and fragment in (e.diag.message_primary or ""),
                  f"{what}: refused with 42501 ({e.diag.message_primary})")
        check(c.execute("SELECT count(*) FROM pg_extension WHERE extname = 'api_keys'").fetchone()[0] == 0,
              f"{what}: nothing installed")


with connect() as c:
    c.execute("DROP ROLE IF EXISTS sec2_owner")
    c.execute("CREATE ROLE sec2_owner LOGIN")
dbs = []
try:
    db = new_database(); dbs.append(db)
    with connect() as c:
        c.execute(f'GRANT CREATE ON DATABASE "{db}" TO sec2_owner')
    with connect(db, user="sec2_owner") as owner:
        owner.execute("CREATE SCHEMA api_keys")
    refused(db, [], "a schema api_keys made by another role", 'belongs to role "sec2_owner"')

    db = new_database(); dbs.append(db)
    refused(db, ["CREATE SCHEMA api_keys", "CREATE TABLE api_keys.keys (id uuid)"],
            "a pre-created schema that is not empty", "is not empty")

    db = new_database(); dbs.append(db)
    refused(db, ["CREATE SCHEMA api_keys", "GRANT CREATE ON SCHEMA api_keys TO sec2_owner"],
            "a pre-created schema others may create in", "lets others create objects")

    for role in ("api_keys_admin", "api_keys_worker"):
        db = new_database(); dbs.append(db)
        with connect() as c:
            c.execute(f"ALTER ROLE {role} LOGIN")
        try:
            refused(db, [], f"an existing {role} that can log in", f'role "{role}" exists and can log in')
        finally:
            with connect() as c:
                c.execute(f"ALTER ROLE {role} NOLOGIN")
    db = new_database(); dbs.append(db)
    with connect() as c:
        c.execute("GRANT api_keys_worker TO sec2_owner")
    try:
        refused(db, [], "an api_keys_worker with members", 'role "api_keys_worker" has members')
    finally:
        with connect() as c:
            c.execute("REVOKE api_keys_worker FROM sec2_owner")

    # The look-alike table: found by OID, never by name.
    db = new_database(); dbs.append(db)
    with connect(db) as c:
        c.execute("CREATE EXTENSION api_keys")
        real_key = c.execute("SELECT key FROM api_keys.apikey_create('victim', 'real')").fetchone()[0]
        made_up = c.execute("SELECT key FROM api_keys.apikey_create('attacker', 'template')").fetchone()[0]
        c.execute("DELETE FROM api_keys.keys WHERE owner = 'attacker'")
    with connect(db, autocommit=False) as c:
        c.execute("ALTER SCHEMA api_keys RENAME TO api_keys_real")
        c.execute("CREATE SCHEMA api_keys")
        c.execute("CREATE TABLE api_keys.keys (LIKE api_keys_real.keys INCLUDING ALL)")
        c.execute("INSERT INTO api_keys.keys (digest, prefix, owner, name, scopes, environment) "
                  "VALUES (%s, 'x', 'victim', 'forged', '{*:**}', 'live')",
                  (hashlib.sha256(made_up.encode()).digest(),))
        c.execute("CREATE TYPE api_keys.verification AS (valid boolean, code text)")
        forged = c.execute("SELECT code FROM api_keys_real.apikey_verify(%s)", (made_up,)).fetchone()[0]
        check(forged == "not_found", f"a look-alike api_keys.keys is not used: the made-up key is {forged}")
        real = c.execute("SELECT code, owner FROM api_keys_real.apikey_verify(%s)", (real_key,)).fetchone()
        check(real == ("valid", "victim"), f"the real table answers as before ({real})")
        c.rollback()
finally:
    for db in dbs:
        drop(db)
    with connect() as c:
        c.execute("DROP ROLE IF EXISTS sec2_owner")
