"""Upgrades: every released version upgrades to this one, keys intact.

Released install scripts are frozen under sql/releases/ (api_keys--V.sql,
exactly what that release installed). For each release R:

* R older than this build: install R's script, create keys with R,
  `ALTER EXTENSION api_keys UPDATE` (through the chain of upgrade scripts in
  sql/ that `cargo pgrx install` ships), then every key must verify with the same
  answer as before, and the upgraded catalog must equal a fresh install's.
* R equal to this build's version: the frozen script and the one this build
  generates must make the same catalog. A schema change without a version
  bump (and an upgrade script) fails here.

The catalog fingerprint covers every extension member: functions with their
full definitions and privileges, the table's columns, constraints, indexes,
privileges and RLS flags, the composite types, and the dump registration.
"""

import os
import pathlib
import shutil
import subprocess
import uuid

import psycopg

from common import PG_CONFIG, check, connect

ROOT = pathlib.Path(__file__).resolve().parents[2]
RELEASES = ROOT / "sql" / "releases"
EXT_DIR = pathlib.Path(subprocess.run([PG_CONFIG, "--sharedir"], check=True,
                                      capture_output=True, text=True).stdout.strip()) / "extension"

FINGERPRINT = """
WITH ext AS (SELECT oid FROM pg_catalog.pg_extension WHERE extname = 'api_keys'),
members AS (
    SELECT d.classid, d.objid
    FROM pg_catalog.pg_depend d, ext
    WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass
      AND d.refobjid = ext.oid AND d.deptype = 'e'
)
SELECT 'object ' || pg_catalog.pg_describe_object(classid, objid, 0) FROM members
UNION ALL
SELECT 'function ' || pg_catalog.pg_get_functiondef(p.oid)
       || ' acl=' || coalesce(p.proacl::text, 'default')
FROM members m JOIN pg_catalog.pg_proc p ON p.oid = m.objid
WHERE m.classid = 'pg_catalog.pg_proc'::regclass AND p.prokind IN ('f', 'p')
UNION ALL
SELECT 'column ' || c.relname || '.' || a.attname || ' '
       || pg_catalog.format_type(a.atttypid, a.atttypmod)
       || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
       || coalesce(' default ' || pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), '')
FROM members m
JOIN pg_catalog.pg_class c ON c.oid = m.objid
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
WHERE m.classid = 'pg_catalog.pg_class'::regclass
UNION ALL
SELECT 'type ' || t.typname || '.' || a.attname || ' '
       || pg_catalog.format_type(a.atttypid, a.atttypmod)
FROM members m
JOIN pg_catalog.pg_type t ON t.oid = m.objid
JOIN pg_catalog.pg_attribute a ON a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
WHERE m.classid = 'pg_catalog.pg_type'::regclass
UNION ALL
SELECT 'constraint ' || c.relname || '.' || con.conname || ' ' || pg_catalog.pg_get_constraintdef(con.oid)
FROM members m
JOIN pg_catalog.pg_class c ON c.oid = m.objid
JOIN pg_catalog.pg_constraint con ON con.conrelid = c.oid
WHERE m.classid = 'pg_catalog.pg_class'::regclass
UNION ALL
SELECT 'index ' || pg_catalog.pg_get_indexdef(i.indexrelid)
FROM members m JOIN pg_catalog.pg_index i ON i.indrelid = m.objid
WHERE m.classid = 'pg_catalog.pg_class'::regclass
UNION ALL
SELECT 'relation ' || c.relname || ' kind=' || c.relkind::text
       || ' acl=' || coalesce(c.relacl::text, 'default')
       || ' rls=' || c.relrowsecurity || '/' || c.relforcerowsecurity
FROM members m JOIN pg_catalog.pg_class c ON c.oid = m.objid
WHERE m.classid = 'pg_catalog.pg_class'::regclass
UNION ALL
SELECT 'schema acl=' || coalesce(n.nspacl::text, 'default')
FROM pg_catalog.pg_namespace n WHERE n.nspname = 'api_keys'
UNION ALL
SELECT 'dumped ' || c.relname || ' filter=' || coalesce(e.extcondition[i], '')
FROM pg_catalog.pg_extension e,
     pg_catalog.generate_subscripts(e.extconfig, 1) AS i,
     pg_catalog.pg_class c
WHERE e.extname = 'api_keys' AND c.oid = e.extconfig[i]
ORDER BY 1
"""


def fingerprint(db):
    with connect(db) as c:
        return [r[0] for r in c.execute(FINGERPRINT).fetchall()]


def database_with(version=None):
    name = f"upgrade_{uuid.uuid4().hex[:8]}"
    with connect() as c:
        c.execute(f'CREATE DATABASE "{name}"')
    with connect(name) as c:
        if version is None:
            c.execute("CREATE EXTENSION api_keys")
        else:
            c.execute(f"CREATE EXTENSION api_keys VERSION '{version}'")
    return name


def drop(db):
    with connect() as c:
        c.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def same_catalog(db_a, db_b, what):
    a, b = fingerprint(db_a), fingerprint(db_b)
    only_a = sorted(set(a) - set(b))
    only_b = sorted(set(b) - set(a))
    for line in only_a[:20]:
        print(f"  only in {db_a}: {line[:300]}")
    for line in only_b[:20]:
        print(f"  only in {db_b}: {line[:300]}")
    check(a == b and len(a) > 20, f"{what}: same catalog ({len(a)} facts)")


def answers(conn, keys):
    return [conn.execute(
        "SELECT code, key_id, owner, name, scopes, environment, metadata, expires_at "
        "FROM api_keys.apikey_verify(%s)", (k,)).fetchone() for k in keys]


def main():
    with connect() as c:
        current = c.execute("SELECT default_version FROM pg_catalog.pg_available_extensions "
                            "WHERE name = 'api_keys'").fetchone()[0]
    releases = sorted(RELEASES.glob("api_keys--*.sql"))
    check(len(releases) > 0, "at least one frozen release script")
    fresh = database_with()
    installed = []
    try:
        for script in releases:
            release = script.name[len("api_keys--"):-len(".sql")]
            if release == current:
                # Installed under another version name beside the generated one.
                target = EXT_DIR / f"api_keys--{release}.frozen.sql"
                shutil.copyfile(script, target)
                installed.append(target)
                db = database_with(f"{release}.frozen")
                try:
                    same_catalog(fresh, db, f"release {release} as frozen and as built now")
                finally:
                    drop(db)
                continue
            with connect() as c:
                path = c.execute("SELECT path FROM pg_catalog.pg_extension_update_paths('api_keys') "
                                 "WHERE source = %s AND target = %s", (release, current)).fetchone()
            check(path is not None and path[0] is not None,
                  f"upgrade scripts lead from {release} to {current} ({path and path[0]})")
            target = EXT_DIR / script.name
            shutil.copyfile(script, target)
            installed.append(target)
            db = database_with(release)
            try:
                # Keys as release R stored them: made here by the current
                # build (key format and digest are the same), rows copied
                # into R's table with R's columns.
                with connect(fresh) as c:
                    made = [c.execute(
                        "SELECT id, key FROM api_keys.apikey_create(%s, %s, scopes => %s, "
                        "allowed_cidrs => %s, expires_at => %s)",
                        (f"owner{i}", f"key {i}", ["read:a"] if i % 2 else [],
                         ["10.0.0.0/8"] if i % 3 == 0 else None,
                         "2999-01-01" if i % 4 == 0 else None)).fetchone() for i in range(12)]
                    c.execute("UPDATE api_keys.keys SET revoked_at = now() "
                              "WHERE owner IN ('owner1', 'owner5')")
                    rows = c.execute(
                        "SELECT id, digest, prefix, owner, name, scopes, allowed_cidrs, environment, "
                        "metadata::text, created_at, expires_at, revoked_at FROM api_keys.keys "
                        "WHERE id = ANY(%s)", ([m[0] for m in made],)).fetchall()
                keys = [m[1] for m in made]
                with connect(db) as c:
                    for r in rows:
                        c.execute(
                            "INSERT INTO api_keys.keys (id, digest, prefix, owner, name, scopes, "
                            "allowed_cidrs, environment, metadata, created_at, expires_at, revoked_at) "
                            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, %s)", r)
                    before = answers(c, keys)
                    check(sorted(a[0] for a in before) == sorted(["revoked"] * 2 + ["ip_not_allowed"] * 4 + ["valid"] * 6),
                          f"{release} schema, new library: verification works before the update")
                    try:
                        c.execute("SELECT * FROM api_keys.apikey_create('o', 'n')")
                        check(False, "changed management functions refuse before the update")
                    except psycopg.Error as e:
                        check(e.sqlstate == "55000" and "ALTER EXTENSION api_keys UPDATE" in (e.diag.message_hint or ""),
                              f"{release} apikey_create before the update: 55000 with a hint ({e.sqlstate})")
                    c.execute("ALTER EXTENSION api_keys UPDATE")
                    version = c.execute("SELECT extversion FROM pg_catalog.pg_extension "
                                        "WHERE extname = 'api_keys'").fetchone()[0]
                    check(version == current, f"{release} updated to {current}")
                with connect(db) as c:
                    after = answers(c, keys)
                    check(before == after, f"{release} -> {current}: all {len(keys)} keys answer as before")
                    check(sum(1 for a in after if a[0] == "revoked") == 2, "revoked keys stay revoked")
                    new_id, new_key = c.execute(
                        "SELECT id, key FROM api_keys.apikey_create('after', 'upgrade')").fetchone()
                    check(answers(c, [new_key])[0][0] == "valid", "keys made after the update verify")
                    c.execute("SELECT * FROM api_keys.apikey_rotate(%s, '1 hour')", (made[2][0],))
                    check(answers(c, [keys[2]])[0][0] == "valid", "an old key rotates with a grace period")
                same_catalog(fresh, db, f"{release} upgraded equals fresh {current}")
            finally:
                drop(db)
    finally:
        drop(fresh)
        for f in installed:
            f.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
