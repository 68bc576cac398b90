"""Attack 4: a key's holder stalls its own revocation.

A session verifies (or authenticates with) the key inside a transaction it
keeps open. With the library preloaded, verification takes no row lock, so
`apikey_revoke`, `apikey_rotate` and `apikey_update` from another session
never wait for it: they run with `lock_timeout = 100ms`, which any lock
wait would turn into an error. The open transaction's next verification
already sees the revocation (READ COMMITTED).
"""

from common import check, connect, create_key, fresh_database, verify_code

with fresh_database("sec4") as db:
    with connect(db) as admin:
        admin.execute("SET lock_timeout = '100ms'")
        for action in ("revoke", "rotate", "update"):
            key_id, key = create_key(admin, "acme", f"held-{action}")
            holder = connect(db, autocommit=False)
            try:
                check(verify_code(holder, key) == "valid", f"{action}: the holder verified the key")
                holder.execute("SELECT api_keys.apikey_authenticate(%s)", (key,))
                locks = holder.execute(
                    "SELECT count(*) FROM pg_locks WHERE pid = pg_backend_pid() AND locktype = 'tuple' "
                    "OR (pid = pg_backend_pid() AND locktype = 'transactionid')").fetchone()[0]
                check(locks == 0, f"{action}: the holder's transaction holds no row lock and no transaction id")
                sql = {
                    "revoke": "SELECT api_keys.apikey_revoke(%s)",
                    "rotate": "SELECT new_key_id FROM api_keys.apikey_rotate(%s)",
                    "update": "SELECT api_keys.apikey_update(%s, name => 'renamed')",
                }[action]
                done = admin.execute(sql, (key_id,)).fetchone()[0]
                check(done is not None, f"{action} from another session went through at once (lock_timeout 100ms)")
                if action == "revoke":
                    check(verify_code(holder, key) == "revoked",
                          "the holder's open transaction sees the revocation at its next verification")
            finally:
                holder.rollback()
                holder.close()
