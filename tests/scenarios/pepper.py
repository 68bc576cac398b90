"""Server-side pepper: digests become HMACs, older keys keep working,
peppers rotate newest first through the pepper file, a broken file is an
error (never a silent fallback), and no pepper is ever shown."""

import os
import pathlib
import pwd
import tempfile

import psycopg
from psycopg import sql

from common import check, connect, fresh_database

P1 = "pepper-one-0123456789abcdef"
P2 = "pepper-two-fedcba9876543210"


def set_pepper_file(path):
    with connect() as c:
        c.execute("LOAD 'api_keys'")  # ALTER SYSTEM knows the setting once the library is loaded
        if path is None:
            c.execute("ALTER SYSTEM RESET api_keys.pepper_file")
        else:
            c.execute(sql.SQL("ALTER SYSTEM SET api_keys.pepper_file = {}").format(sql.Literal(str(path))))
        c.execute("SELECT pg_reload_conf()")


def write(path, text):
    path.write_text(text)
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        os.chown(path, pw.pw_uid, pw.pw_gid)
    path.chmod(0o600)


def code(db, key):
    # A new session each time: it reads the current file.
    with connect(db) as c:
        return c.execute("SELECT code FROM api_keys.apikey_verify(%s)", (key,)).fetchone()[0]


def create(db, name):
    with connect(db) as c:
        kid, key = c.execute("SELECT id, key FROM api_keys.apikey_create('pep', %s)", (name,)).fetchone()
        plain = c.execute("SELECT digest = sha256(convert_to(%s, 'UTF8')) FROM api_keys.keys WHERE id = %s",
                          (key, kid)).fetchone()[0]
        return key, plain


def error_of(db, statement, *args):
    with connect(db) as c:
        try:
            c.execute(statement, args)
            return None
        except psycopg.Error as e:
            return e


def main():
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="api_keys_pepper."))
    scratch.chmod(0o755)
    peppers = scratch / "peppers"
    with fresh_database("pepper") as db:
        try:
            old, plain = create(db, "before any pepper")
            check(plain, "without a pepper the digest is SHA-256 of the key")

            write(peppers, f"# newest first\n{P1}\n")
            set_pepper_file(peppers)
            k1, plain = create(db, "under P1")
            check(not plain, "with a pepper the stored digest is not SHA-256 of the key")
            check(code(db, k1) == "valid" and code(db, old) == "valid", "peppered and older keys verify")

            write(peppers, f"{P2}\n{P1}\n")
            k2, _ = create(db, "under P2")
            check(all(code(db, k) == "valid" for k in (old, k1, k2)), "newest first: all three verify")

            write(peppers, f"{P2}\n")
            check(code(db, k1) == "not_found", "a key under a dropped pepper no longer verifies")
            check(code(db, k2) == "valid" and code(db, old) == "valid", "the others still do")

            # A broken file is an error, never a silent fallback, and the
            # error does not show the file's content.
            write(peppers, "tinyvalue\n")
            e = error_of(db, "SELECT api_keys.apikey_create('pep', 'x')")
            check(e is not None and e.sqlstate == "F0000" and "tinyvalue" not in str(e),
                  f"create with a bad pepper file: {e.sqlstate if e else None} {e}")
            e = error_of(db, "SELECT api_keys.apikey_verify(%s)", k2)
            check(e is not None and e.sqlstate == "F0000", "verify with a bad pepper file is an error")
            # Security finding 7: a configured file that holds no pepper (empty,
            # or only comments) fails closed; it never turns the pepper off.
            for empty in ("", "# rotated out\n\n"):
                write(peppers, empty)
                e = error_of(db, "SELECT api_keys.apikey_verify(%s)", k2)
                check(e is not None and e.sqlstate == "F0000" and "no pepper" in str(e),
                      f"verify with a pepper file of {empty!r} is an error (F0000), not 'no pepper'")
                e = error_of(db, "SELECT api_keys.apikey_create('pep', 'x')")
                check(e is not None and e.sqlstate == "F0000", f"create with a pepper file of {empty!r} is an error")
            peppers.unlink()
            e = error_of(db, "SELECT api_keys.apikey_verify(%s)", k2)
            check(e is not None and e.sqlstate == "F0000", "verify with a missing pepper file is an error")

            set_pepper_file(None)
            check(code(db, k2) == "not_found" and code(db, old) == "valid",
                  "without peppers only plain-digest keys verify")

            # Only superusers set it; it is a file path, the peppers are
            # never in a setting, a table or a dump.
            with connect(db) as c:
                c.execute("LOAD 'api_keys'")
                c.execute("CREATE ROLE pep_user")
                try:
                    c.execute("SET ROLE pep_user")
                    try:
                        c.execute("SET api_keys.pepper_file = '/tmp/x'")
                        check(False, "a session cannot set the pepper file")
                    except psycopg.Error as e:
                        check(e.sqlstate == "55P02", f"SET refused: {e.sqlstate}")
                finally:
                    c.execute("RESET ROLE")
                    c.execute("DROP ROLE pep_user")
        finally:
            set_pepper_file(None)
            for f in scratch.iterdir():
                f.unlink()
            scratch.rmdir()


if __name__ == "__main__":
    main()
