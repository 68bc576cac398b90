"""Released SQL is never edited.

A released version's install script (sql/releases/api_keys--V.sql) and
every upgrade script that leads to a released version
(sql/api_keys--A--V.sql) are what databases in the field ran; editing one
would make a fresh install and an upgraded database differ without anyone
noticing. sql/releases/SHA256SUMS pins each of them: this test fails when a
pinned file changed, when a released script is not pinned, and (where git
history is at hand) when a line of SHA256SUMS was ever changed or removed
rather than added.
"""

import hashlib
import pathlib
import re
import subprocess

from common import check

SQL = pathlib.Path(__file__).resolve().parents[2] / "sql"
SUMS = SQL / "releases" / "SHA256SUMS"

pinned = {}
for line in SUMS.read_text().splitlines():
    digest, name = line.split(maxsplit=1)
    pinned[name] = digest

released = {p.name[len("api_keys--"):-len(".sql")] for p in (SQL / "releases").glob("api_keys--*.sql")}
must_pin = [f"releases/api_keys--{v}.sql" for v in sorted(released)]
for p in sorted(SQL.glob("api_keys--*--*.sql")):
    target = re.fullmatch(r"api_keys--.+--(.+)\.sql", p.name).group(1)
    if target in released:
        must_pin.append(p.name)

check(len(released) >= 2, f"released versions found: {sorted(released)}")
for name in must_pin:
    check(name in pinned, f"{name} is pinned in sql/releases/SHA256SUMS")
for name, digest in pinned.items():
    path = SQL / name
    check(path.exists(), f"pinned {name} exists")
    actual = hashlib.sha256(path.read_bytes()).hexdigest()
    check(actual == digest, f"{name} is unchanged since its release")

# SHA256SUMS itself only grows: no pinned line was ever changed or removed.
log = subprocess.run(["git", "-C", str(SQL), "log", "-p", "--format=", "--", "releases/SHA256SUMS"],
                     capture_output=True, text=True)
if log.returncode == 0:
    removed = [l for l in log.stdout.splitlines() if l.startswith("-") and not l.startswith("---")]
    check(not removed, f"no pinned checksum was ever changed or removed ({removed[:3]})")
else:
    print("ok: no git history here; the checksums above are the check")
