"""Attack 1: a database owner who is not a superuser tries to run code as
the background workers.

The owner creates look-alike operators and functions for everything the
workers' statements use (`date + integer`, `bigint + bigint`, `uuid = uuid`,
`timestamptz < timestamptz`, `timestamptz - interval`, `unnest`, `now`) in a
schema of their own, each of which records that it ran and, when it runs as
a superuser, makes the owner a superuser; and sets `ALTER DATABASE ... SET
search_path` to put that schema first. Then keys are verified, in that
database, by an application role and by a superuser, so the workers have
usage counts and last-used times to store there.

The workers must store the right numbers, and none of the owner's objects
may ever run: the owner stays an ordinary role.
"""

import time

import psycopg

from common import check, connect, fresh_database, planted_trap

EVIL = planted_trap("sec1_owner") + """
CREATE FUNCTION evil.date_pl_int(date, integer) RETURNS date LANGUAGE plpgsql AS
  $$ BEGIN PERFORM evil.fire('date + integer'); RETURN $1 OPERATOR(pg_catalog.+) $2; END $$;
CREATE OPERATOR evil.+ (LEFTARG = date, RIGHTARG = integer, FUNCTION = evil.date_pl_int);
CREATE FUNCTION evil.int8_pl(bigint, bigint) RETURNS bigint LANGUAGE plpgsql AS
  $$ BEGIN PERFORM evil.fire('bigint + bigint'); RETURN $1 OPERATOR(pg_catalog.+) $2; END $$;
CREATE OPERATOR evil.+ (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = evil.int8_pl);
CREATE FUNCTION evil.uuid_eq(uuid, uuid) RETURNS boolean LANGUAGE plpgsql AS
  $$ BEGIN PERFORM evil.fire('uuid = uuid'); RETURN $1 OPERATOR(pg_catalog.=) $2; END $$;
CREATE OPERATOR evil.= (LEFTARG = uuid, RIGHTARG = uuid, FUNCTION = evil.uuid_eq);
CREATE FUNCTION evil.ts_lt(timestamptz, timestamptz) RETURNS boolean LANGUAGE plpgsql AS
  $$ BEGIN PERFORM evil.fire('timestamptz < timestamptz'); RETURN $1 OPERATOR(pg_catalog.<) $2; END $$;
CREATE OPERATOR evil.< (LEFTARG = timestamptz, RIGHTARG = timestamptz, FUNCTION = evil.ts_lt);
CREATE FUNCTION evil.ts_mi(timestamptz, interval) RETURNS timestamptz LANGUAGE plpgsql AS
  $$ BEGIN PERFORM evil.fire('timestamptz - interval'); RETURN $1 OPERATOR(pg_catalog.-) $2; END $$;
CREATE OPERATOR evil.- (LEFTARG = timestamptz, RIGHTARG = interval, FUNCTION = evil.ts_mi);
CREATE FUNCTION evil.unnest(anyarray) RETURNS SETOF anyelement LANGUAGE plpgsql AS
  $$ BEGIN PERFORM evil.fire('unnest'); RETURN QUERY SELECT * FROM pg_catalog.unnest($1); END $$;
CREATE FUNCTION evil.now() RETURNS timestamptz LANGUAGE plpgsql AS
  $$ BEGIN PERFORM evil.fire('now'); RETURN pg_catalog.now(); END $$;
"""

with connect() as c:
    c.execute("DROP ROLE IF EXISTS sec1_owner")
    c.execute("DROP ROLE IF EXISTS sec1_app")
    c.execute("CREATE ROLE sec1_owner LOGIN")
    c.execute("CREATE ROLE sec1_app LOGIN")
try:
    with fresh_database("sec1") as db:
        with connect() as c:
            c.execute(f'ALTER DATABASE "{db}" OWNER TO sec1_owner')
        with connect(db, user="sec1_owner") as owner:
            owner.execute(EVIL)
            owner.execute(f'ALTER DATABASE "{db}" SET search_path = evil, pg_catalog')
        with connect(db) as admin:
            admin.execute("SET search_path = pg_catalog")  # the test's own statements
            key_id, key = admin.execute(
                "SELECT id, key FROM api_keys.apikey_create('victim', 'k')").fetchone()
            admin.execute("UPDATE api_keys.keys SET last_used_at = now() - interval '1 day' WHERE id = %s",
                          (key_id,))
        # New sessions pick up the database's search_path.
        with connect(db, user="sec1_app") as app:
            check(app.execute("SHOW search_path").fetchone()[0].startswith("evil"),
                  "sessions in the database start with the owner's search_path")
            for _ in range(3):
                check(app.execute("SELECT code FROM api_keys.apikey_verify(%s)", (key,)).fetchone()[0] == "valid",
                      "an application verifies under the owner's search_path")
        with connect(db) as superuser:
            check(superuser.execute("SELECT code FROM api_keys.apikey_verify(%s)", (key,)).fetchone()[0] == "valid",
                  "a superuser verifies under the owner's search_path")
        # The workers store the counts and the time (default interval: 10 s).
        with connect(db) as admin:
            admin.execute("SET search_path = pg_catalog")
            deadline = time.monotonic() + 90
            while True:
                stored = admin.execute(
                    "SELECT (SELECT count FROM api_keys.usage WHERE key_id = %s AND code = 'valid'),"
                    "       (SELECT last_used_at > now() - interval '1 hour' FROM api_keys.keys WHERE id = %s)",
                    (key_id, key_id)).fetchone()
                if stored == (4, True) or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            check(stored == (4, True), f"the workers stored 4 valid uses and the last-used time ({stored})")
            fired = admin.execute("SELECT who, what FROM evil.fired").fetchall()
            check(fired == [], f"none of the owner's operators or functions ran ({fired})")
        with connect() as c:
            check(c.execute("SELECT rolsuper FROM pg_roles WHERE rolname = 'sec1_owner'").fetchone()[0] is False,
                  "the database owner is still not a superuser")
finally:
    with connect() as c:
        c.execute("DROP ROLE IF EXISTS sec1_owner")
        c.execute("DROP ROLE IF EXISTS sec1_app")
