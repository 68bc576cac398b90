"""Attack 5: reading other owners' keys from a key-authenticated
transaction.

A role that holds api_keys_admin (an application that also manages keys,
say) runs a transaction authenticated by a customer's key. Every function
that reads what administrators read (keys, events, usage, keys coming due)
refuses there with 42501, as management does, so a request made with one
owner's key never shows another owner's webhook addresses or metadata.
"""

import psycopg

from common import check, connect, create_key, fresh_database

READS = [
    "SELECT count(*) FROM api_keys.apikey_list(NULL, 'all')",
    "SELECT count(*) FROM api_keys.apikey_history(NULL)",
    "SELECT count(*) FROM api_keys.apikey_usage(NULL)",
    "SELECT count(*) FROM api_keys.apikey_due_for_rotation('1000 days')",
    "SELECT count(*) FROM api_keys.apikey_expiring('1000 days')",
]

with fresh_database("sec5") as db:
    with connect(db) as admin:
        create_key(admin, "other", "secret hook", webhook_url="https://hooks.example.com/T0/B0/secret")
        _, key = create_key(admin, "acme", "customer key")
        for sql in READS:
            check(admin.execute(sql).fetchone()[0] >= 0, f"outside a key context: {sql.split('(')[0][7:]} works")
        for sql in READS:
            admin.execute("BEGIN")
            admin.execute("SELECT api_keys.apikey_authenticate(%s)", (key,))
            try:
                admin.execute(sql)
                check(False, f"{sql} refused under a key")
            except psycopg.Error as e:
                check(e.sqlstate == "42501", f"under a key: {sql.split('(')[0][7:]} refused with {e.sqlstate}")
            admin.execute("ROLLBACK")
