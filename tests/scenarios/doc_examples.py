"""The documentation's SQL examples run, and return what the pages say.

Every page with ```sql blocks (README.md, then docs/*.md) runs in a fresh
database of its own, so pages are independent of each other; a page's
blocks run in order in one psql session, so a later block can use what an
earlier one made (`\\gset` variables, tables, keys). Roles a page creates
are dropped after it. Also checked: every relative link in the repository's
markdown files points at a file (and heading) that exists; README.md stays
under 10 KB; README.md and docs/ name no document outside the repository.

Run it: `API_KEYS_ONLY=doc_examples bash tests/run_sql_tests.sh --install`
(one page: add `DOC_EXAMPLES_ONLY=docs/usage.md`).

Writing examples: the convention
--------------------------------
* Only blocks fenced ```sql run. SQL that must not run against the test
  server (ALTER SYSTEM, postgresql.conf lines, another database) goes in a
  block without a language.
* A statement ends with `;`, or with `\\gset` / `\\g` on its last line. A
  psql meta-command (`\\set`, `\\c`, ...) stands on a line of its own. A
  statement never spans two blocks.
* The session prints rows the way `psql -X -A -t -F ' | ' -P null=NULL`
  does, with PGTZ=UTC and DateStyle ISO: one line per row, the columns
  joined by ` | `, no header or row count, booleans `t`/`f`, NULL as `NULL`,
  times as `2001-01-01 00:00:00+00`.
* `-- Result: a | b`, on the statement's last line or on a line after it
  (before the next statement), says the statement returns exactly one row,
  `a | b`. `-- Result: (no rows)` says it returns none.
* `-- Result:` with nothing after it is followed by one comment line per
  row (`--   a | b`): the statement returns exactly those rows, in that
  order. The rows end at the first line that is not a comment, so leave a
  blank line after them.
* `-- ERROR:  message` says the statement fails with exactly that message
  (the `ERROR:` line psql prints, without DETAIL or HINT). A statement
  that fails without such a line fails the run, and so does one with such
  a line that succeeds.
* Columns are compared with surrounding spaces stripped, so rows may be
  aligned for reading. In an annotation, text after ` -- ` is a remark and
  is not compared: `-- Result: f  -- already revoked`.
* Values that differ on every run are written as placeholders, in a
  result or an error: `<uuid>`, `<key>` (a whole key), `<prefix>` (a key's
  prefix), `<timestamp>`, `<date>`, `<int>`. Better still, select a stable
  form in the example itself: `expires_at > now() AS in_future`,
  `prefix = left(:'key', 16)`.
* Statements without an annotation run too and must not fail, but their
  output is not compared. Annotate every statement whose output the page
  shows or talks about.

An annotation that cannot be attached to a statement (nothing before it,
a second one for the same statement, one inside an unfinished statement,
an unknown placeholder) fails the run, as does every mismatch. A failure
names the page and line, and shows the statement, the expected and the
actual result.
"""

import dataclasses
import os
import pathlib
import re
import subprocess
import sys
import uuid

from common import PSQL, check, connect

ROOT = pathlib.Path(__file__).resolve().parents[2]
README_MAX_BYTES = 10 * 1024

PLACEHOLDERS = {
    "uuid": r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
    "key": r"[a-z][a-z0-9]{0,15}_[a-z][a-z0-9]{0,15}_[0-9A-Za-z]{49}",
    "prefix": r"[a-z][a-z0-9]{0,15}_[a-z][a-z0-9]{0,15}_[0-9A-Za-z]{8}",
    "timestamp": r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,6})?\+00",
    "date": r"\d{4}-\d\d-\d\d",
    "int": r"-?\d+",
}

PREAMBLE = r"""\set QUIET on
\set ON_ERROR_STOP 0
\pset pager off
\pset format unaligned
\pset tuples_only on
\pset fieldsep ' | '
\pset null 'NULL'
"""

MARK = "@@doc_examples"


class DocError(Exception):
    """A page breaks the convention (not a wrong result: a wrong example)."""


@dataclasses.dataclass
class Unit:
    """One statement, or one psql meta-command line, of a page."""
    page: str
    line: int          # 1-based line in the page where it starts
    text: str          # what psql is sent
    sql: bool          # False: a meta-command on its own line
    rows: list = None  # expected rows (list of str), or None
    error: str = None  # expected error message, or None
    note_line: int = None

    @property
    def annotated(self):
        return self.rows is not None or self.error is not None


def sql_blocks(text):
    """(first line number, block text) of every ```sql block."""
    blocks = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)(```+|~~~+)\s*(\S*)", lines[i])
        if m:
            fence, lang = m.group(2), m.group(3)
            j = i + 1
            while j < len(lines) and not lines[j].strip().startswith(fence):
                j += 1
            if lang == "sql":
                blocks.append((i + 2, "\n".join(lines[i + 1:j]) + "\n"))
            i = j + 1
        else:
            i += 1
    return blocks


def split(page, first_line, block):
    """The units of one block, and its free comments (between statements) as
    (line, text, whole_line)."""
    units, comments = [], []
    buf, start = [], None
    i, line = 0, first_line
    n = len(block)

    def pending():
        return "".join(buf).strip() != ""

    while i < n:
        c = block[i]
        if c == "\n":
            buf.append(c)
            line += 1
            i += 1
            continue
        if block.startswith("--", i):
            end = block.find("\n", i)
            end = n if end == -1 else end
            comment = block[i:end]
            if pending():
                if re.match(r"--\s*(Result|ERROR):", comment):
                    raise DocError(f"{page}:{line}: an annotation inside an unfinished statement")
                buf.append(comment)
            else:
                whole = block[block.rfind("\n", 0, i) + 1:i].strip() == ""
                comments.append((line, comment, whole))
            i = end
            continue
        if c in " \t\r" and not pending():
            i += 1
            continue
        if not pending():
            start = line
            buf = []
        if c == "'" or c == '"':
            j = i + 1
            while True:
                j = block.find(c, j)
                if j == -1:
                    raise DocError(f"{page}:{line}: unterminated quote")
                if block.startswith(c * 2, j):
                    j += 2
                    continue
                break
            buf.append(block[i:j + 1])
            line += block.count("\n", i, j + 1)
            i = j + 1
            continue
        m = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$").match(block, i)
        if m and (i == 0 or not (block[i - 1].isalnum() or block[i - 1] == "_")):
            close = block.find(m.group(0), m.end())
            if close == -1:
                raise DocError(f"{page}:{line}: unterminated dollar quote")
            j = close + len(m.group(0))
            buf.append(block[i:j])
            line += block.count("\n", i, j)
            i = j
            continue
        if block.startswith("/*", i):
            j = block.find("*/", i)
            if j == -1:
                raise DocError(f"{page}:{line}: unterminated comment")
            buf.append(block[i:j + 2])
            line += block.count("\n", i, j + 2)
            i = j + 2
            continue
        if c == ";":
            buf.append(";")
            units.append(Unit(page, start, "".join(buf).strip() + "\n", True))
            buf = []
            i += 1
            continue
        if c == "\\":
            end = block.find("\n", i)
            end = n if end == -1 else end
            meta = block[i:end].rstrip()
            # A meta-command after unfinished SQL ends that SQL (\gset, \g);
            # any other must stand on a line of its own.
            if pending():
                if not re.match(r"\\(gset|gx|g)\b", meta):
                    raise DocError(f"{page}:{line}: {meta.split()[0]} inside a statement")
                units.append(Unit(page, start, "".join(buf).strip() + " " + meta + "\n", True))
            else:
                units.append(Unit(page, line, meta + "\n", False))
            buf = []
            i = end
            continue
        buf.append(c)
        i += 1
    if pending():
        raise DocError(f"{page}:{start}: statement not ended by ';' or \\gset before the block ends")
    return units, comments


def annotate(page, units, comments):
    """Attach each `-- Result:` / `-- ERROR:` comment to the statement before it."""
    # By line; a comment on the line a statement ends on comes after it.
    ordered = []
    for u in units:
        ordered.append(("unit", u.line + u.text.rstrip("\n").count("\n"), 1, u))
    for c in comments:
        ordered.append(("comment", c[0], 2, c))
    ordered.sort(key=lambda e: (e[1], e[2]))

    last = None
    k = 0
    while k < len(ordered):
        kind, line, _, item = ordered[k]
        k += 1
        if kind == "unit":
            last = item
            continue
        text = item[1]
        m = re.match(r"--\s*(Result|ERROR):(.*)$", text)
        if not m:
            continue
        what, value = m.group(1), m.group(2).strip()
        if last is None or not last.sql:
            raise DocError(f"{page}:{line}: `-- {what}:` with no statement before it")
        if last.annotated:
            raise DocError(f"{page}:{line}: a second annotation for the statement of line {last.line}")
        last.note_line = line
        if what == "ERROR":
            if not value:
                raise DocError(f"{page}:{line}: `-- ERROR:` without a message")
            last.error = value
        elif value:
            last.rows = [] if remark_free(value) == "(no rows)" else [value]
        else:
            rows, prev = [], line
            while k < len(ordered) and ordered[k][0] == "comment" and ordered[k][1] == prev + 1 \
                    and ordered[k][3][2]:
                rows.append(ordered[k][3][1][2:].strip())
                prev = ordered[k][1]
                k += 1
            if not rows:
                raise DocError(f"{page}:{line}: `-- Result:` with no rows after it")
            last.rows = rows


def remark_free(text):
    return text.split(" -- ", 1)[0].strip()


def cells(row):
    return [c.strip() for c in row.split("|")]


def cell_matches(expected, actual):
    parts = re.split(r"<([a-z]+)>", expected)
    pattern = ""
    for idx, part in enumerate(parts):
        if idx % 2 == 0:
            pattern += re.escape(part)
        elif part in PLACEHOLDERS:
            pattern += f"(?:{PLACEHOLDERS[part]})"
        else:
            raise DocError(f"unknown placeholder <{part}> (known: {', '.join(PLACEHOLDERS)})")
    return re.fullmatch(pattern, actual) is not None


def matches_error(unit, actual, failures):
    try:
        return cell_matches(remark_free(unit.error), actual)
    except DocError as e:
        failures.append(f"{unit.page}:{unit.note_line}: {e}")
        return True


def rows_match(expected, actual):
    if len(expected) != len(actual):
        return False
    for e, a in zip(expected, actual):
        ec, ac = cells(remark_free(e)), cells(a)
        if len(ec) != len(ac) or not all(cell_matches(x, y) for x, y in zip(ec, ac)):
            return False
    return True


def page_units(path):
    page = str(path.relative_to(ROOT))
    units = []
    for first_line, block in sql_blocks(path.read_text()):
        u, comments = split(page, first_line, block)
        annotate(page, u, comments)
        units.extend(u)
    return units


def script_for(units):
    out = [PREAMBLE]
    for n, u in enumerate(units):
        out.append(f"\\echo {MARK} begin {n}\n")
        out.append(u.text)
        if u.sql:
            out.append(f"\\if :ERROR\n\\echo {MARK} error :LAST_ERROR_MESSAGE\n\\endif\n")
        out.append(f"\\echo {MARK} end {n}\n")
    return "".join(out)


def roles():
    with connect() as c:
        return {r[0] for r in c.execute("SELECT rolname FROM pg_roles")}


def run_page(path, units):
    """Run a page's units in a fresh database; the list of failures."""
    name = f"docs_{uuid.uuid4().hex[:8]}"
    before = roles()
    with connect() as c:
        c.execute(f'CREATE DATABASE "{name}"')
    try:
        env = dict(os.environ, PGTZ="UTC", PGDATESTYLE="ISO, MDY", PGCLIENTENCODING="UTF8")
        out = subprocess.run(
            [PSQL, "-X", "-q", "-d", name],
            input=script_for(units), capture_output=True, text=True, timeout=600, env=env)
    finally:
        with connect() as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            for role in sorted(roles() - before - {"api_keys_admin"}):
                c.execute(f'DROP ROLE IF EXISTS "{role}"')
    return compare(path, units, out.stdout, out.stderr)


def compare(path, units, stdout, stderr):
    got = {}
    current = None
    for line in stdout.split("\n"):
        m = re.fullmatch(rf"{MARK} (begin|end|error) ?(.*)", line)
        if m and m.group(1) == "begin":
            current = int(m.group(2))
            got[current] = {"rows": [], "error": None, "ended": False}
        elif m and m.group(1) == "error" and current is not None:
            got[current]["error"] = m.group(2).strip()
        elif m and m.group(1) == "end":
            got[int(m.group(2))]["ended"] = True
            current = None
        elif current is not None:
            got[current]["rows"].append(line)
    failures = []
    for n, u in enumerate(units):
        where = f"{u.page}:{u.line}"
        shown = "\n      ".join(u.text.rstrip().split("\n"))
        g = got.get(n)
        if g is None or not g["ended"]:
            failures.append(f"{where}: the statement's output was not found (psql stopped?)\n"
                            f"    statement: {shown}\n    psql said: {stderr[-2000:]}")
            break
        if not u.sql:
            continue
        actual_error = g["error"]
        if u.error is not None:
            if actual_error is None:
                failures.append(f"{where}: documented to fail, but it succeeded\n    statement: {shown}\n"
                                f"    expected: ERROR:  {u.error}\n    actual rows: {g['rows']}")
            elif not matches_error(u, actual_error, failures):
                failures.append(f"{where}: a different error\n    statement: {shown}\n"
                                f"    expected: ERROR:  {remark_free(u.error)}\n"
                                f"    actual:   ERROR:  {actual_error}")
            continue
        if actual_error is not None:
            failures.append(f"{where}: fails, and the page does not say so\n    statement: {shown}\n"
                            f"    actual:   ERROR:  {actual_error}")
            continue
        if u.rows is not None:
            try:
                ok = rows_match(u.rows, g["rows"])
            except DocError as e:
                failures.append(f"{u.page}:{u.note_line}: {e}")
                continue
            if not ok:
                exp = "\n              ".join(u.rows) if u.rows else "(no rows)"
                act = "\n              ".join(g["rows"]) if g["rows"] else "(no rows)"
                failures.append(f"{where}: a different result\n    statement: {shown}\n"
                                f"    expected: {exp}\n    actual:   {act}")
    return failures


# ---------------------------------------------------------------- links

def slug(heading):
    """GitHub's anchor for a heading."""
    text = re.sub(r"`|\*\*|__", "", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    seen, out = {}, set()
    in_code = False
    for line in path.read_text().split("\n"):
        if re.match(r"^\s*(```|~~~)", line):
            in_code = not in_code
            continue
        m = None if in_code else re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            s = slug(m.group(1))
            k = seen.get(s, 0)
            out.add(s if k == 0 else f"{s}-{k}")
            seen[s] = k + 1
    return out


def prose(text):
    """The text outside code blocks and code spans."""
    text = re.sub(r"(?ms)^\s*(```|~~~).*?^\s*\1[^\n]*$", "", text)
    return re.sub(r"`[^`\n]*`", "", text)


def link_failures(files):
    failures = []
    for path in files:
        page = path.relative_to(ROOT)
        text = prose(path.read_text())
        targets = re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text)
        targets += re.findall(r"(?m)^\s*\[[^\]]+\]:\s*(\S+)", text)
        for target in targets:
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                continue  # http:, https:, mailto:
            file_part, _, anchor = target.partition("#")
            dest = (path.parent / file_part).resolve() if file_part else path
            if not dest.exists():
                failures.append(f"{page}: link to a missing file: {target}")
                continue
            if anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                failures.append(f"{page}: link to a missing heading: {target}")
    return failures


def pages():
    return [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))


def main():
    only = os.environ.get("DOC_EXAMPLES_ONLY")  # e.g. docs/usage.md
    all_failures = []
    size = len((ROOT / "README.md").read_bytes())
    if size >= README_MAX_BYTES:
        all_failures.append(f"README.md is {size} bytes; it must stay under {README_MAX_BYTES}")
    for path in pages():
        if re.search(r"\bcontract\b|design doc", path.read_text(), re.I):
            all_failures.append(f"{path.relative_to(ROOT)} refers to a document outside the repository")
    for f in all_failures:
        print(f"FAIL: {f}", file=sys.stderr)

    md_files = pages() + [p for p in ROOT.glob("*.md") if p.name != "README.md"] \
        + sorted(ROOT.glob("examples/**/*.md")) + sorted(ROOT.glob("bench/**/*.md")) \
        + sorted(ROOT.glob("sql/**/*.md"))
    failures = link_failures(md_files)
    for f in failures:
        print(f"FAIL: {f}", file=sys.stderr)
    if not failures:
        print(f"ok: relative links resolve in {len(md_files)} markdown files")
    all_failures += failures

    checked = 0
    for path in pages():
        page = str(path.relative_to(ROOT))
        if only and page != only:
            continue
        try:
            units = page_units(path)
        except DocError as e:
            all_failures.append(str(e))
            print(f"FAIL: {e}", file=sys.stderr)
            continue
        if not units:
            continue
        annotated = sum(1 for u in units if u.annotated)
        failures = run_page(path, units)
        for f in failures:
            print(f"FAIL: {f}", file=sys.stderr)
        all_failures += failures
        checked += annotated
        status = "ok" if not failures else "FAILED"
        print(f"{status}: {page}: {sum(1 for u in units if u.sql)} statements, "
              f"{annotated} annotated results and errors")
    check(not all_failures, f"{len(all_failures)} documentation failures ({checked} annotations checked)")


if __name__ == "__main__":
    main()
