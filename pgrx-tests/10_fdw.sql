-- The foreign data wrapper against the real simulator over HTTP: reads, pushdown, cached plans,
-- LIMIT, faults, token expiry, cancel, tenant rule, options, and writes of leads and quotations.
BEGIN;
SELECT plan(83);
\ir _fixtures.psql

\ir _sim_dealers.psql
CREATE SERVER ec1 FOREIGN DATA WRAPPER easycars_fdw OPTIONS (dealership_id '1');
CREATE SCHEMA ec1;
IMPORT FOREIGN SCHEMA easycars FROM SERVER ec1 INTO ec1;
CREATE FUNCTION pg_temp.explain(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r record; out text := '';
BEGIN
    FOR r IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP out := out || r."QUERY PLAN" || E'\n'; END LOOP;
    RETURN out;
END $$;
CREATE FUNCTION pg_temp.requests(route text) RETURNS int LANGUAGE sql AS $$
    SELECT coalesce((easycars_test.sim('GET', '/_sim/stats') #>> ARRAY['routes', route, 'count'])::int, 0)
$$;
CREATE FUNCTION pg_temp.last_body(route text) RETURNS jsonb LANGUAGE sql AS $$
    SELECT easycars_test.sim('GET', '/_sim/stats') #> ARRAY['routes', route, 'last_requests', '-1', 'body']
$$;

-- Reading stock.
SELECT foreign_tables_are('ec1', ARRAY['stock', 'leads', 'contacts', 'quotations'], 'IMPORT FOREIGN SCHEMA creates the four tables');
SELECT is((SELECT count(*)::int FROM ec1.stock), (SELECT vehicle_count FROM d1), 'every vehicle of the dealer is read');
SELECT col_type_is('ec1', 'stock', c, t, 'stock.' || c || ' is ' || t)
FROM (VALUES ('price', 'numeric'), ('year_group', 'integer'), ('rego_expiry', 'date'), ('is_used', 'boolean'),
             ('standard_features_list', 'text[]'), ('image_urls_list', 'text[]'), ('raw', 'jsonb')) AS t(c, t);
SELECT is((SELECT count(*)::int FROM information_schema.columns WHERE table_schema = 'ec1' AND table_name = 'stock'), 77,
          '72 fields, 3 list columns, raw_md5 and raw');
SELECT ok((SELECT bool_and((SELECT count(*) FROM jsonb_object_keys(raw)) = 72) FROM ec1.stock), 'raw keeps all 72 keys of every item');
SELECT ok((SELECT bool_and(price IS NOT DISTINCT FROM (raw->>'Price')::numeric AND year_group = (raw->>'YearGroup')::int
                           AND badge = raw->>'Badge' AND is_used = (raw->>'IsUsed')::boolean
                           AND coalesce(array_to_string(image_urls_list, ','), '') = raw->>'ImageURLs')
           FROM ec1.stock), 'typed columns agree with the raw item');

-- Pushdown, seen in EXPLAIN and in what the simulator received.
CREATE TEMP TABLE yard AS SELECT y->>'YardCode' AS code, (y->>'VehicleCount')::int AS vehicles FROM d1, jsonb_array_elements(d1.yards) y LIMIT 1;
SELECT is((SELECT count(*)::int FROM ec1.stock WHERE yard_code = (SELECT code FROM yard)), (SELECT vehicles FROM yard), 'yard_code filter returns that yard''s vehicles');
SELECT is(pg_temp.last_body('GetAdvertisementStocks')->>'YardCode', (SELECT code FROM yard), 'YardCode was sent to EasyCars');
SELECT is((SELECT count(*)::int FROM ec1.stock), (SELECT vehicle_count FROM d1), 'an unfiltered scan still reads everything');
SELECT ok(NOT (pg_temp.last_body('GetAdvertisementStocks') ? 'YardCode'), 'and sends no YardCode');
SELECT matches(pg_temp.explain($$SELECT * FROM ec1.stock WHERE yard_code = '100' AND make = 'KIA'$$),
               'EasyCars Pushdown: YardCode = ''100''', 'EXPLAIN shows the pushed-down YardCode');
SELECT matches(pg_temp.explain('SELECT * FROM ec1.stock'), 'EasyCars Pushdown: none', 'EXPLAIN shows when nothing is pushed down');

-- Cached plans: the framework's crash reproductions must run, and give the right answer, twice.
CREATE FUNCTION pg_temp.stock_count() RETURNS bigint LANGUAGE plpgsql AS $$ BEGIN RETURN (SELECT count(*) FROM ec1.stock); END $$;
SELECT is(ARRAY[pg_temp.stock_count(), pg_temp.stock_count(), pg_temp.stock_count()],
          ARRAY[(SELECT vehicle_count FROM d1)::bigint, (SELECT vehicle_count FROM d1), (SELECT vehicle_count FROM d1)],
          'a PL/pgSQL static query on a foreign table runs three times in one session');
PREPARE stock_count AS SELECT count(*) FROM ec1.stock;
SELECT lives_ok('EXECUTE stock_count', 'PREPARE/EXECUTE once');
SELECT lives_ok('EXECUTE stock_count', 'PREPARE/EXECUTE twice');
SELECT lives_ok($q$DO $do$ DECLARE n bigint; m bigint; BEGIN
                    FOR i IN 1..3 LOOP
                        SELECT count(*) INTO n FROM ec1.stock;
                        IF m IS NOT NULL AND n <> m THEN RAISE EXCEPTION 'loop % saw % rows, before %', i, n, m; END IF;
                        m := n;
                    END LOOP; END $do$ $q$, 'a DO loop scans the same foreign table three times');
PREPARE by_yard(text) AS SELECT count(*) FROM ec1.stock WHERE yard_code = $1;
SELECT results_eq(format('EXECUTE by_yard(%L)', (SELECT code FROM yard)), format('VALUES (%s::bigint)', (SELECT vehicles FROM yard)), 'a cached plan with a parameter, run 1');
SELECT results_eq($$EXECUTE by_yard('no-such-yard')$$, 'VALUES (0::bigint)', 'a cached plan with another parameter value');
SELECT results_eq(format('EXECUTE by_yard(%L)', (SELECT code FROM yard)), format('VALUES (%s::bigint)', (SELECT vehicles FROM yard)), 'and the first value again');

-- LIMIT never truncates before filters, joins or sorts that are applied locally.
CREATE TEMP TABLE all_stock AS SELECT stock_number, make, price FROM ec1.stock;
SELECT is((SELECT count(*)::int FROM (SELECT * FROM ec1.stock WHERE make = (SELECT make FROM all_stock GROUP BY make ORDER BY count(*) DESC, make LIMIT 1) LIMIT 2) s),
          least(2, (SELECT count(*)::int FROM all_stock GROUP BY make ORDER BY count(*) DESC, make LIMIT 1)),
          'LIMIT after a local filter returns filtered rows');
SELECT set_eq($$SELECT s.stock_number FROM ec1.stock s JOIN (SELECT stock_number FROM all_stock ORDER BY stock_number DESC LIMIT 3) t USING (stock_number) LIMIT 10$$,
              $$SELECT stock_number FROM all_stock ORDER BY stock_number DESC LIMIT 3$$, 'LIMIT over a join returns the joined rows');
SELECT set_eq($$SELECT stock_number FROM ec1.stock WHERE stock_number = ANY (ARRAY(SELECT stock_number FROM all_stock ORDER BY 1 LIMIT 3)) $$,
              $$SELECT stock_number FROM all_stock ORDER BY 1 LIMIT 3$$, 'a stock_number filter returns exactly those vehicles');
SELECT matches(pg_temp.explain($$SELECT * FROM ec1.stock WHERE stock_number = ANY ('{A,B}')$$),
               'EasyCars Pushdown: stock_number \(in the wrapper\) IN', 'EXPLAIN shows the stock_number filter applied by the wrapper');
SELECT ok((SELECT bool_and(raw_md5 ~ '^[0-9a-f]{32}$') AND count(DISTINCT raw_md5) = count(*) FROM ec1.stock), 'raw_md5 is an MD5 per item');
SELECT results_eq($$SELECT stock_number FROM ec1.stock ORDER BY price DESC NULLS LAST, stock_number LIMIT 3$$,
                  $$SELECT stock_number FROM all_stock ORDER BY price DESC NULLS LAST, stock_number LIMIT 3$$, 'ORDER BY ... LIMIT sorts everything first');

-- Faults: retried, or reported clearly.
SELECT easycars_test.sim('POST', '/_sim/faults', '{"route": "GetAdvertisementStocks", "kind": "http_status", "status": 503, "times": 1}') \g /dev/null
SELECT is((SELECT count(*)::int FROM ec1.stock), (SELECT vehicle_count FROM d1), 'a 503 is retried and the scan succeeds');
SELECT easycars_test.sim('POST', '/_sim/faults', '{"route": "GetAdvertisementStocks", "kind": "truncated_json", "times": 1}') \g /dev/null
SELECT is((SELECT count(*)::int FROM ec1.stock), (SELECT vehicle_count FROM d1), 'a truncated answer is retried');
SELECT easycars_test.sim('POST', '/_sim/faults', '{"route": "GetAdvertisementStocks", "kind": "code", "code": 7, "message": "Account is suspended.", "times": 5}') \g /dev/null
SELECT throws_like('SELECT count(*) FROM ec1.stock', '%Account is suspended.%', 'Code 7 is an error carrying EasyCars'' message');
SELECT easycars_test.sim('DELETE', '/_sim/faults') \g /dev/null
SELECT easycars_test.sim('POST', '/_sim/clock', '{"shift_seconds": 700}') \g /dev/null
SELECT is((SELECT count(*)::int FROM ec1.stock), (SELECT vehicle_count FROM d1), 'an expired token is refreshed and the scan succeeds');
SELECT easycars_test.sim('POST', '/_sim/clock', '{"set_shift_seconds": 0}') \g /dev/null

-- Cancel: a slow EasyCars does not make the statement uncancellable.
SELECT easycars_test.sim('POST', '/_sim/latency', '{"route": "GetAdvertisementStocks", "ms": 30000}') \g /dev/null
CREATE TEMP TABLE t0 AS SELECT clock_timestamp() AS at;
-- WHEN OTHERS never catches a cancel, so the helper names query_canceled explicitly.
CREATE FUNCTION pg_temp.cancelled(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'finished';
EXCEPTION WHEN query_canceled THEN RETURN SQLSTATE || ' ' || SQLERRM;
END $$;
SET LOCAL statement_timeout = '1s';
SELECT is(pg_temp.cancelled('SELECT count(*) FROM ec1.stock'), '57014 canceling statement due to statement timeout',
          'statement_timeout stops a scan waiting on EasyCars');
RESET statement_timeout;
SELECT ok(clock_timestamp() - (SELECT at FROM t0) < interval '10 seconds', 'well before the 30 s answer would have come');
SELECT easycars_test.sim('POST', '/_sim/latency', '{"route": "GetAdvertisementStocks", "ms": 0}') \g /dev/null

-- Wrong credentials: an authentication error without secrets.
CREATE TEMP TABLE bad AS SELECT 'FFFFFFFF-0000-4000-8000-00000000BAD1'::text AS secret;
SELECT easycars.set_credentials(3, client_id, (SELECT secret FROM bad), account_number, account_secret, 'Test', NULL,
                                current_setting('easycars_test.sim_url') || '/TestECService')
FROM easycars_test.sim_dealer WHERE n = 3 \g /dev/null
CREATE SERVER ec3 FOREIGN DATA WRAPPER easycars_fdw OPTIONS (dealership_id '3');
CREATE FOREIGN TABLE pg_temp.stock3 (stock_number text) SERVER ec3 OPTIONS (entity 'stock');
CREATE FUNCTION pg_temp.error_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE m text; s text; d text; h text;
BEGIN EXECUTE q; RETURN 'no error';
EXCEPTION WHEN OTHERS THEN GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, s = RETURNED_SQLSTATE, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT;
    RETURN s || ' ' || m || ' ' || coalesce(d, '') || ' ' || coalesce(h, '');
END $$;
CREATE TEMP TABLE auth_error AS SELECT pg_temp.error_of('SELECT count(*) FROM pg_temp.stock3') AS e;
SELECT matches((SELECT e FROM auth_error), '^28000 ', 'bad credentials give SQLSTATE 28000');
SELECT matches((SELECT e FROM auth_error), '^28000 EasyCars authentication failed: ', 'with EasyCars named once, not as "EasyCars easycars"');
SELECT ok((SELECT strpos(e, s.client_secret) = 0 AND strpos(e, (SELECT secret FROM bad)) = 0 AND strpos(e, s.account_secret) = 0
           FROM auth_error, easycars_test.sim_dealer s WHERE s.n = 3), 'the error names no secret');

-- The tenant rule: foreign tables have no RLS, so the wrapper enforces it.
GRANT USAGE ON SCHEMA ec1 TO ec_sync;
GRANT SELECT ON ec1.stock TO ec_sync;
SET LOCAL ROLE ec_sync;
SET LOCAL app.current_dealership_id = '1';
SELECT is((SELECT count(*)::int FROM ec1.stock), (SELECT vehicle_count FROM d1), 'the sync role acting for dealership 1 reads its stock');
SET LOCAL app.current_dealership_id = '2';
SELECT throws_ok('SELECT count(*) FROM ec1.stock', '42501', 'the easycars foreign server is for dealership 1, but this session acts for 2',
                 'acting for another dealership is refused');
SET LOCAL app.current_dealership_id = '';
SELECT throws_ok('SELECT count(*) FROM ec1.stock', '42501', NULL, 'acting for no dealership is refused');
RESET ROLE;
SET LOCAL ROLE ec_analyst;
SELECT throws_ok('SELECT count(*) FROM ec1.stock', '42501', NULL, 'an analyst without grants cannot reach the foreign tables');
RESET ROLE;

-- Options are validated; no option can carry a secret.
SELECT throws_ok($$CREATE SERVER bad1 FOREIGN DATA WRAPPER easycars_fdw OPTIONS (dealership_id '1', client_secret 'x')$$, 'HV00D',
                 'unknown option "client_secret" for an easycars_fdw server', 'unknown server options are refused');
SELECT throws_ok($$CREATE SERVER bad2 FOREIGN DATA WRAPPER easycars_fdw OPTIONS (dealership_id 'abc')$$, 'HV024', NULL, 'a non-numeric dealership_id is refused');
SELECT throws_ok($$CREATE SERVER bad3 FOREIGN DATA WRAPPER easycars_fdw OPTIONS (base_url 'http://x')$$, 'HV00J', NULL, 'dealership_id is required');
SELECT throws_ok($$CREATE SERVER bad4 FOREIGN DATA WRAPPER easycars_fdw OPTIONS (dealership_id '1', timeout_ms '0')$$, 'HV024', NULL, 'timeout_ms out of range is refused');
SELECT throws_ok($$CREATE SERVER bad5 FOREIGN DATA WRAPPER easycars_fdw OPTIONS (dealership_id '1', base_url 'https://u:p@proxy/ECService')$$, 'HV024', NULL, 'a base_url with user info is refused');
SELECT throws_ok($$CREATE USER MAPPING FOR CURRENT_USER SERVER ec1 OPTIONS (password 'x')$$, 'HV00D', NULL, 'user mappings take no options');
SELECT throws_ok($$CREATE FOREIGN TABLE pg_temp.noentity (x text) SERVER ec1$$, 'HV00J', NULL, 'a foreign table needs an entity');
SELECT throws_ok($$CREATE FOREIGN TABLE pg_temp.badentity (x text) SERVER ec1 OPTIONS (entity 'invoices')$$, 'HV024', NULL, 'an unknown entity is refused');
SELECT throws_ok($$IMPORT FOREIGN SCHEMA public FROM SERVER ec1 INTO ec1$$, 'HV024', NULL, 'only remote schema easycars exists');
CREATE SCHEMA ec1_only_stock;
IMPORT FOREIGN SCHEMA easycars LIMIT TO (stock) FROM SERVER ec1 INTO ec1_only_stock;
SELECT foreign_tables_are('ec1_only_stock', ARRAY['stock'], 'IMPORT ... LIMIT TO imports only what is named');
SELECT throws_ok('SELECT lead_number FROM ec1.stock', '42703', NULL, 'unknown columns are refused by the planner');
CREATE FOREIGN TABLE pg_temp.wrongcol (not_a_field text) SERVER ec1 OPTIONS (entity 'stock');
SELECT throws_ok('SELECT * FROM pg_temp.wrongcol', 'HV005', 'column "not_a_field" is not a column of EasyCars stock', 'columns that EasyCars does not have are refused');

-- Leads: INSERT calls CreateLead; the numbers come back through fdw_insert_results().
SELECT easycars.clear_fdw_insert_results() \g /dev/null
INSERT INTO ec1.leads (vehicle_make, vehicle_model, vehicle_type, vehicle_year, is_vehicle_new, vehicle_interest, external_id,
                       customer_name, customer_email, customer_mobile, rating, finance_status, vehicle_price, stock_number)
VALUES ('Toyota', 'HiLux', 1, 2021, false, 1, 'local-1', 'Jo Citizen', 'jo.fdw@example.com', '0400111222', 2, 3, 48990, 'U00001'),
       ('Mazda', 'CX-5', 1, 2020, true, 4, 'local-2', 'Sam Buyer', 'sam.fdw@example.com', NULL, 1, NULL, NULL, NULL);
SELECT is((SELECT array_agg(external_id ORDER BY external_id) FROM easycars.fdw_insert_results() WHERE lead_number ~ '^[0-9]{6}$' AND customer_no ~ '^[0-9]{5}$'),
          ARRAY['local-1', 'local-2'], 'each inserted lead has its LeadNumber and CustomerNo');
SELECT is(pg_temp.last_body('CreateLead') #>> '{LeadCustomer,Name}', 'Sam Buyer', 'the customer is sent as the nested LeadCustomer');
CREATE TEMP TABLE made AS SELECT * FROM easycars.fdw_insert_results();
SELECT results_eq($$SELECT customer_name, rating_label, vehicle_interest_label, finance_status_label FROM ec1.leads
                    WHERE lead_number = (SELECT lead_number FROM made WHERE external_id = 'local-1')$$,
                  $$VALUES ('Jo Citizen', 'Warm', 'Buy', 'Maybe')$$, 'GetLeadDetail reads the lead back with the documented labels');
SELECT easycars_test.sim('POST', '/_sim/reset') IS NULL AS x \g /dev/null
SELECT is((SELECT count(*)::int FROM ec1.leads WHERE lead_number = ANY(ARRAY(SELECT lead_number FROM made)) ), 0, 'a reset simulator has no such leads');
-- (re-create them for the write tests)
INSERT INTO ec1.leads (vehicle_make, vehicle_model, vehicle_type, vehicle_year, is_vehicle_new, vehicle_interest, external_id, customer_name, customer_email)
SELECT 'Kia', 'Rio', 1, 2022, true, 1, 'batch-' || i, 'Buyer ' || i, 'buyer' || i || '@example.com' FROM generate_series(1, 5) i;
CREATE TEMP TABLE batch AS SELECT * FROM easycars.fdw_insert_results() WHERE external_id LIKE 'batch-%';
CREATE TEMP TABLE calls_before AS SELECT pg_temp.requests('GetLeadDetail') AS n;
SELECT is((SELECT count(*)::int FROM ec1.leads WHERE lead_number = ANY(ARRAY(SELECT lead_number FROM batch))), 5, 'lead_number = ANY(...) reads many leads');
SELECT is(pg_temp.requests('GetLeadDetail') - (SELECT n FROM calls_before), 5, 'one GetLeadDetail per lead number');
SELECT is((SELECT count(*)::int FROM ec1.leads WHERE lead_number = '999999'), 0, 'an unknown lead number is simply absent');
SELECT throws_ok('SELECT * FROM ec1.leads', '0A000', 'a query on EasyCars leads must filter on lead_number', 'leads need a lead_number filter');
UPDATE ec1.leads SET rating = 3, notes = 'Called back' WHERE lead_number = (SELECT min(lead_number) FROM batch);
SELECT is((SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(pg_temp.last_body('UpdateLead')) k),
          ARRAY['AccountNumber', 'AccountSecret', 'LeadNumber', 'Notes', 'Rating'], 'UpdateLead sends only the changed fields');
SELECT results_eq($$SELECT rating_label, notes FROM ec1.leads WHERE lead_number = (SELECT min(lead_number) FROM batch)$$,
                  $$VALUES ('Hot', 'Called back')$$, 'the update is visible in EasyCars');
SELECT throws_like($$INSERT INTO ec1.leads (vehicle_make, customer_name, customer_email) VALUES ('Toyota', 'X', 'x@example.com')$$,
                   'EasyCars requires %', 'a lead missing required fields is refused with the column named');
SELECT throws_ok($$UPDATE ec1.leads SET vehicle_make = 'X' WHERE lead_number = (SELECT min(lead_number) FROM batch)$$, 'HV004', NULL,
                 'UpdateLead cannot change what EasyCars does not update');

-- A write stopped mid-call (statement_timeout while EasyCars is slow) fails with 57014 and
-- leaves nothing behind: supabase-wrappers used to leak its modify state and memory context.
SELECT easycars_test.sim('POST', '/_sim/latency', '{"route": "CreateLead", "ms": 5000}') \g /dev/null
SET LOCAL statement_timeout = '300ms';
SELECT is(pg_temp.cancelled($$INSERT INTO ec1.leads (vehicle_make, vehicle_model, vehicle_type, vehicle_year, is_vehicle_new, vehicle_interest, customer_name, customer_email)
                             VALUES ('Toyota', 'HiLux', 1, 2021, false, 1, 'Slow Sam', 'slow@example.com')$$),
          '57014 canceling statement due to statement timeout', 'statement_timeout stops an INSERT waiting on EasyCars, with 57014');
RESET statement_timeout;
SELECT easycars_test.sim('POST', '/_sim/latency', '{"route": "CreateLead", "ms": 0}') \g /dev/null
SELECT is((SELECT count(*)::int FROM pg_backend_memory_contexts WHERE name LIKE 'Wrappers_modify%'), 0,
          'and its write state is freed (no modify memory context is left in the session)');
SELECT is((SELECT scans || '/' || writes FROM easycars._fdw_live_states()), '0/0', 'no scan or write state is left in the backend');

-- RETURNING: what EasyCars assigned comes back from the statement itself.
CREATE TEMP TABLE returned AS
WITH made AS (
    INSERT INTO ec1.leads (vehicle_make, vehicle_model, vehicle_type, vehicle_year, is_vehicle_new, vehicle_interest, external_id, customer_name, customer_email)
    VALUES ('Ford', 'Ranger', 1, 2023, true, 1, 'ret-1', 'Ret One', 'ret1@example.com'),
           ('Ford', 'Everest', 1, 2023, true, 1, 'ret-2', 'Ret Two', 'ret2@example.com')
    RETURNING lead_number, customer_no, external_id, customer_name)
SELECT * FROM made;
SELECT is((SELECT count(*)::int FROM returned WHERE lead_number ~ '^[0-9]{6}$' AND customer_no ~ '^[0-9]{5}$'), 2,
          'INSERT ... RETURNING gives each new LeadNumber and CustomerNo');
SELECT is((SELECT array_agg(external_id || ':' || customer_name ORDER BY external_id) FROM returned), ARRAY['ret-1:Ret One', 'ret-2:Ret Two'],
          'with the values inserted');
SELECT results_eq($$SELECT lead_number, customer_no FROM returned ORDER BY external_id$$,
                  $$SELECT lead_number, customer_no FROM easycars.fdw_insert_results() WHERE external_id LIKE 'ret-%' ORDER BY external_id$$,
                  'the same numbers fdw_insert_results() keeps for compatibility');
CREATE TEMP TABLE updated AS
WITH u AS (UPDATE ec1.leads SET rating = 1 WHERE lead_number = (SELECT min(lead_number) FROM returned) RETURNING lead_number, rating)
SELECT * FROM u;
SELECT results_eq($$SELECT lead_number, rating FROM updated$$, $$SELECT min(lead_number), 1 FROM returned$$,
                  'UPDATE ... RETURNING gives the lead number and the values set');
SELECT throws_like($$INSERT INTO ec1.leads (vehicle_make, customer_name, customer_email) VALUES ('Toyota', 'X', 'x@example.com') RETURNING lead_number$$,
                   'EasyCars requires %', 'a refused row fails the statement, RETURNING or not');
SELECT is((SELECT scans || '/' || writes FROM easycars._fdw_live_states()), '0/0', 'and leaves no write state behind');
CREATE TEMP TABLE quoted AS
WITH q AS (
    INSERT INTO ec1.quotations (yard_code, vehicle_make, vehicle_model, vehicle_type, is_vehicle_new, vehicle_year, quote_date,
                                base_price, selling_price, rego_state, customer)
    VALUES ('100', 'Toyota', 'HiLux', 1, false, 2021, '2026-11-22', 45000, 48990, 'NSW', '{"Name": "Ret Quote", "Email": "rq@example.com"}')
    RETURNING quote_number)
SELECT * FROM q;
SELECT matches((SELECT quote_number FROM quoted), '^[0-9]{6}$', 'INSERT INTO quotations ... RETURNING quote_number');

-- Contacts and quotations.
SELECT results_eq($$SELECT name FROM ec1.contacts WHERE email = 'buyer3@example.com'$$, $$VALUES ('Buyer 3')$$, 'SearchContacts by email');
SELECT throws_ok('SELECT * FROM ec1.contacts', '0A000', NULL, 'contacts need a filter');
INSERT INTO ec1.quotations (yard_code, vehicle_make, vehicle_model, vehicle_type, is_vehicle_new, vehicle_year, quote_date,
                            base_price, selling_price, rego_state, customer)
VALUES ('100', 'Toyota', 'HiLux', 1, false, 2021, '2026-11-21', 45000, 48990, 'NSW', '{"Name": "Jo Citizen", "Email": "jo@example.com"}');
SELECT matches((SELECT quote_number FROM easycars.fdw_insert_results() WHERE entity = 'quotations' ORDER BY created_at DESC LIMIT 1), '^[0-9]{6}$', 'CreateQuotation returns a quote number');
SELECT is(pg_temp.last_body('CreateQuotation')->>'QuoteDate', '21/11/2026', 'dates are sent as dd/MM/yyyy');
SELECT throws_ok('SELECT * FROM ec1.quotations', '0A000', NULL, 'quotations are insert-only');

SELECT * FROM finish();
ROLLBACK;
