-- The audit trail of administrative actions: one row per change to a dealership, to who may act
-- for it, and to its credentials, naming who did it, with before and after, never a secret;
-- append-only for everyone but superusers.
BEGIN;
SELECT plan(10);
\ir _fixtures.psql
\ir _sim_dealers.psql
SET client_min_messages = warning;
CREATE TEMP TABLE mark AS SELECT coalesce(max(id), 0) AS last FROM easycars.audit_log;
GRANT SELECT ON mark TO PUBLIC;
CREATE TEMP TABLE dealer2 AS SELECT * FROM easycars_test.sim_dealer WHERE n = 2;
GRANT SELECT ON dealer2 TO PUBLIC;

SET LOCAL ROLE ec_admin;
INSERT INTO easycars.dealership (id, name) VALUES (120, 'Audit Autos');
UPDATE easycars.dealership SET name = 'Audit Autos Pty Ltd', subdomain = 'audit-autos' WHERE id = 120;
SELECT easycars.grant_dealership('ec_analyst', 120) \g /dev/null
UPDATE easycars.credentials SET is_active = false WHERE dealership_id = 2;
UPDATE easycars.credentials SET is_active = true, yard_code = '200' WHERE dealership_id = 2;
SELECT easycars.set_credentials(2, client_id, client_secret, account_number, account_secret, 'Test', NULL,
                                current_setting('easycars_test.sim_url') || '/TestECService') FROM dealer2 \g /dev/null
SELECT easycars.revoke_dealership('ec_analyst', 120) \g /dev/null
RESET ROLE;
-- A sync stamping last_synced_at is not an administrative action.
SELECT status FROM easycars.sync_stock(2) \g /dev/null

CREATE TEMP TABLE trail AS SELECT * FROM easycars.audit_log WHERE id > (SELECT last FROM mark) ORDER BY id;
SELECT is(ARRAY(SELECT object || ':' || action FROM trail ORDER BY id),
          ARRAY['dealership:insert', 'dealership:update', 'dealership_access:insert', 'credentials:update', 'credentials:update',
                'credentials:update', 'dealership_access:delete'],
          'every administrative action is one audit row, and a sync''s timestamp none');
SELECT is(ARRAY(SELECT DISTINCT actor::text FROM trail WHERE object <> 'credentials' OR (after->>'secrets_changed')::boolean IS NOT TRUE),
          ARRAY['ec_admin'], 'direct changes name the administrator who made them');
SELECT is((SELECT actor::text FROM trail WHERE (after->>'secrets_changed')::boolean), session_user::text,
          'set_credentials (run as the owner) names the session''s login role');
SELECT is((SELECT before->>'is_active' || ' -> ' || (after->>'is_active') FROM trail WHERE object = 'credentials' ORDER BY id LIMIT 1),
          'true -> false', 'deactivating credentials is recorded with before and after');
SELECT is((SELECT before->>'name' || ' -> ' || (after->>'name') FROM trail WHERE object = 'dealership' AND action = 'update'),
          'Audit Autos -> Audit Autos Pty Ltd', 'a dealership change too');
SELECT is((SELECT count(*)::int FROM trail t, easycars_test.sim_dealer s
           WHERE strpos(t::text, 'ecv1:') > 0 OR strpos(t::text, s.client_secret) > 0 OR strpos(t::text, s.account_secret) > 0),
          0, 'no audit row holds a secret or a ciphertext');

SET LOCAL ROLE ec_admin;
SELECT throws_ok('UPDATE easycars.audit_log SET actor = ''someone'' WHERE id > (SELECT last FROM mark)', '42501', NULL,
                 'administrators cannot change the trail');
SELECT throws_ok('DELETE FROM easycars.audit_log', '42501', NULL, 'nor delete from it');
SELECT throws_ok($$INSERT INTO easycars.audit_log (actor, action, object) VALUES ('ec_sync', 'update', 'credentials')$$, '42501', NULL,
                 'nor append a row in someone else''s name');
RESET ROLE;
SET LOCAL ROLE ec_analyst;
SELECT throws_ok('SELECT count(*) FROM easycars.audit_log', '42501', NULL, 'analysts cannot read the trail');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
