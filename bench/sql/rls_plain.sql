-- Baseline for rls: the same transaction done by hand in SQL (plain digest lookup, the owner kept
-- in a custom setting, bench_docs_plain's policy reads it). No scope check, no unforgeability.
BEGIN;
SELECT set_config('bench.owner', (SELECT owner FROM bench_plain WHERE digest = sha256(:key::bytea)), true);
SELECT current_setting('bench.owner', true);
SELECT count(*) FROM bench_docs_plain;
END;
