"""Two reports of the same leaked key at once (GitHub retrying while the
first report is still running): the second waits for the first, and
answers already_revoked; the key is revoked once, with one event. A report
that rolls back revokes nothing and records nothing."""

import threading

from common import check, connect, create_key, fresh_database, verify_code, wait_until_blocked

REPORT = "SELECT label FROM api_keys.apikey_report_leaked(ARRAY[%s], 'github:content', 'https://example.com/x')"


def main():
    with fresh_database("leak_race") as db:
        with connect(db) as admin:
            key_id, key = create_key(admin, "acme", "leaked twice")

        # A report that rolls back.
        with connect(db, autocommit=False) as tx:
            check(tx.execute(REPORT, (key,)).fetchone() == ("true_positive",), "a report in a transaction ...")
            tx.rollback()
        with connect(db) as c:
            check(verify_code(c, key) == "valid", "... that rolls back leaves the key valid")
            n = c.execute("SELECT count(*) FROM api_keys.events WHERE action = 'revoked'").fetchone()[0]
            check(n == 0, "and records no event")

        first = connect(db, autocommit=False)
        check(first.execute(REPORT, (key,)).fetchone() == ("true_positive",), "the first report revokes the key")
        second = connect(db)
        pid = second.info.backend_pid
        answer = {}
        t = threading.Thread(target=lambda: answer.setdefault("second", second.execute(REPORT, (key,)).fetchone()))
        t.start()
        wait_until_blocked(pid, db)
        check(t.is_alive(), "the second report waits for the first one's transaction")
        first.commit()
        t.join(timeout=60)
        check(answer.get("second") == ("already_revoked",), f"then answers already_revoked: {answer}")
        with connect(db) as c:
            check(verify_code(c, key) == "revoked", "the key is revoked")
            n = c.execute("SELECT count(*) FROM api_keys.events WHERE key_id = %s AND action = 'revoked'",
                          (key_id,)).fetchone()[0]
            check(n == 1, "with exactly one revoked event")
        first.close()
        second.close()


if __name__ == "__main__":
    main()
