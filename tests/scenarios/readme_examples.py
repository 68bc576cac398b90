"""The README's SQL examples run, in order, in a fresh database, and fail
exactly where the README says they fail (`-- ERROR:  ...` lines), so the
README cannot go stale."""

import os
import re
import subprocess

from common import PSQL, check, connect, fresh_database

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
readme = open(os.path.join(ROOT, "README.md")).read()
blocks = re.findall(r"```sql\n(.*?)```", readme, re.S)
check(len(blocks) >= 10, f"the README has SQL examples ({len(blocks)} blocks)")
script = "\n".join(blocks)
expected_errors = [m.strip() for m in re.findall(r"^-- (ERROR:.*)$", script, re.M)]

try:
    with fresh_database("readme") as db:
        out = subprocess.run(
            [PSQL, "-X", "-q", "-d", db, "-v", "ON_ERROR_STOP=0"],
            input=script, capture_output=True, text=True, timeout=120,
        )
        actual_errors = [l.strip() for l in out.stderr.splitlines() if "ERROR:" in l]
        actual_errors = [re.sub(r"^psql:<stdin>:\d+: ", "", l) for l in actual_errors]
        print(out.stdout)
        print(out.stderr)
        check(actual_errors == expected_errors,
              f"errors are exactly the documented ones\n  expected {expected_errors}\n  got      {actual_errors}")
        # Spot-check documented results.
        for needle in ["insufficient_scope", "ip_not_allowed", "revoked", "acme plan"]:
            check(needle in out.stdout, f"output shows {needle!r}")
        check("globex plan" not in out.stdout, "the RLS example never shows another tenant's row")
finally:
    with connect() as c:
        c.execute("DROP ROLE IF EXISTS readme_app")
