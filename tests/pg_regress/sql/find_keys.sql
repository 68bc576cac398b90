-- apikey_find_keys finds strings of the key format in any text, checks
-- their checksum, and hands out nothing but the prefix and the position.
SELECT key AS k, prefix AS p FROM api_keys.apikey_create('finder', 'in a log') \gset
CREATE TEMP TABLE tickets (id int, body text);
INSERT INTO tickets VALUES
  (1, format('café: curl -H "Authorization: Bearer %s" https://api.example.com', :'k')),
  (2, 'made up: ak_live_' || repeat('a', 49) || ', and not a key: ak_live_typo'),
  (3, NULL),
  (4, format('glued: x%s, X%s, %sx, and in a name: token_%s', :'k', :'k', :'k', :'k'));
SELECT t.id, f.prefix = :'p' AS ours, f.start, f.length, f.checksum_ok,
       substr(t.body, f.start, f.length) = :'k' AS "substr gives the key"
  FROM tickets t, LATERAL api_keys.apikey_find_keys(t.body) f
 ORDER BY t.id, f.start;
-- Never more than the prefix: the columns hold no secret.
SELECT count(*) FROM tickets t, LATERAL api_keys.apikey_find_keys(t.body) f
 WHERE f::text LIKE '%' || substr(:'k', 17) || '%';
-- Any role may scan its own text: it reads nothing but its argument.
SET ROLE regress_app;
SELECT prefix = :'p' AS found, checksum_ok FROM api_keys.apikey_find_keys('key=' || :'k');
RESET ROLE;
SELECT provolatile, proisstrict, prosecdef FROM pg_proc WHERE proname = 'apikey_find_keys';
