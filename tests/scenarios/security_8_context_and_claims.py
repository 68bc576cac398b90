"""Finding 8: what the request context does not carry over.

A `WITH HOLD` cursor opened in a key-authenticated transaction outlives it
with the rows it computed under the key (PostgreSQL materializes them at
commit): the context itself does not survive, so anything evaluated after
the commit, the next statement on a pooled connection included, sees no
key.
"""

from common import check, connect, create_key, fresh_database

with fresh_database("sec8") as db:
    with connect(db) as c:
        _, key = create_key(c, "acme", "cursor")
        c.execute("BEGIN")
        c.execute("SELECT api_keys.apikey_authenticate(%s)", (key,))
        c.execute("DECLARE held CURSOR WITH HOLD FOR "
                  "SELECT api_keys.apikey_current_owner() AS owner FROM generate_series(1, 3)")
        c.execute("COMMIT")
        check(c.execute("SELECT api_keys.apikey_current_owner()").fetchone()[0] is None,
              "after COMMIT the context is gone")
        rows = [r[0] for r in c.execute("FETCH ALL FROM held").fetchall()]
        check(rows == ["acme"] * 3, f"the held cursor keeps the rows computed under the key ({rows})")
        check(c.execute("SELECT api_keys.apikey_current_owner()").fetchone()[0] is None,
              "fetching from the held cursor brings no context back")
        c.execute("CLOSE held")
