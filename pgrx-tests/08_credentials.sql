-- Encrypted credentials: storing, validation without echoing secrets, isolation, rotation, key problems.
BEGIN;
SELECT plan(48);
\ir _fixtures.psql

-- The test secrets live in a table so no failing statement ever carries them in its text
-- (PostgreSQL logs the text of a failed statement; see 99_no_secrets.sql).
CREATE TEMP TABLE s (dealership_id int, client_id text, client_secret text, account_number text, account_secret text);
INSERT INTO s VALUES
    (101, 'C1D0C1D0-1111-4111-8111-111111111111', 'C5EC5EC5-2222-4222-8222-222222222222', 'EC771234', 'a5ec7a5e-3333-4333-8333-333333333333'),
    (102, 'C1D0C1D0-4444-4444-8444-444444444444', 'C5EC5EC5-5555-4555-8555-555555555555', 'EC889956', 'a5ec7a5e-6666-4666-8666-666666666666');
GRANT SELECT ON s TO PUBLIC;

SELECT lives_ok($$SELECT easycars.set_credentials(s.dealership_id, s.client_id, s.client_secret, s.account_number, s.account_secret, 'Test', 'Y1', 'http://127.0.0.1:9/TestECService') FROM s$$,
                'set_credentials stores two dealerships');
SELECT is((SELECT count(*)::int FROM easycars.credentials), 2, 'one row per dealership: the fixture rows were replaced');
SELECT results_eq($$SELECT dealership_id, environment::text, yard_code::text, account_number_masked::text, is_active FROM easycars.credentials_safe ORDER BY 1$$,
                  $$VALUES (101, 'Test', 'Y1', 'EC****34', true), (102, 'Test', 'Y1', 'EC****56', true)$$,
                  'credentials_safe shows the masked account number and settings');
SELECT is((SELECT count(*)::int FROM easycars.credentials c JOIN s USING (dealership_id)
           WHERE concat_ws('|', c.client_id_encrypted, c.client_secret_encrypted, c.account_number_encrypted, c.account_secret_encrypted, c.encryption_iv)
                 ~* concat_ws('|', s.client_id, s.client_secret, s.account_number, s.account_secret, right(s.account_number, 6))), 0,
          'no plaintext secret is stored');
SELECT is((SELECT count(DISTINCT n)::int FROM easycars.credentials, unnest(string_to_array(encryption_iv, ',')) AS n), 8,
          'eight encrypted values, eight distinct nonces');
SELECT ok((SELECT bool_and(client_id_encrypted LIKE 'ecv1:k1:%') FROM easycars.credentials), 'envelopes name their format version and key id');
SELECT results_eq('SELECT dealership_id, key_ids, decryptable FROM easycars.verify_credentials() ORDER BY 1',
                  $$VALUES (101, ARRAY['k1'], true), (102, ARRAY['k1'], true)$$, 'both decrypt with the current key file');

-- Replacing credentials re-encrypts with fresh nonces.
CREATE TEMP TABLE before AS SELECT dealership_id, client_secret_encrypted FROM easycars.credentials;
SELECT lives_ok($$SELECT easycars.set_credentials(dealership_id, client_id, client_secret, account_number, account_secret) FROM s WHERE dealership_id = 101$$, 'set_credentials replaces');
SELECT isnt((SELECT client_secret_encrypted FROM easycars.credentials WHERE dealership_id = 101),
            (SELECT client_secret_encrypted FROM before WHERE dealership_id = 101), 'the same secret encrypts differently each time');
SELECT results_eq($$SELECT environment::text, yard_code FROM easycars.credentials WHERE dealership_id = 101$$, $$VALUES ('Production', NULL::varchar)$$,
                  'defaults: Production, all yards');

-- Validation: clear errors that name the argument and never echo the value.
SELECT throws_ok(format('SELECT easycars.set_credentials(101, %L, s.client_secret, s.account_number, s.account_secret) FROM s WHERE dealership_id = 101', v),
                 '22023', 'client_id is not valid: expected a GUID of 8-4-4-4-12 hexadecimal digits', 'client_id ' || label || ' is refused')
FROM (VALUES ('not-a-guid', 'text'), ('ZZZZZZZZ-1111-4111-8111-111111111111', 'non-hex'), ('', 'empty'), (repeat('A', 1000000), '1 MB'),
             ($$'; DROP TABLE easycars.vehicle; --$$, 'hostile')) AS t(v, label);
SELECT throws_ok('SELECT easycars.set_credentials(101, s.client_id, ''x'', s.account_number, s.account_secret) FROM s WHERE dealership_id = 101',
                 '22023', 'client_secret is not valid: expected a GUID of 8-4-4-4-12 hexadecimal digits', 'a bad client_secret is refused without echo');
SELECT throws_ok(format('SELECT easycars.set_credentials(101, s.client_id, s.client_secret, %L, s.account_secret) FROM s WHERE dealership_id = 101', v),
                 '22023', 'account_number is not valid: expected EC followed by digits, at most 20 characters', 'account number ' || v || ' is refused')
FROM unnest(ARRAY['114575', 'EC', 'ec114575', 'EC11457X', 'EC123456789012345678901']) AS v;
SELECT throws_ok('SELECT easycars.set_credentials(101, s.client_id, s.client_secret, s.account_number, ''secret'') FROM s WHERE dealership_id = 101',
                 '22023', 'account_secret is not valid: expected a GUID of 8-4-4-4-12 hexadecimal digits', 'a bad account_secret is refused');
SELECT throws_ok('SELECT easycars.set_credentials(101, s.client_id, s.client_secret, s.account_number, s.account_secret, ''Staging'') FROM s WHERE dealership_id = 101',
                 '22023', 'environment is not valid: expected Test or Production', 'an unknown environment is refused');
SELECT throws_ok('SELECT easycars.set_credentials(101, s.client_id, s.client_secret, s.account_number, s.account_secret, ''Test'', NULL, ''https://u:p@proxy.example/ECService'') FROM s WHERE dealership_id = 101',
                 '22023', NULL, 'a base_url with user info is refused');
SELECT throws_ok('SELECT easycars.set_credentials(101, s.client_id, NULL, s.account_number, s.account_secret) FROM s WHERE dealership_id = 101',
                 '22004', 'client_secret must not be NULL', 'NULL secrets are refused');
SELECT throws_ok('SELECT easycars.set_credentials(NULL, s.client_id, s.client_secret, s.account_number, s.account_secret) FROM s WHERE dealership_id = 101',
                 '22004', 'dealership_id must not be NULL', 'a NULL dealership is refused');
SELECT throws_ok('SELECT easycars.set_credentials(4242, s.client_id, s.client_secret, s.account_number, s.account_secret) FROM s WHERE dealership_id = 101',
                 '23503', 'dealership 4242 does not exist', 'an unknown dealership is refused');

-- A ciphertext copied to another dealership or column does not decrypt.
UPDATE easycars.credentials SET client_secret_encrypted = (SELECT client_secret_encrypted FROM easycars.credentials WHERE dealership_id = 102) WHERE dealership_id = 101;
UPDATE easycars.credentials SET account_secret_encrypted = client_secret_encrypted WHERE dealership_id = 102;
SELECT results_eq('SELECT dealership_id, decryptable, problem FROM easycars.verify_credentials() ORDER BY 1',
    $$VALUES (101, false, 'the client_secret of dealership 101 cannot be decrypted: the encrypted value failed authentication (tampered, or moved from another dealership or column)'),
             (102, false, 'the account_secret of dealership 102 cannot be decrypted: the encrypted value failed authentication (tampered, or moved from another dealership or column)')$$,
    'values moved across dealerships or columns are rejected');
SELECT lives_ok($$SELECT easycars.set_credentials(dealership_id, client_id, client_secret, account_number, account_secret) FROM s$$, 'storing again repairs them');

-- Privileges: only the extension decrypts; non-superusers see no key, no ciphertext, no plaintext.
SET LOCAL ROLE ec_analyst;
SET LOCAL app.current_dealership_id = '101';
SELECT throws_ok('SHOW easycars.key_file', '42501', NULL, 'an analyst cannot read the key file setting');
SELECT throws_ok($$SET easycars.key_file = '/tmp/evil.keys'$$, '42501', NULL, 'an analyst cannot change the key file setting');
SELECT throws_ok($$SELECT pg_read_file(current_setting('easycars.key_file'))$$, '42501', NULL, 'an analyst cannot read the key file');
SELECT throws_ok('SELECT account_secret_encrypted FROM easycars.credentials', '42501', NULL, 'an analyst cannot read encrypted columns');
SELECT throws_ok('SELECT * FROM easycars.verify_credentials()', '42501', NULL, 'an analyst cannot call verify_credentials');
SELECT throws_ok('SELECT easycars.set_credentials(101, client_id, client_secret, account_number, account_secret) FROM s', '42501', NULL, 'an analyst cannot set credentials');
SELECT results_eq('SELECT dealership_id, account_number_masked::text FROM easycars.credentials_safe', $$VALUES (101, 'EC****34')$$,
                  'an analyst sees only its dealership in credentials_safe');
RESET ROLE;
SET LOCAL ROLE ec_admin;
SELECT throws_ok('SELECT client_id_encrypted FROM easycars.credentials', '42501', NULL, 'not even an admin reads ciphertext');
SELECT lives_ok($$SELECT easycars.set_credentials(dealership_id, client_id, client_secret, account_number, account_secret) FROM s$$, 'an admin sets credentials');
SELECT is((SELECT count(*)::int FROM easycars.verify_credentials() WHERE decryptable), 2, 'an admin verifies credentials');
RESET ROLE;

-- Rotation: a new first key; old values still decrypt until rotated, then the old key can go.
-- The test runner wrote two more key files (mode 600): k2 then k1, and k2 alone.
CREATE TEMP TABLE keyfiles AS
SELECT current_setting('easycars.key_file') AS current_path,
       current_setting('easycars_test.rotated_key_file') AS rotated_path,
       current_setting('easycars_test.new_only_key_file') AS new_only_path;
SELECT set_config('easycars.key_file', rotated_path, true) IS NOT NULL AS switched FROM keyfiles \g /dev/null
SELECT results_eq('SELECT decryptable FROM easycars.verify_credentials()', $$VALUES (true), (true)$$, 'old values decrypt while k1 is still in the file');
SELECT is(easycars.rotate_encryption_key(), 2, 'rotation re-encrypts both dealerships');
SELECT is(easycars.rotate_encryption_key(), 0, 'rotation is safe to re-run');
SELECT results_eq('SELECT key_ids FROM easycars.verify_credentials()', $$VALUES (ARRAY['k2']), (ARRAY['k2'])$$, 'everything is under k2');
SELECT set_config('easycars.key_file', current_path, true) IS NOT NULL FROM keyfiles \g /dev/null
SELECT results_eq('SELECT problem FROM easycars.verify_credentials() WHERE dealership_id = 101',
    $$VALUES ('credentials of dealership 101 need key "k2", which is not in the key file named by easycars.key_file')$$,
    'a key file without the needed key gives an error naming the setting and the key id');
SELECT set_config('easycars.key_file', new_only_path, true) IS NOT NULL FROM keyfiles \g /dev/null
SELECT is((SELECT count(*)::int FROM easycars.verify_credentials() WHERE decryptable), 2, 'after rotation the old key can be removed');

-- Key file problems are clear errors, never panics.
SET LOCAL easycars.key_file = '/nonexistent/easycars.keys';
SELECT throws_ok('SELECT * FROM easycars.verify_credentials()', 'F0000',
                 'the key file named by easycars.key_file is not usable: cannot read it: entity not found', 'a missing key file is reported');
SELECT set_config('easycars.key_file', current_setting('easycars_test.open_key_file'), true) \g /dev/null
SELECT throws_ok('SELECT * FROM easycars.verify_credentials()', 'F0000',
                 'the key file named by easycars.key_file is accessible by other operating-system users', 'a group-readable key file is refused');
SET LOCAL easycars.key_file = '';
SELECT throws_ok('SELECT * FROM easycars.verify_credentials()', '55000', 'easycars.key_file is not set', 'an unset key file is reported with a hint');

SELECT * FROM finish();
ROLLBACK;
