-- One valid key (the same every time), with a required scope and a client address.
SELECT * FROM api_keys.apikey_verify(:key, :scope, :ip::inet);
