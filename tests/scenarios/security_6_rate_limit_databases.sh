#!/usr/bin/env bash
# Attack 6: one database takes every rate-limit slot from the others.
# On a cluster of its own with room for 32 limited keys, 16 per database:
# database A fills its share with live keys; its next new key is refused
# (rate_limited, retry after 1 s) while a new key of database B is counted
# as usual; slots are kept per (database, key); revoking one of A's keys
# frees its slot at commit, so A's next new key is counted.
source "$(dirname "$0")/lib.sh"
scenario ratedb
start_cluster "${DIR}" "shared_preload_libraries = 'api_keys'
api_keys.rate_limit_max_keys = 32
api_keys.rate_limit_max_keys_per_database = 16"
q -d postgres -c "CREATE DATABASE rate_a" -c "CREATE DATABASE rate_b"
for db in rate_a rate_b; do
    q -d "${db}" -c "CREATE EXTENSION api_keys"
done

"${PY}" - <<'PYTHON'
import psycopg
from common import check, connect

a = connect("rate_a")
b = connect("rate_b")


def limited(conn, name):
    return conn.execute("SELECT id, key FROM api_keys.apikey_create('acme', %s, rate_limit => 100, "
                        "rate_window => '1 day')", (name,)).fetchone()


def answer(conn, key):
    return conn.execute("SELECT code, retry_after FROM api_keys.apikey_verify(%s)", (key,)).fetchone()


a_keys = [limited(a, f"a{i}") for i in range(17)]
for _, key in a_keys[:16]:
    check(answer(a, key)[0] == "valid", "database A's first 16 limited keys are counted")
check(answer(a, a_keys[16][1]) == ("rate_limited", 1),
      "A's 17th live key finds A's share full: rate_limited, retry after 1 s")
b_key = limited(b, "b0")
check(answer(b, b_key[1])[0] == "valid", "database B's new limited key is counted: A cannot take B's slots")
check(answer(a, a_keys[0][1])[0] == "valid", "A's counted keys go on being counted")
a.execute("SELECT api_keys.apikey_revoke(%s)", (a_keys[1][0],))
check(answer(a, a_keys[16][1])[0] == "valid", "revoking one of A's keys frees its slot at commit")
with psycopg.connect(dbname="rate_a") as tx:
    tx.execute("SELECT api_keys.apikey_revoke(%s)", (a_keys[2][0],))
    tx.rollback()
extra = limited(a, "a17")
check(answer(a, extra[1]) == ("rate_limited", 1), "a rolled-back revocation frees nothing")
PYTHON
