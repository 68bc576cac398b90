-- Baseline for verify_random: the same indirection through bench_keys, then the plain lookup.
\set i random(1, :nkeys)
SELECT id FROM bench_plain WHERE digest = sha256((SELECT key FROM bench_keys WHERE i = :i)::bytea);
