#!/usr/bin/env bash
# Owner limits and quotas on a cluster of their own (the library preloaded,
# the workers storing every second):
# - apikey_set_owner_limits sets, changes and removes an owner's limits
#   (administrators only; bad values 22023 naming them);
# - an owner's rate limit is shared by all its keys and checked with each
#   key's own: both must admit, and a request one refuses uses neither's
#   budget;
# - a quota of a key or of an owner: N valid verifications per day or month,
#   then quota_exceeded with retry_after to the next period and remaining
#   counting down; changes apply to the next verification;
# - racing sessions at the edge never get more than limit + sessions - 1;
# - apikey_quotas and apikey_owner_usage report it;
# - a clean restart keeps a period's count; so does a crash for what was
#   stored before it (the count is read back from api_keys.usage).
source "$(dirname "$0")/lib.sh"
scenario quotas
start_cluster "${DIR}" "shared_preload_libraries = 'api_keys'
api_keys.flush_interval = 1"
export PGDATABASE=postgres
q -c "CREATE EXTENSION api_keys"

"${PY}" - <<'PYTHON'
import datetime
import sys
import threading
import time

import psycopg
from common import check, connect

db = connect()


def key(owner, name, **kw):
    cols = "".join(f", {k} => %({k})s" for k in kw)
    return db.execute(f"SELECT id, key FROM api_keys.apikey_create(%(o)s, %(n)s{cols})",
                      {"o": owner, "n": name, **kw}).fetchone()


def verify(k, conn=None):
    return (conn or db).execute("SELECT code, remaining, retry_after FROM api_keys.apikey_verify(%s)",
                                (k,)).fetchone()


def state(sql, *args):
    try:
        db.execute(sql, args)
        return None
    except psycopg.Error as e:
        return e.sqlstate, e.diag.message_primary


# Setting, changing and removing an owner's limits.
row = db.execute("SELECT * FROM api_keys.apikey_set_owner_limits('acme', rate_limit => 5, "
                 "rate_window => '1 hour')").fetchone()
check(row[:3] == ("acme", 5, datetime.timedelta(hours=1)) and row[3] is None,
      f"an owner's rate limit is set ({row})")
row = db.execute("SELECT * FROM api_keys.apikey_set_owner_limits('acme', quota => 7)").fetchone()
check(row[1:] == (5, datetime.timedelta(hours=1), 7, "month"),
      f"a quota added, the rate limit left as it was; the period defaults to month ({row})")
check(db.execute("SELECT count(*) FROM api_keys.apikey_owner_limits()").fetchone()[0] == 1, "listed")
for sql, fragment in [
    ("SELECT api_keys.apikey_set_owner_limits('acme', rate_limit => -1)", "rate_limit -1 is negative"),
    ("SELECT api_keys.apikey_set_owner_limits('acme', rate_limit => 2000000000)", "rate_limit 2000000000"),
    ("SELECT api_keys.apikey_set_owner_limits('acme', quota => -5)", "quota -5 is negative"),
    ("SELECT api_keys.apikey_set_owner_limits('acme', quota => 5, quota_period => 'week')", "\"week\""),
    ("SELECT api_keys.apikey_set_owner_limits('acme', rate_window => '2 days')", "2 days"),
    ("SELECT api_keys.apikey_set_owner_limits('', quota => 1)", "owner must not be empty"),
    ("SELECT * FROM api_keys.apikey_create('acme', 'x', quota => -1)", "quota -1 is negative"),
]:
    got = state(sql)
    check(got is not None and got[0] == "22023" and fragment in got[1], f"refused with 22023: {got}")
db.execute("CREATE ROLE quota_app LOGIN")
with psycopg.connect(dbname="postgres", user="quota_app", autocommit=True) as app:
    try:
        app.execute("SELECT api_keys.apikey_set_owner_limits('acme', rate_limit => 1000)")
        check(False, "an ordinary role set owner limits")
    except psycopg.Error as e:
        check(e.sqlstate == "42501", "owner limits are for administrators only")

# The owner's rate limit (5 an hour) is shared; key a's own (3 an hour) too.
_, a = key("acme", "a", rate_limit=3, rate_window="1 hour")
_, b = key("acme", "b")
codes = [verify(k)[0] for k in (a, a, a, a, b, b, b)]
check(codes == ["valid"] * 3 + ["rate_limited"] + ["valid"] * 2 + ["rate_limited"],
      f"key a stops at its own 3, which leaves the owner's budget to b: 5 in all ({codes})")
check(verify(a)[2] >= 1, "a refusal says when to retry")
db.execute("SELECT api_keys.apikey_set_owner_limits('acme', rate_limit => 0)")
check(verify(b)[0] == "valid", "removing the owner's rate limit applies to the next verification")

# The owner's quota (7 a month): 5 valid ones were counted already.
got = [verify(b) for _ in range(3)]
check([g[0] for g in got] == ["valid", "quota_exceeded", "quota_exceeded"],
      f"the owner's monthly quota of 7 is used up across its keys, refused requests not counted ({got})")
now = datetime.datetime.now(datetime.timezone.utc)
first_next = (now.replace(day=1) + datetime.timedelta(days=32)).replace(day=1, hour=0, minute=0, second=0,
                                                                          microsecond=0)
retry = got[1][2]
check(abs(retry - (first_next - now).total_seconds()) < 30,
      f"quota_exceeded: retry after the seconds to the next month ({retry})")
q = db.execute("SELECT owner, key_id, quota, quota_period, used, remaining FROM api_keys.apikey_quotas('acme')").fetchall()
check(q == [("acme", None, 7, "month", 7, 0)], f"apikey_quotas reports the owner's period ({q})")
db.execute("SELECT api_keys.apikey_set_owner_limits('acme', quota => 0)")
check(db.execute("SELECT count(*) FROM api_keys.apikey_owner_limits('acme')").fetchone()[0] == 0,
      "with no limit left, the owner's row is gone")

# A key's daily quota.
kid, daily = key("globex", "daily", quota=3, quota_period="day")
got = [verify(daily) for _ in range(4)]
check([g[0] for g in got] == ["valid"] * 3 + ["quota_exceeded"] and [g[1] for g in got[:3]] == [2, 1, 0],
      f"a daily quota of 3: remaining counts down, then quota_exceeded ({got})")
midnight = (now + datetime.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
check(abs(got[3][2] - (midnight - now).total_seconds()) < 30, f"retry after the seconds to midnight UTC ({got[3][2]})")
db.execute("SELECT api_keys.apikey_update(%s, quota => 5)", (kid,))
check(verify(daily)[0] == "valid", "a raised quota applies to the next verification")
q = db.execute("SELECT quota_period, used, remaining FROM api_keys.apikey_quotas('globex')").fetchone()
check(q == ("day", 4, 1), f"the period stays a day; apikey_quotas reports the key's day ({q})")

# Racing sessions at the edge of an owner's rate limit.
db.execute("SELECT api_keys.apikey_set_owner_limits('race', rate_limit => 20, rate_window => '1 hour')")
race_keys = [key("race", f"r{i}")[1] for i in range(4)]
admitted = []
go = threading.Barrier(4)


def racer(k):
    with psycopg.connect(dbname="postgres", autocommit=True) as c:
        go.wait()
        admitted.append(sum(1 for _ in range(15) if verify(k, c)[0] == "valid"))


threads = [threading.Thread(target=racer, args=(k,)) for k in race_keys]
for t in threads:
    t.start()
for t in threads:
    t.join()
check(20 <= sum(admitted) <= 20 + 4 - 1, f"4 racing sessions, limit 20: {sum(admitted)} admitted")

# The owner's usage, summed over its keys per day.
deadline = time.monotonic() + 60
while True:
    usage = db.execute("SELECT code, count FROM api_keys.apikey_owner_usage('acme') ORDER BY code").fetchall()
    if usage == [("quota_exceeded", 2), ("rate_limited", 3), ("valid", 7)] or time.monotonic() > deadline:
        break
    time.sleep(0.1)
check(usage == [("quota_exceeded", 2), ("rate_limited", 3), ("valid", 7)],
      f"apikey_owner_usage sums the owner's keys per day ({usage})")
PYTHON

# A clean restart keeps the day's count of the daily key (4 of 5 used).
restart_cluster "${DIR}" fast
"${PY}" - <<'PYTHON'
from common import check, connect, wait_until

db = connect()
used = db.execute("SELECT used FROM api_keys.apikey_quotas('globex')").fetchone()[0]
check(used == 4, f"a clean restart keeps the period's count ({used})")
# Wait until everything is stored, then crash: the count is read back.
wait_until(lambda: db.execute(
    "SELECT coalesce(sum(count), 0) FROM api_keys.usage u JOIN api_keys.keys k ON k.id = u.key_id "
    "WHERE k.name = 'daily' AND code = 'valid'").fetchone()[0] >= 4, "the workers stored the daily key's uses")
PYTHON
restart_cluster "${DIR}" immediate
"${PY}" - <<'PYTHON'
from common import check, connect

used = connect().execute("SELECT used FROM api_keys.apikey_quotas('globex')").fetchone()[0]
check(used == 4, f"after a crash, what was stored before it still counts against the quota ({used})")
PYTHON
