"""Rate limits (runner's cluster, library preloaded): twice the limit from
two sessions gets the limit; the limit comes back after the window;
remaining and retry_after; 28000 from apikey_authenticate; PGRST 429 with a
Retry-After header through PostgREST's protocol; READ ONLY transactions;
update and list."""

import json
import threading
import time

import psycopg

from common import check, connect, fresh_database


def verify(conn, key):
    return conn.execute("SELECT code, remaining, retry_after FROM api_keys.apikey_verify(%s)", (key,)).fetchone()


def main():
    with fresh_database("ratelimit") as db, connect(db) as admin:
        # The setting is listed; limits are shown by list.
        kid, key = admin.execute("SELECT id, key FROM api_keys.apikey_create('rl', 'burst', "
                                 "rate_limit => 3, rate_window => '2 seconds')").fetchone()
        row = admin.execute("SELECT rate_limit, rate_window FROM api_keys.apikey_list('rl') WHERE id = %s",
                            (kid,)).fetchone()
        check(row[0] == 3 and str(row[1]) == "0:00:02", f"list shows the limit: {row}")

        # The limit, then refusals with an honest retry time; refusals do not count.
        answers = [verify(admin, key) for _ in range(5)]
        check([a[0] for a in answers] == ["valid"] * 3 + ["rate_limited"] * 2, f"3 per window: {answers}")
        check([a[1] for a in answers[:3]] == [2, 1, 0], "remaining counts down")
        check(all(a[1] == 0 and 1 <= a[2] <= 4 for a in answers[3:]), "retry_after in seconds when refused")
        check(answers[0][2] is None, "retry_after is NULL when admitted")
        time.sleep(answers[-1][2])
        check(verify(admin, key)[0] == "valid", "admitted again after retry_after seconds")

        # A key without a limit has no remaining/retry_after.
        free_key = admin.execute("SELECT key FROM api_keys.apikey_create('rl', 'free')").fetchone()[0]
        check(verify(admin, free_key) == ("valid", None, None), "an unlimited key has no counters")

        # apikey_authenticate refuses with 28000 and says when to retry. A key
        # of one request an hour, so no window ends while this part runs.
        hourly = admin.execute("SELECT key FROM api_keys.apikey_create('rl', 'hourly', "
                               "rate_limit => 1, rate_window => '1 hour')").fetchone()[0]
        check(verify(admin, hourly)[0] == "valid", "the hourly key's one request")
        try:
            admin.execute("SELECT api_keys.apikey_authenticate(%s)", (hourly,))
            check(False, "authenticate refuses a rate-limited key")
        except psycopg.Error as e:
            check(e.sqlstate == "28000" and "rate_limited" in e.diag.message_primary
                  and "Retry after" in (e.diag.message_hint or ""), f"28000 with a retry hint: {e}")

        # PostgREST: SQLSTATE PGRST with status 429 and Retry-After in its
        # DETAIL (PostgREST drops response.headers on error); READ ONLY.
        headers = json.dumps({"x-api-key": hourly})
        with connect(db, autocommit=False) as c:
            c.execute("BEGIN ISOLATION LEVEL READ COMMITTED READ ONLY")
            c.execute("SELECT set_config('request.headers', %s, true)", (headers,))
            failure = c.execute("SELECT api_keys.postgrest_authenticate()").fetchone()[0]
            sent = c.execute("SELECT current_setting('response.headers', true)").fetchone()[0]
            check(failure == "rate_limited", "postgrest_authenticate answers rate_limited")
            check(not sent, f"and sets no response.headers for a refusal: {sent!r}")
            try:
                c.execute("SELECT api_keys.postgrest_pre_request()")
                check(False, "the pre-request hook refuses")
            except psycopg.Error as e:
                detail = json.loads(e.diag.message_detail)
                retry = detail["headers"]["Retry-After"]
                check(e.sqlstate == "PGRST" and detail["status"] == 429 and 1 <= int(retry) <= 7200,
                      f"PGRST 429 with Retry-After: {e.sqlstate} {detail}")
            c.rollback()

        # Twice the limit from two sessions gets the limit: 40 per 2 s.
        kid2, key2 = admin.execute("SELECT id, key FROM api_keys.apikey_create('rl', 'steady', "
                                   "rate_limit => 40, rate_window => '2 seconds')").fetchone()
        seconds, per_session_rate = 8.0, 40.0  # each session sends 40/s: 80/s in all, twice 20/s
        admitted = [0, 0]

        def client(n):
            with connect(db) as c:
                start = time.monotonic()
                sent = 0
                while time.monotonic() - start < seconds:
                    if verify(c, key2)[0] == "valid":
                        admitted[n] += 1
                    sent += 1
                    delay = start + sent / per_session_rate - time.monotonic()
                    if delay > 0:
                        time.sleep(delay)

        threads = [threading.Thread(target=client, args=(n,)) for n in (0, 1)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        total = sum(admitted)
        expected = 40 * seconds / 2
        print(f"admitted {admitted} = {total}, limit over {seconds:.0f} s = {expected:.0f}")
        # The first window may add up to one burst of the limit.
        check(0.9 * expected <= total <= expected + 40 + 2, f"twice the limit gets the limit: {total}")

        # Update: change and remove the limit.
        admin.execute("SELECT api_keys.apikey_update(%s, rate_limit => 0)", (kid2,))
        check(all(verify(admin, key2)[0] == "valid" for _ in range(100)), "rate_limit => 0 removes the limit")
        admin.execute("SELECT api_keys.apikey_update(%s, rate_limit => 2)", (kid2,))
        row = admin.execute("SELECT rate_limit, rate_window FROM api_keys.apikey_list('rl') WHERE id = %s",
                            (kid2,)).fetchone()
        check(row[0] == 2 and str(row[1]) == "0:01:00", f"a new limit gets the default window: {row}")
        check([verify(admin, key2)[0] for _ in range(3)] == ["valid", "valid", "rate_limited"], "new limit applies")
        for bad in ["rate_limit => -1", "rate_limit => 5, rate_window => '0.5 seconds'",
                    "rate_limit => 5, rate_window => '2 days'"]:
            try:
                admin.execute(f"SELECT api_keys.apikey_create('rl', 'bad', {bad})")
                check(False, f"{bad} refused")
            except psycopg.Error as e:
                check(e.sqlstate == "22023", f"{bad}: 22023")


if __name__ == "__main__":
    main()
