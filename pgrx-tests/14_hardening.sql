-- Hardening: hostile arguments to every SQL function and FDW option, hostile and malformed data
-- from the API, and a cancel in the middle of a sync. Nothing may crash or half-write.
BEGIN;
SELECT plan(18);
\ir _fixtures.psql
SET client_min_messages = error;

\ir _sim_dealers.psql
-- Posts a (possibly huge) JSON body through stdin, beyond any command-line limit.
CREATE FUNCTION pg_temp.sim_post(path text, body text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('COPY (SELECT %L::text) TO PROGRAM %L WITH (FORMAT csv, QUOTE E''\x01'', DELIMITER E''\x02'')', body,
                   'curl -s -o /dev/null -X POST -H ''Content-Type: application/json'' --data-binary @- '
                   || easycars_test.sh_quote(current_setting('easycars_test.sim_url') || path));
END $$;
CREATE FUNCTION pg_temp.sqlstate_of(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN EXECUTE q; RETURN 'ok';
EXCEPTION WHEN OTHERS THEN RETURN SQLSTATE;
END $$;

-- Hostile arguments: each call ends with a clear error (or works), never an internal error.
CREATE TEMP TABLE hostile (v text);
INSERT INTO hostile VALUES (NULL), (''), ('   '), (repeat('x', 1000000)), ($$'; DROP TABLE easycars.vehicle; --$$),
    (E'\x01\x02\x1b[31m'), ('Škoda 🚗 ‘N Line’'), ('-1'), ('2147483648'), ('NaN');
CREATE TEMP TABLE calls (template text);
INSERT INTO calls VALUES
    ('SELECT easycars.sync_stock(%s::int)'), ('SELECT easycars.push_leads(%s::int)'), ('SELECT easycars.sync_leads(%s::int)'),
    ('SELECT easycars.preview_stock_sync(%s::int)'), ('SELECT easycars.preview_stock_sync(1, %s::interval)'),
    ('SELECT * FROM easycars.archive_sync_logs(%s::interval)'), ('SELECT * FROM easycars.maintain_partitions(%s::int)'),
    ('SELECT * FROM easycars.maintain_partitions(1, %s::interval)'), ('SELECT * FROM easycars.verify_credentials(%s::int)'),
    ('SELECT easycars.set_credentials(1, %s, %1$s, %1$s, %1$s)'), ('SELECT easycars.set_credentials(1, client_id, client_secret, account_number, account_secret, %s) FROM d1'),
    ('SELECT easycars.set_credentials(1, client_id, client_secret, account_number, account_secret, ''Test'', %s) FROM d1'),
    ('SELECT easycars.set_credentials(1, client_id, client_secret, account_number, account_secret, ''Test'', NULL, %s) FROM d1'),
    ('SELECT * FROM easycars.schedule_syncs(%s, %1$s)'), ('SELECT easycars._foreign_table_ddl(%s, %1$s, %1$s, %1$s)'),
    ('CREATE SERVER hostile_s FOREIGN DATA WRAPPER easycars_fdw OPTIONS (dealership_id %s)'),
    ('CREATE SERVER hostile_s FOREIGN DATA WRAPPER easycars_fdw OPTIONS (dealership_id ''1'', base_url %s)'),
    ('CREATE SERVER hostile_s FOREIGN DATA WRAPPER easycars_fdw OPTIONS (dealership_id ''1'', timeout_ms %s)'),
    ('CREATE FOREIGN TABLE pg_temp.hostile_t (x text) SERVER easycars_d1 OPTIONS (entity %s)');
SELECT easycars._ensure_remote(1) \g /dev/null
CREATE TEMP TABLE outcomes AS
SELECT c.template, left(coalesce(h.v, 'NULL'), 20) AS value,
       pg_temp.sqlstate_of(format(c.template, coalesce(quote_literal(h.v), 'NULL'))) AS state
FROM calls c, hostile h;
SELECT is((SELECT count(*)::int FROM outcomes), (SELECT count(*)::int FROM calls) * (SELECT count(*)::int FROM hostile), 'every call ran');
SELECT is(ARRAY(SELECT DISTINCT template || ' <- ' || value || ': ' || state FROM outcomes WHERE state LIKE 'XX%' OR state = '58000'),
          '{}'::text[], 'no hostile argument causes an internal error');
SELECT ok((SELECT count(*) FROM easycars.vehicle) >= 0 AND to_regclass('easycars.vehicle') IS NOT NULL, 'and no injection ran');
SELECT ok((SELECT bool_and(state <> 'ok') FROM outcomes WHERE template LIKE '%dealership_id %s)%' OR template LIKE '%entity %s)%'),
          'no hostile option value is accepted');
SET LOCAL app.current_dealership_id = E'1\x01';
SELECT is(easycars.current_dealership_id(), NULL, 'a tenant setting with control characters names no dealership');
SET LOCAL app.current_dealership_id = '99999999999';
SELECT is(easycars.current_dealership_id(), NULL, 'an out-of-range tenant setting names no dealership');
RESET app.current_dealership_id;
-- Some hostile values are valid (a yard code may be unicode): restore the credentials.
SELECT easycars.set_credentials(n, client_id, client_secret, account_number, account_secret, 'Test', NULL,
                                current_setting('easycars_test.sim_url') || '/TestECService')
FROM easycars_test.sim_dealer WHERE n = 1 \g /dev/null

-- Hostile and malformed data from EasyCars: stored, skipped or NULL, with the sync still running.
-- (jsonb cannot hold \u0000, so the NUL is put into the JSON text on its way out.)
SELECT pg_temp.sim_post(format('/_sim/stock/%s/add', (SELECT account_number FROM d1)), replace(jsonb_build_object('items', jsonb_build_array(
    jsonb_build_object('StockNumber', 'BAD-PRICE', 'Price', 'abc'),
    jsonb_build_object('StockNumber', 'BAD-YEAR', 'YearGroup', 'not a year'),
    jsonb_build_object('StockNumber', 'HUGE', 'AdvDescription', repeat('Ten megabytes of description. ', 350000)),
    jsonb_build_object('StockNumber', 'HOSTILE', 'Badge', $$'; DROP TABLE easycars.vehicle; --$$, 'Make', E'\u0160koda \u0001 🚗', 'Series', 'nul NULMARK here'),
    jsonb_build_object('StockNumber', 'TYPES', 'IsUsed', 'yes', 'DoorNum', '4', 'Odometer', 12.0, 'Unknown', jsonb_build_object('nested', true))
))::text, 'NULMARK', '\u0000'));
CREATE TEMP TABLE s1 AS SELECT * FROM easycars.sync_stock(1);
SELECT is((SELECT status FROM s1)::text, 'Warning', 'a feed with an unusable item is a Warning, not a failure');
SELECT is((SELECT records_failed FROM s1), 1, 'the item without a year is counted failed');
SELECT is((SELECT price FROM easycars.vehicle WHERE dealership_id = 1 AND easycars_stock_number = 'BAD-PRICE'), NULL::numeric,
          'a price that is not a number is stored as NULL');
SELECT is((SELECT count(*)::int FROM easycars.vehicle WHERE dealership_id = 1 AND easycars_stock_number = 'BAD-YEAR'), 0, 'the yearless item is not stored');
SELECT ok((SELECT length(description) > 10000000 FROM easycars.vehicle WHERE dealership_id = 1 AND easycars_stock_number = 'HUGE'), 'a 10 MB description is stored whole');
SELECT results_eq($$SELECT badge, make FROM easycars.vehicle WHERE dealership_id = 1 AND easycars_stock_number = 'HOSTILE'$$,
                  $$VALUES ('''; DROP TABLE easycars.vehicle; --'::text, E'\u0160koda \u0001 🚗'::varchar)$$, 'hostile strings are stored verbatim, never run');
SELECT ok((SELECT series LIKE 'nul % here' AND easycars_raw_data->>'Series' LIKE 'nul % here' FROM easycars.vehicle WHERE dealership_id = 1 AND easycars_stock_number = 'HOSTILE'),
          'a NUL character (which Postgres text cannot hold) does not fail the sync');
SELECT results_eq($$SELECT is_used, door_count, mileage, easycars_raw_data->'Unknown' FROM easycars.vehicle WHERE dealership_id = 1 AND easycars_stock_number = 'TYPES'$$,
                  $$VALUES (true, 4, 12, '{"nested": true}'::jsonb)$$, 'loosely typed values are read, unknown keys kept in the raw item');

-- A cancel in the middle of a sync: stopped, rolled back, logged.
CREATE TEMP TABLE before_cancel AS SELECT md5(string_agg(v::text, '|' ORDER BY id)) AS digest FROM easycars.vehicle v WHERE dealership_id = 1;
SELECT easycars_test.sim('POST', format('/_sim/stock/%s/remove', (SELECT account_number FROM d1)), '{"stock_numbers": ["HUGE"]}') \g /dev/null
SELECT easycars_test.sim('POST', '/_sim/latency', '{"route": "GetAdvertisementStocks", "ms": 20000}') \g /dev/null
SET LOCAL statement_timeout = '1s';
CREATE TEMP TABLE s2 AS SELECT * FROM easycars.sync_stock(1);
RESET statement_timeout;
SELECT easycars_test.sim('POST', '/_sim/latency', '{"route": "GetAdvertisementStocks", "ms": 0}') \g /dev/null
SELECT is((SELECT status FROM s2)::text, 'Failed', 'a sync stopped by statement_timeout is logged Failed');
SELECT is((SELECT error_message FROM s2), 'canceling statement due to statement timeout', 'with the reason');
SELECT is((SELECT md5(string_agg(v::text, '|' ORDER BY id)) FROM easycars.vehicle v WHERE dealership_id = 1), (SELECT digest FROM before_cancel),
          'and no vehicle changed (nothing marked removed)');
SELECT is((SELECT status FROM easycars.sync_stock(1))::text, 'Warning', 'the next sync runs normally');

SELECT * FROM finish();
ROLLBACK;
