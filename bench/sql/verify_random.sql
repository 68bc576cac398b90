-- A random real key out of all the keys of the database (picked through bench_keys).
\set i random(1, :nkeys)
SELECT * FROM api_keys.apikey_verify((SELECT key FROM bench_keys WHERE i = :i), :scope, :ip::inet);
