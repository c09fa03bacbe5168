-- Attacks by roles that can send SQL: each is a real attempt, as a hostile analyst, sync role or
-- administrator would make it. None may run code with more rights than the attacker has, reach
-- another dealership's rows, or send a dealership's secrets anywhere but EasyCars.
BEGIN;
SELECT plan(55);
\ir _fixtures.psql
\ir _sim_dealers.psql
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.error_of(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE q;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ' ' || SQLERRM;
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.error_of(text) TO PUBLIC;
CREATE TEMP TABLE outcome (what text, result text);
GRANT INSERT, SELECT ON outcome TO PUBLIC;
CREATE TEMP TABLE dealer3 AS SELECT * FROM easycars_test.sim_dealer WHERE n = 3;
GRANT SELECT ON dealer3 TO PUBLIC;

-- Dealership 1's EasyCars as foreign tables, made by a superuser (as the README's quick start does).
CREATE SERVER atk_harbour FOREIGN DATA WRAPPER easycars_fdw OPTIONS (dealership_id '1');
CREATE SCHEMA atk_harbour;
IMPORT FOREIGN SCHEMA easycars LIMIT TO (stock, leads) FROM SERVER atk_harbour INTO atk_harbour;

-- The attackers: an analyst granted dealership 1 and SELECT on its stock, exactly as the README's
-- quick start sets one up; a sync role granted dealership 1; an administrator.
CREATE ROLE atk_analyst IN ROLE easycars_analyst;
CREATE ROLE atk_sync IN ROLE easycars_sync;
CREATE ROLE atk_admin IN ROLE easycars_admin;
SELECT easycars.grant_dealership('atk_analyst', 1), easycars.grant_dealership('atk_sync', 1) \g /dev/null
GRANT USAGE ON SCHEMA atk_harbour TO atk_analyst, atk_sync;
GRANT SELECT ON atk_harbour.stock TO atk_analyst, atk_sync;
GRANT CREATE ON DATABASE easycars_test TO atk_analyst;
GRANT CREATE ON DATABASE easycars_test TO atk_admin;

-- 1. The reported escalation: a pg_temp domain over "text" whose check runs the attacker's code,
--    hoping the wrapper resolves "text" in pg_temp while it reads credentials as the owner.
SET LOCAL ROLE atk_analyst;
CREATE FUNCTION pg_temp.pwn(text) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'escalated: attacker code ran as superuser %', current_user;
    END IF;
    RETURN true;
END $f$;
CREATE DOMAIN pg_temp.text AS pg_catalog.text CHECK (pg_temp.pwn(VALUE));
CREATE DOMAIN pg_temp.int4 AS pg_catalog.int4 CHECK (pg_temp.pwn(VALUE::pg_catalog.text));
SET LOCAL app.current_dealership_id = '1';
-- (No pgTAP call while the attacker's types exist: pgTAP's functions would compile against them.)
INSERT INTO pg_temp.outcome SELECT 'pg_temp domain', pg_temp.error_of('SELECT count(*) FROM atk_harbour.stock');
SET LOCAL search_path = pg_temp, pg_catalog, public;
INSERT INTO pg_temp.outcome SELECT 'pg_temp first', pg_temp.error_of('SELECT count(*) FROM atk_harbour.stock');
RESET search_path;

-- 2. The same through "=" and a function overload in a schema the attacker owns, placed before
--    pg_catalog in search_path.
CREATE SCHEMA atk_own;
CREATE FUNCTION atk_own.eq(integer, integer) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'escalated through = as %', current_user;
    END IF;
    RETURN $1 OPERATOR(pg_catalog.=) $2;
END $f$;
CREATE OPERATOR atk_own.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = atk_own.eq);
CREATE FUNCTION atk_own.format(pg_catalog.text, integer) RETURNS pg_catalog.text LANGUAGE plpgsql AS $f$
BEGIN
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        RAISE EXCEPTION 'escalated through format as %', current_user;
    END IF;
    RETURN pg_catalog.format($1, $2);
END $f$;
SET LOCAL search_path = atk_own, pg_catalog, pg_temp;
INSERT INTO pg_temp.outcome SELECT 'own = scan', pg_temp.error_of('SELECT count(*) FROM atk_harbour.stock');
INSERT INTO pg_temp.outcome SELECT 'own = tenant', pg_temp.error_of('SELECT easycars.current_dealership_id()');
GRANT USAGE ON SCHEMA atk_own TO atk_sync;
SET LOCAL ROLE atk_sync;
INSERT INTO pg_temp.outcome SELECT 'own = sync', pg_temp.error_of('SELECT easycars.sync_stock(1)');
RESET search_path;
-- The attacker's temporary types go before any assertion: pg_temp is searched first for types by
-- default, so in this one session (which plays both roles) they would hijack "text" in the test's
-- own superuser statements.
SET LOCAL ROLE atk_analyst;
DROP DOMAIN pg_temp.text, pg_temp.int4;
RESET ROLE;
SELECT is((SELECT result FROM outcome WHERE what = 'pg_temp domain'), 'ok',
          'a pg_temp domain over text never runs with the owner''s rights (the scan works)');
SELECT is((SELECT result FROM outcome WHERE what = 'pg_temp first'), 'ok', 'nor with pg_temp placed first in search_path');
SELECT is((SELECT result FROM outcome WHERE what = 'own = scan'), 'ok',
          'an "=" operator of the attacker''s schema, first in search_path, never runs as the owner');
SELECT is((SELECT result FROM outcome WHERE what = 'own = tenant'), 'ok', 'nor in the tenant check');
SELECT is((SELECT result FROM outcome WHERE what = 'own = sync'), 'ok', 'nor in a sync (its definer helpers included)');

-- 3. Tenants are bound to roles: the setting only selects among granted dealerships.
SET LOCAL ROLE atk_sync;
SET LOCAL app.current_dealership_id = '2';
SELECT is(easycars.current_dealership_id(), NULL, 'a dealership the role was not granted is no tenant at all');
SELECT is((SELECT count(*)::int FROM easycars.vehicle), 0, 'so another tenant''s vehicles are invisible');
SELECT is((SELECT count(*)::int FROM easycars.dealership), 0, 'and its dealership row');
SELECT is((SELECT count(*)::int FROM easycars.credentials_safe), 0, 'and its credentials, through credentials_safe');
SELECT is((SELECT count(*)::int FROM easycars.sync_log), 0, 'and its sync history');
SELECT matches(pg_temp.error_of($$INSERT INTO easycars.vehicle (dealership_id, make, model, year, title) VALUES (2, 'X', 'Y', 2020, 'X Y')$$),
               '^42501 ', 'inserting into another tenant is refused by row-level security');
SELECT is(pg_temp.error_of($$UPDATE easycars.lead SET message = 'pwned' WHERE dealership_id = 2$$), 'ok', 'updating it runs');
SELECT is(pg_temp.error_of($$DELETE FROM easycars.sync_preview_cache WHERE dealership_id = 2$$), 'ok', 'deleting it runs');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM easycars.lead WHERE dealership_id = 2 AND message = 'pwned'), 0, 'but the update touches nothing');
INSERT INTO easycars.sync_preview_cache (dealership_id, entity_type, cache_key) VALUES (2, 'stock', 'atk-probe');
SET LOCAL ROLE atk_sync;
SET LOCAL app.current_dealership_id = '2';
SELECT is(pg_temp.error_of($$DELETE FROM easycars.sync_preview_cache WHERE cache_key = 'atk-probe'$$), 'ok', 'a delete of another tenant''s row runs');
RESET ROLE;
SELECT is((SELECT count(*)::int FROM easycars.sync_preview_cache WHERE cache_key = 'atk-probe'), 1, 'and deletes nothing');
SET LOCAL ROLE atk_sync;
SET LOCAL app.current_dealership_id = '2';
SELECT matches(pg_temp.error_of('SELECT count(*) FROM atk_harbour.stock'), '^42501 ',
               'a foreign table of dealership 1 is refused to a session that selected 2');
SELECT matches(pg_temp.error_of('SELECT easycars.sync_stock(2)'), '^42501 this role may not sync dealership 2',
               'syncing a dealership the role was not granted is refused (42501)');
RESET app.current_dealership_id;
SELECT matches(pg_temp.error_of('SELECT easycars.sync_stock(2)'), '^42501 ',
               'also without any tenant setting');
SELECT matches(pg_temp.error_of('SELECT easycars.preview_stock_sync(2)'), '^42501 ', 'and so is a preview');
SELECT is(easycars.may_act_for(2), false, 'may_act_for says no for 2');
SELECT is(easycars.may_act_for(1), true, 'and yes for 1');
SET LOCAL app.current_dealership_id = '01';
SELECT is(easycars.current_dealership_id(), NULL, '''01'' names no dealership (one parse rule for SQL and the wrapper)');
SELECT matches(pg_temp.error_of('SELECT count(*) FROM atk_harbour.stock'), '^42501 ', 'and opens no foreign table');
SET LOCAL app.current_dealership_id = ' 1';
SELECT matches(pg_temp.error_of('SELECT count(*) FROM atk_harbour.stock'), '^42501 ', ''' 1'' neither');
SET LOCAL app.current_dealership_id = '1';
SELECT is((easycars.sync_stock(1)).status::text, 'Success', 'the granted dealership syncs');
RESET ROLE;

-- A leaky function in the outer WHERE of a view sees only rows the view lets through.
CREATE TEMP TABLE leaked (dealership_id integer);
GRANT INSERT, SELECT ON leaked TO PUBLIC;
CREATE FUNCTION pg_temp.leak(integer) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS $f$
BEGIN INSERT INTO pg_temp.leaked VALUES ($1); RETURN true; END $f$;
GRANT EXECUTE ON FUNCTION pg_temp.leak(integer) TO PUBLIC;
SET LOCAL ROLE atk_sync;
SET LOCAL app.current_dealership_id = '1';
SELECT count(*) FROM easycars.credentials_safe WHERE pg_temp.leak(dealership_id) \g /dev/null
RESET ROLE;
SELECT is(ARRAY(SELECT DISTINCT dealership_id FROM leaked ORDER BY 1), ARRAY[1], 'credentials_safe leaks no other tenant to a cheap function');

-- The tenant policy is one comparison the primary-key index serves (no OR with the admin rule).
CREATE TEMP TABLE plan_of (plan text);
GRANT INSERT ON plan_of TO PUBLIC;
SET LOCAL ROLE atk_sync;
SET LOCAL app.current_dealership_id = '1';
SET LOCAL enable_seqscan = off;
DO $$ DECLARE p text; BEGIN
    FOR p IN EXECUTE 'EXPLAIN (COSTS OFF) SELECT * FROM easycars.vehicle WHERE id = 1' LOOP INSERT INTO pg_temp.plan_of VALUES (p); END LOOP;
END $$;
RESET enable_seqscan;
RESET ROLE;
SELECT ok((SELECT string_agg(plan, E'\n') FROM plan_of) ~ 'Index Cond: \(+dealership_id = (\$0|\(InitPlan)',
          'a tenant''s query is an index scan on its dealership (the policy is one index condition)');
SELECT ok((SELECT string_agg(plan, E'\n') FROM plan_of) !~ '_is_admin', 'and carries no admin test');

-- A pooled application role trusted for every dealership still acts for the one it selects.
CREATE ROLE atk_app IN ROLE easycars_analyst;
SELECT easycars.grant_all_dealerships('atk_app') \g /dev/null
SET LOCAL ROLE atk_app;
RESET app.current_dealership_id;
SELECT is((SELECT count(*)::int FROM easycars.vehicle), 0, 'a trusted pooled role with no dealership selected sees nothing');
SET LOCAL app.current_dealership_id = '2';
SELECT is((SELECT array_agg(id) FROM easycars.dealership), ARRAY[2], 'and sees exactly the one it selects');
RESET ROLE;
SELECT is(easycars.revoke_dealership('atk_app'), 1, 'revoke_dealership withdraws the trust');
SET LOCAL ROLE atk_app;
SELECT is(easycars.current_dealership_id(), NULL, 'after which the setting names nothing');
RESET ROLE;
SET LOCAL ROLE atk_analyst;
SELECT matches(pg_temp.error_of($$SELECT easycars.grant_dealership('atk_analyst', 2)$$), '^42501 ', 'a tenant role cannot grant itself a dealership');
SELECT matches(pg_temp.error_of($$INSERT INTO easycars.dealership_access (role_id, dealership_id) VALUES ('atk_analyst', 2)$$), '^42501 ', 'not even directly');
RESET ROLE;

-- 4. Decrypted secrets go only to EasyCars: an administrator (who may not read secrets) tries
--    every route to point them at a listener of theirs; it must receive nothing.
CREATE TEMP TABLE attempt (route text, outcome text);
GRANT INSERT ON attempt TO PUBLIC;
SET LOCAL ROLE atk_admin;
INSERT INTO attempt SELECT 'set_credentials', pg_temp.error_of(format(
    $$SELECT easycars.set_credentials(3, %L, %L, %L, %L, 'Test', NULL, %L)$$,
    client_id, client_secret, account_number, account_secret, current_setting('easycars_test.recorder_url') || '/TestECService'))
FROM dealer3;
UPDATE easycars.credentials SET base_url = current_setting('easycars_test.recorder_url') || '/TestECService' WHERE dealership_id = 3;
INSERT INTO attempt SELECT 'credentials.base_url then sync', (SELECT status || ' ' || error_message FROM easycars.sync_stock(3));
SELECT format('CREATE SERVER atk_evil FOREIGN DATA WRAPPER easycars_fdw OPTIONS (dealership_id %L, base_url %L)',
              '2', current_setting('easycars_test.recorder_url') || '/TestECService') \gexec
CREATE SCHEMA atk_evil;
IMPORT FOREIGN SCHEMA easycars LIMIT TO (stock) FROM SERVER atk_evil INTO atk_evil;
INSERT INTO attempt VALUES ('own server with base_url', pg_temp.error_of('SELECT count(*) FROM atk_evil.stock'));
-- A server named like the one syncs make, for a dealership that has none yet.
SELECT format('CREATE SERVER easycars_d2 FOREIGN DATA WRAPPER easycars_fdw OPTIONS (dealership_id %L, base_url %L)',
              '2', current_setting('easycars_test.recorder_url') || '/TestECService') \gexec
INSERT INTO attempt SELECT 'pre-made sync server', pg_temp.error_of('SELECT easycars.sync_stock(2)');
RESET ROLE;
SELECT matches((SELECT outcome FROM attempt WHERE route = 'set_credentials'), '^42501 credentials are not sent to host "127.0.0.2"',
               'set_credentials refuses a base_url on a host no superuser allowed');
SELECT matches((SELECT outcome FROM attempt WHERE route = 'credentials.base_url then sync'), '^Failed credentials are not sent to host "127.0.0.2"',
               'a base_url an admin updated directly is refused before any request; the run is logged Failed');
SELECT matches((SELECT outcome FROM attempt WHERE route = 'own server with base_url'), '^42501 the base_url option of an easycars_fdw server is honoured only on a server a superuser owns',
               'an admin''s own server cannot redirect the dealership''s secrets');
SELECT matches((SELECT outcome FROM attempt WHERE route = 'pre-made sync server'), '^42501 foreign server easycars_d2 was not made by easycars',
               'a pre-made server named like the sync server is refused, not reused');
SELECT is(pg_read_file(current_setting('easycars_test.recorder_log')), '', 'and the attacker''s listener received nothing at all');
-- Even a superuser-owned server must name an allowed host...
ALTER SERVER atk_evil OWNER TO postgres;
SELECT matches(pg_temp.error_of('SELECT count(*) FROM atk_evil.stock'), '^42501 credentials are not sent to host "127.0.0.2"',
               'a superuser''s server still sends credentials only to allowed hosts');
SELECT is(pg_read_file(current_setting('easycars_test.recorder_log')), '', 'still nothing received');
-- ... and once a superuser allows the host, the listener really does receive (so it can tell).
SET LOCAL easycars.allowed_hosts = '127.0.0.1, 127.0.0.2';
SELECT matches(pg_temp.error_of('SELECT count(*) FROM atk_evil.stock'), '^HV00N ', 'allowed by a superuser, the request is made');
SELECT isnt(pg_read_file(current_setting('easycars_test.recorder_log')), '', 'and the listener records it (it would have seen the attacks)');
RESET easycars.allowed_hosts;
SET LOCAL ROLE atk_admin;
SELECT matches(pg_temp.error_of($$SET easycars.allowed_hosts = '127.0.0.2'$$), '^42501 ', 'an administrator cannot change easycars.allowed_hosts');
RESET ROLE;

-- 5. Deactivated credentials are dead everywhere, foreign tables included.
UPDATE easycars.credentials SET is_active = false WHERE dealership_id = 1;
SELECT matches(pg_temp.error_of('SELECT count(*) FROM atk_harbour.stock'), '^55000 the EasyCars credentials of dealership 1 are deactivated',
               'a scan with deactivated credentials is refused (55000)');
SELECT matches(pg_temp.error_of($$INSERT INTO atk_harbour.leads (vehicle_make, vehicle_model, vehicle_type, vehicle_year, is_vehicle_new, vehicle_interest, customer_name, customer_email)
                                  VALUES ('Toyota', 'HiLux', 1, 2021, false, 1, 'Dead Dan', 'dead@example.com')$$),
               '^55000 ', 'so is a write');
UPDATE easycars.credentials SET is_active = true WHERE dealership_id = 1;

-- 6. A qual that raises an ERROR inside the scan leaves the session clean.
SELECT matches(pg_temp.error_of($$SELECT * FROM atk_harbour.leads WHERE lead_number = current_setting('no.such')$$), '^42704 ',
               'a pushed-down qual that raises reports its own error');
SELECT is(pg_temp.error_of('SELECT count(*) FROM atk_harbour.stock'), 'ok', 'and the next scan works');

-- 7. A huge answer is an ERROR with a hint, never an allocation abort that restarts the cluster.
CREATE TEMP TABLE started AS SELECT pg_postmaster_start_time() AS at;
ALTER SERVER atk_harbour OPTIONS (ADD max_response_bytes '10000');
SELECT matches(pg_temp.error_of('SELECT count(*) FROM atk_harbour.stock'), '^54000 ', 'an answer over max_response_bytes is an ERROR (54000)');
ALTER SERVER atk_harbour OPTIONS (DROP max_response_bytes);
SELECT matches(pg_temp.error_of($$SELECT count(*) FROM atk_harbour.leads WHERE lead_number = ANY (ARRAY(SELECT g::text FROM generate_series(1, 200001) g))$$),
               '^54000 a scan may push at most 200000 values of lead_number', 'so is asking for more lead numbers than a scan may hold, before any call');
SELECT is(pg_postmaster_start_time(), (SELECT at FROM started), 'and the cluster never restarted');

-- 8. One bad item never fails the sync: values that do not fit make that item a counted failure.
SELECT easycars_test.sim('POST', format('/_sim/stock/%s/add', (SELECT account_number FROM d1)),
       jsonb_build_object('items', jsonb_build_array(
           jsonb_build_object('StockNumber', 'BAD-YARD', 'YardCode', repeat('Y', 60)),
           jsonb_build_object('StockNumber', 'BAD-PRICE', 'Price', 1e10),
           jsonb_build_object('StockNumber', 'BIG-POWER', 'PowerkW', 999999.995),
           jsonb_build_object('StockNumber', 'GOOD-ONE')))) \g /dev/null
CREATE TEMP TABLE bad_run AS SELECT * FROM easycars.sync_stock(1);
SELECT is((SELECT status || ' ' || records_failed FROM bad_run), 'Warning 2', 'the run is a Warning with the two unstorable items failed');
SELECT is(ARRAY(SELECT easycars_stock_number || CASE WHEN easycars_stock_number = 'BIG-POWER' THEN ':' || coalesce(power_kw::text, 'null') ELSE '' END
                FROM easycars.vehicle WHERE dealership_id = 1 AND easycars_stock_number IN ('BAD-YARD', 'BAD-PRICE', 'BIG-POWER', 'GOOD-ONE') ORDER BY 1),
          ARRAY['BIG-POWER:null', 'GOOD-ONE'],
          'and the rest is stored (an optional value that does not fit is left out)');

-- 9. Every function of the extension runs with search_path pinned.
SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = 'easycars'::regnamespace
                  AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)
                ORDER BY 1),
          ARRAY['easycars.run_due_syncs(text,interval,interval)'],
          'every function has SET search_path = pg_catalog, pg_temp (the one procedure that commits pins it in its body)');

SELECT * FROM finish();
ROLLBACK;
