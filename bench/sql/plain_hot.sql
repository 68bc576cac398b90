-- Floor of doing it in SQL: hash the key, one unique-index lookup, same key every time.
SELECT id FROM bench_plain WHERE digest = sha256(:key::bytea);
