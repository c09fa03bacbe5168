-- Syncs as SQL against the real simulator: stock in (create, update, unchanged, removed, back),
-- manual vehicles kept, failures leave data untouched, leads pushed and refreshed, previews, RLS.
BEGIN;
SELECT plan(65);
\ir _fixtures.psql

\ir _sim_dealers.psql
SET client_min_messages = warning;
CREATE FUNCTION pg_temp.counts(log_id bigint) RETURNS int[] LANGUAGE sql AS $$
    SELECT ARRAY[l.records_created, l.records_updated, l.records_unchanged, l.records_removed, l.records_failed]
    FROM easycars.sync_log l WHERE l.id = log_id $$;
CREATE FUNCTION pg_temp.writes() RETURNS bigint LANGUAGE sql AS $$
    SELECT n_tup_ins + n_tup_upd + n_tup_del FROM pg_stat_xact_user_tables WHERE relid = 'easycars.vehicle'::regclass $$;
CREATE FUNCTION pg_temp.vehicles_digest(d int) RETURNS text LANGUAGE sql AS $$
    SELECT md5(coalesce(string_agg(v::text, '|' ORDER BY id), '')) FROM easycars.vehicle v WHERE dealership_id = d $$;

-- A manual vehicle that shares a VIN with the feed, and one with the same stock number.
CREATE TEMP TABLE first_item AS SELECT easycars_test.sim('GET', format('/_sim/stock/%s/U00001', (SELECT account_number FROM d1))) AS item;
INSERT INTO easycars.vehicle (dealership_id, make, model, year, title, data_source, easycars_vin, price)
SELECT 1, 'HAND', 'ENTERED', 2020, 'Manual vehicle', 'Manual', upper(item->>'VIN'), 1 FROM first_item WHERE item->>'VIN' ~ '^[A-HJ-NPR-Z0-9]{1,17}$';
INSERT INTO easycars.vehicle (dealership_id, make, model, year, title, data_source, easycars_stock_number, price)
VALUES (1, 'IMPORTED', 'CAR', 2019, 'Imported vehicle', 'Import', 'U00002', 2);
CREATE TEMP TABLE manual_before AS SELECT id, make, price, updated_at FROM easycars.vehicle WHERE data_source <> 'EasyCars';
-- Dealership 2 has a vehicle the syncs of dealership 1 must never touch.
INSERT INTO easycars.vehicle (dealership_id, make, model, year, title, data_source, easycars_stock_number)
VALUES (2, 'OTHER', 'TENANT', 2021, 'Other tenant', 'EasyCars', 'U00001');
CREATE TEMP TABLE other_before AS SELECT pg_temp.vehicles_digest(2) AS digest;

-- First sync: everything created (but the two manual ones).
CREATE TEMP TABLE s1 AS SELECT * FROM easycars.sync_stock(1);
SELECT is((SELECT status FROM s1)::text, 'Success', 'the first sync succeeds');
SELECT is((SELECT records_created FROM s1), (SELECT vehicle_count FROM d1) - (SELECT count(*)::int FROM manual_before),
          'every feed vehicle is created except those that are Manual or Import here');
SELECT is((SELECT (response_summary->>'skipped_manual')::int FROM s1), (SELECT count(*)::int FROM manual_before), 'the skipped manual vehicles are reported');
SELECT results_eq('SELECT id, make, price, updated_at FROM easycars.vehicle WHERE data_source <> ''EasyCars'' AND dealership_id = 1 ORDER BY id',
                  'SELECT * FROM manual_before ORDER BY id', 'Manual and Import vehicles are untouched');
SELECT is(pg_temp.vehicles_digest(2), (SELECT digest FROM other_before), 'dealership 2''s vehicles are untouched');
SELECT ok((SELECT bool_and(data_source = 'EasyCars' AND last_synced_from_easycars IS NOT NULL AND easycars_raw_data ? 'StockNumber')
           FROM easycars.vehicle WHERE dealership_id = 1 AND data_source = 'EasyCars'), 'synced vehicles carry their source, time and raw item');

-- Mapping, checked against the raw item of every vehicle.
SELECT ok((SELECT bool_and(
              year = (easycars_raw_data->>'YearGroup')::int
          AND price IS NOT DISTINCT FROM (easycars_raw_data->>'Price')::numeric
          AND exterior_color IS NOT DISTINCT FROM nullif(easycars_raw_data->>'Colour', '')
          AND interior_color IS NOT DISTINCT FROM nullif(easycars_raw_data->>'InteriorColor', '')
          AND body IS NOT DISTINCT FROM nullif(easycars_raw_data->>'Body', '')
          AND fuel_type IS NOT DISTINCT FROM nullif(easycars_raw_data->>'FuelType', '')
          AND gear_type IS NOT DISTINCT FROM nullif(easycars_raw_data->>'GearType', '')
          AND door_count IS NOT DISTINCT FROM (easycars_raw_data->>'DoorNum')::int
          AND stock_status IS NOT DISTINCT FROM nullif(easycars_raw_data->>'StockStatus', '')
          AND condition = CASE WHEN (easycars_raw_data->>'IsDemo')::boolean THEN 'demo' WHEN (easycars_raw_data->>'IsUsed')::boolean THEN 'used' ELSE 'new' END
          AND badge IS NOT DISTINCT FROM nullif(btrim(easycars_raw_data->>'Badge'), '')
          AND images = coalesce((SELECT jsonb_agg(btrim(u)) FROM unnest(string_to_array(nullif(easycars_raw_data->>'ImageURLs', ''), ',')) u WHERE btrim(u) <> ''), '[]')
          AND features = coalesce((SELECT jsonb_agg(btrim(f)) FROM unnest(string_to_array(nullif(concat_ws(',', nullif(easycars_raw_data->>'StandardFeatures', ''), nullif(easycars_raw_data->>'OptionalFeatures', '')), ''), ',')) f WHERE btrim(f) <> ''), '[]'))
          FROM easycars.vehicle WHERE dealership_id = 1 AND data_source = 'EasyCars'),
          'colours, body, fuel, gear, doors, stock status, condition, badge, images and features map from the right EasyCars fields');

-- A second identical sync writes nothing at all.
CREATE TEMP TABLE w0 AS SELECT pg_temp.writes() AS n;
-- Live counts: a sync run's foreign scans publish "<n> of <total> read" in application_name
-- while they read (at least once a second), where easycars.running_syncs shows them to any
-- session before the run commits. Outside a run nothing is published.
SET LOCAL application_name = 'psql';
SELECT count(*) AS stock_items FROM easycars_remote.stock_d1 \gset
SELECT is(current_setting('application_name'), 'psql', 'a scan outside a sync run publishes nothing');
SET LOCAL easycars_run.label = 'easycars stock d=1 run=0';
SELECT count(*) FROM easycars_remote.stock_d1 \g /dev/null
SELECT is(current_setting('application_name'), format('easycars stock d=1 run=0: %s of %s read', :stock_items, :stock_items),
          'a sync''s scan publishes how many items it read of how many');
SELECT pg_stat_clear_snapshot();
SELECT results_eq($$SELECT processed, total FROM easycars.running_syncs WHERE pid = pg_backend_pid()$$,
                  format('VALUES (%s::bigint, %s::bigint)', :stock_items, :stock_items),
                  'and running_syncs reads processed and total from it');
SET LOCAL easycars_run.label = '';
SET LOCAL application_name = 'psql';

CREATE TEMP TABLE s2 AS SELECT * FROM easycars.sync_stock(1);
SELECT is(pg_temp.counts((SELECT id FROM s2)), ARRAY[0, 0, (SELECT records_created FROM s1), 0, 0], 'a second sync finds everything unchanged');
SELECT is(pg_temp.writes() - (SELECT n FROM w0), 0::bigint, 'and writes no tuple (no dead rows, no updated_at bump)');

-- EasyCars changes between syncs: one added, one changed, one removed.
CREATE TEMP TABLE gone AS SELECT easycars_raw_data AS item, easycars_stock_number AS sn FROM easycars.vehicle
                          WHERE dealership_id = 1 AND data_source = 'EasyCars' ORDER BY easycars_stock_number DESC LIMIT 1;
CREATE TEMP TABLE changed AS SELECT easycars_stock_number AS sn FROM easycars.vehicle
                             WHERE dealership_id = 1 AND data_source = 'EasyCars' ORDER BY easycars_stock_number DESC OFFSET 1 LIMIT 1;
SELECT easycars_test.sim('POST', format('/_sim/stock/%s/add', (SELECT account_number FROM d1)), '{"count": 1}') \g /dev/null
SELECT easycars_test.sim('POST', format('/_sim/stock/%s/change', (SELECT account_number FROM d1)),
                         jsonb_build_object('stock_number', (SELECT sn FROM changed), 'fields', jsonb_build_object('Price', 12345, 'InteriorColor', 'Tan'))) \g /dev/null
SELECT easycars_test.sim('POST', format('/_sim/stock/%s/remove', (SELECT account_number FROM d1)), jsonb_build_object('stock_numbers', jsonb_build_array((SELECT sn FROM gone)))) \g /dev/null
CREATE TEMP TABLE s3 AS SELECT * FROM easycars.sync_stock(1);
SELECT is(pg_temp.counts((SELECT id FROM s3)), ARRAY[1, 1, (SELECT records_created FROM s1) - 2, 1, 0], 'added, changed and removed show up as created, updated and removed');
SELECT results_eq(format('SELECT price, interior_color::text FROM easycars.vehicle WHERE dealership_id = 1 AND easycars_stock_number = %L', (SELECT sn FROM changed)),
                  $$VALUES (12345.00::numeric(12,2), 'Tan')$$, 'the changed vehicle has the new price and interior colour');
SELECT results_eq(format('SELECT status::text, removed_from_easycars_at IS NOT NULL FROM easycars.vehicle WHERE dealership_id = 1 AND easycars_stock_number = %L', (SELECT sn FROM gone)),
                  $$VALUES ('removed', true)$$, 'a vanished vehicle is kept, marked removed with a time');
SELECT easycars_test.sim('POST', format('/_sim/stock/%s/add', (SELECT account_number FROM d1)), jsonb_build_object('items', jsonb_build_array((SELECT item FROM gone)))) \g /dev/null
CREATE TEMP TABLE s4 AS SELECT * FROM easycars.sync_stock(1);
SELECT results_eq(format('SELECT status::text, removed_from_easycars_at IS NULL FROM easycars.vehicle WHERE dealership_id = 1 AND easycars_stock_number = %L', (SELECT sn FROM gone)),
                  $$VALUES ('active', true)$$, 'it comes back when it reappears');
SELECT is((SELECT records_updated FROM s4), 1, 'only the returning vehicle is written');

-- A preview is exactly what the sync then does, on a mixed delta: one new, one changed, one gone,
-- one whose stock number a Manual vehicle holds, one EasyCars sent that cannot be stored.
INSERT INTO easycars.vehicle (dealership_id, make, model, year, title, data_source, easycars_stock_number)
VALUES (1, 'Local', 'Car', 2020, 'Local Car', 'Manual', 'M-PREVIEW');
SELECT easycars_test.sim('POST', format('/_sim/stock/%s/add', (SELECT account_number FROM d1)),
       '{"count": 1, "items": [{"StockNumber": "M-PREVIEW"}, {"StockNumber": "BAD-YEAR", "YearGroup": 1800}]}') \g /dev/null
SELECT easycars_test.sim('POST', format('/_sim/stock/%s/change', (SELECT account_number FROM d1)),
                         jsonb_build_object('stock_number', (SELECT sn FROM changed), 'fields', jsonb_build_object('Price', 23456))) \g /dev/null
SELECT easycars_test.sim('POST', format('/_sim/stock/%s/remove', (SELECT account_number FROM d1)), jsonb_build_object('stock_numbers', jsonb_build_array((SELECT sn FROM gone)))) \g /dev/null
CREATE TEMP TABLE mixed_preview AS SELECT easycars.preview_stock_sync(1) AS d;
CREATE TEMP TABLE mixed_sync AS SELECT * FROM easycars.sync_stock(1);
SELECT is((SELECT jsonb_build_object('create', jsonb_array_length(d->'create'), 'update', jsonb_array_length(d->'update'),
                                     'remove', jsonb_array_length(d->'remove'), 'skipped_manual', jsonb_array_length(d->'skipped_manual'),
                                     'invalid', jsonb_array_length(d->'invalid')) FROM mixed_preview),
          (SELECT jsonb_build_object('create', response_summary->'created', 'update', response_summary->'updated',
                                     'remove', response_summary->'removed', 'skipped_manual', response_summary->'skipped_manual',
                                     'invalid', response_summary->'failed') FROM mixed_sync),
          'the preview of a mixed delta is exactly what the sync then does');
SELECT is((SELECT d->'counts' FROM mixed_preview), '{"create": 1, "update": 1, "remove": 1}'::jsonb, 'one to create, one to update, one to remove');
SELECT easycars_test.sim('POST', format('/_sim/stock/%s/remove', (SELECT account_number FROM d1)), '{"stock_numbers": ["M-PREVIEW", "BAD-YEAR"]}') \g /dev/null
DELETE FROM easycars.vehicle WHERE dealership_id = 1 AND easycars_stock_number = 'M-PREVIEW';

-- A failing API leaves the data exactly as it was and a Failed log.
CREATE TEMP TABLE before_fail AS SELECT pg_temp.vehicles_digest(1) AS digest;
SELECT easycars_test.sim('POST', format('/_sim/stock/%s/remove', (SELECT account_number FROM d1)), jsonb_build_object('stock_numbers', jsonb_build_array('U00003'))) \g /dev/null
SELECT easycars_test.sim('POST', '/_sim/faults', '{"route": "GetAdvertisementStocks", "kind": "http_status", "status": 500, "times": 20}') \g /dev/null
CREATE TEMP TABLE s5 AS SELECT * FROM easycars.sync_stock(1);
SELECT easycars_test.sim('DELETE', '/_sim/faults') \g /dev/null
SELECT is((SELECT status FROM s5)::text, 'Failed', 'a 500 from EasyCars gives a Failed run');
SELECT matches((SELECT error_message FROM s5), '500', 'whose error message says what happened');
SELECT is(pg_temp.vehicles_digest(1), (SELECT digest FROM before_fail), 'and leaves every vehicle exactly as before (nothing marked removed)');
SELECT is((SELECT status FROM easycars.sync_log WHERE dealership_id = 1 AND id = (SELECT id FROM s5))::text, 'Failed', 'the Failed log row is stored');
SELECT isnt((SELECT last_error FROM easycars.sync_state WHERE dealership_id = 1 AND entity_type = 'stock'), NULL, 'sync_state records the last error');
SELECT is((SELECT count(*)::int FROM easycars.recent_failed_syncs WHERE sync_log_id = (SELECT id FROM s5)), 1, 'recent_failed_syncs shows it');
SELECT is((SELECT array_agg(action || ':' || status ORDER BY created_at, action) FROM easycars.sync_activity_log WHERE dealership_id = 1 AND sync_id = (SELECT id FROM s5)::text),
          ARRAY['sync_start:in_progress', 'manual_trigger:in_progress', 'sync_complete:failed'],
          'the activity log records the Failed run as started by hand and failed, never completed');
CREATE TEMP TABLE s6 AS SELECT * FROM easycars.sync_stock(1);
SELECT is((SELECT records_removed FROM s6), 1, 'the next complete feed marks the vehicle removed');
SELECT is((SELECT last_error FROM easycars.sync_state WHERE dealership_id = 1 AND entity_type = 'stock'), NULL, 'and a success clears the last error');

-- The log, progress, activity and state of a run.
SELECT ok((SELECT bool_and(completed_at >= started_at AND request_payload IS NOT NULL AND response_summary IS NOT NULL) FROM easycars.sync_log WHERE dealership_id = 1),
          'every run has timing, its request and a response summary');
SELECT results_eq(format('SELECT total_items, processed_count, completed_at IS NOT NULL FROM easycars.sync_progress WHERE dealership_id = 1 AND sync_id = %L', (SELECT id FROM s6)::text),
                  format('VALUES (%s, %s, true)', (SELECT records_processed FROM s6), (SELECT records_processed FROM s6)), 'sync_progress shows the completed run');
SELECT is((SELECT array_agg(action::text ORDER BY created_at, action) FROM easycars.sync_activity_log WHERE dealership_id = 1 AND sync_id = (SELECT id FROM s6)::text),
          ARRAY['sync_start', 'manual_trigger', 'sync_complete', 'error_recovery'],
          'the activity log has its start (by hand), completion, and the recovery from the failure before it');
SELECT isnt((SELECT last_synced_at FROM easycars.credentials WHERE dealership_id = 1), NULL, 'credentials.last_synced_at is stamped');
SELECT ok((SELECT sum(total_syncs) >= 6 FROM easycars.sync_performance_7d WHERE sync_type = 'Stock'), 'sync_performance_7d counts the runs');

-- The sync's plans are cached by PL/pgSQL: calling it in a loop must keep working.
SELECT lives_ok($q$DO $do$ BEGIN FOR i IN 1..3 LOOP
                     IF (easycars.sync_stock(1)).status <> 'Success' THEN RAISE EXCEPTION 'run % did not succeed', i; END IF;
                   END LOOP; END $do$ $q$, 'sync_stock runs three times from a loop in one session');

-- Preview: the delta, cached, without touching vehicles.
SELECT easycars_test.sim('POST', format('/_sim/stock/%s/add', (SELECT account_number FROM d1)), '{"count": 2}') \g /dev/null
CREATE TEMP TABLE before_preview AS SELECT pg_temp.vehicles_digest(1) AS digest;
CREATE TEMP TABLE p AS SELECT easycars.preview_stock_sync(1) AS delta;
SELECT is((SELECT delta->'counts' FROM p), '{"create": 2, "update": 0, "remove": 0}'::jsonb, 'the preview shows two vehicles to create');
SELECT is(pg_temp.vehicles_digest(1), (SELECT digest FROM before_preview), 'a preview changes no vehicle');
SELECT is((SELECT delta_json FROM easycars.sync_preview_cache WHERE dealership_id = 1 AND cache_key = 'preview_stock_sync' AND expires_at > now()),
          (SELECT delta FROM p), 'the preview is cached with a TTL');

-- Tenant rule for syncs.
SET LOCAL ROLE ec_sync;
SET LOCAL app.current_dealership_id = '2';
SELECT throws_ok('SELECT easycars.sync_stock(1)', '42501', NULL, 'a session acting for dealership 2 cannot sync dealership 1');
SET LOCAL app.current_dealership_id = '1';
SELECT is((easycars.sync_stock(1)).status::text, 'Success', 'the sync role acting for dealership 1 syncs it');
RESET ROLE;
SELECT is(pg_temp.vehicles_digest(2), (SELECT digest FROM other_before), 'dealership 2''s vehicles are still untouched');

-- Leads out: created in EasyCars with their numbers stored; failures recorded; then updates.
INSERT INTO easycars.lead (dealership_id, vehicle_id, name, email, mobile, message, rating, vehicle_interest_type, data_source)
SELECT 1, id, 'Web Buyer', 'web.buyer@example.com', '0400000001', 'Is it available?', 'Warm', 'TestDrive', 'WebForm'
FROM easycars.vehicle WHERE dealership_id = 1 AND data_source = 'EasyCars' AND status = 'active' ORDER BY id LIMIT 1;
INSERT INTO easycars.lead (dealership_id, name, email, message, data_source)
VALUES (1, 'No Vehicle', 'nov@example.com', 'Just browsing', 'Manual');
CREATE TEMP TABLE pl AS SELECT * FROM easycars.push_leads(1);
SELECT is((SELECT status FROM pl)::text, 'Warning', 'one lead failing makes the push a Warning');
SELECT is(ARRAY[(SELECT records_created FROM pl), (SELECT records_failed FROM pl)], ARRAY[1, 1], 'one lead created, one failed');
SELECT ok((SELECT easycars_lead_number ~ '^[0-9]{6}$' AND easycars_customer_no ~ '^[0-9]{5}$' AND last_synced_to_easycars IS NOT NULL
           FROM easycars.lead WHERE dealership_id = 1 AND email = 'web.buyer@example.com'), 'the created lead stores its LeadNumber and CustomerNo');
SELECT matches((SELECT last_push_error FROM easycars.lead WHERE dealership_id = 1 AND email = 'nov@example.com'), 'vehicle', 'the failed lead records why');
SELECT is((SELECT body->'LeadCustomer'->>'Name' FROM (SELECT easycars_test.sim('GET', '/_sim/stats') #> '{routes,CreateLead,last_requests,-1,body}' AS body) b),
          'Web Buyer', 'CreateLead got the nested LeadCustomer');
SELECT is((easycars_test.sim('GET', '/_sim/leads') #>> ARRAY['external_ids', (SELECT id::text FROM easycars.lead WHERE dealership_id = 1 AND email = 'web.buyer@example.com'), 'created'])::int, 1,
          'EasyCars holds exactly one lead for the local lead (ExternalID = local id)');
CREATE TEMP TABLE pl2 AS SELECT * FROM easycars.push_leads(1);
SELECT is((SELECT records_created FROM pl2), 0, 'pushing again creates nothing twice');
UPDATE easycars.lead SET rating = 'Hot', status = 'in_progress' WHERE dealership_id = 1 AND email = 'web.buyer@example.com';
CREATE TEMP TABLE pl3 AS SELECT * FROM easycars.push_leads(1);
SELECT is((SELECT records_updated FROM pl3), 1, 'a local change is pushed with UpdateLead');
SELECT results_eq($$SELECT (body->>'Rating')::int, (body->>'LeadStatus')::int FROM (SELECT easycars_test.sim('GET', '/_sim/stats') #> '{routes,UpdateLead,last_requests,-1,body}' AS body) b$$,
                  'VALUES (3, 30)', 'with the documented codes (Hot = 3, In Progress = 30)');

-- Leads in: refreshed from GetLeadDetail.
CREATE TEMP TABLE sl AS SELECT * FROM easycars.sync_leads(1);
SELECT is((SELECT status FROM sl)::text, 'Success', 'the lead refresh succeeds');
SELECT ok((SELECT easycars_raw_data->>'LeadNumber' = easycars_lead_number AND last_synced_from_easycars IS NOT NULL
           FROM easycars.lead WHERE dealership_id = 1 AND email = 'web.buyer@example.com'), 'the lead holds EasyCars'' detail as raw data');
CREATE TEMP TABLE sl2 AS SELECT * FROM easycars.sync_leads(1);
SELECT is(pg_temp.counts((SELECT id FROM sl2)), ARRAY[0, 0, 1, 0, 0], 'a second refresh changes nothing');

-- Scheduling with pg_cron (the jobs vanish with this test's rollback). Where pg_cron is not
-- installed (PostgreSQL 18 here) both calls refuse clearly, and the rest is reported skipped.
SELECT to_regnamespace('cron') IS NOT NULL AS has_pg_cron \gset
\if :has_pg_cron
SELECT is((SELECT array_agg(job_name ORDER BY job_name) FROM easycars.schedule_syncs()),
          ARRAY['easycars-archive', 'easycars-lead-scores', 'easycars-leads', 'easycars-partitions', 'easycars-previews', 'easycars-stock'],
          'schedule_syncs creates the two sync jobs and the four maintenance jobs, named');
SELECT results_eq($$SELECT schedule, command FROM cron.job WHERE jobname = 'easycars-lead-scores'$$,
                  $$VALUES ('15 3 * * *'::text, 'SELECT easycars.refresh_lead_scores()'::text)$$, 'lead scores catch up with time nightly');
SELECT results_eq($$SELECT schedule, command FROM cron.job WHERE jobname = 'easycars-stock'$$,
                  $$VALUES ('*/15 * * * *'::text, 'CALL easycars.run_due_syncs(''stock'')'::text)$$, 'the stock job CALLs run_due_syncs');
SELECT results_eq($$SELECT schedule, command FROM cron.job WHERE jobname = 'easycars-previews'$$,
                  $$VALUES ('*/15 * * * *'::text, 'SELECT easycars.cleanup_preview_cache()'::text)$$, 'previews are cleaned every 15 minutes');
SELECT is((SELECT count(*)::int FROM easycars.schedule_syncs('*/5 * * * *')), 6, 'scheduling again replaces the jobs');
SELECT is((SELECT count(*)::int FROM cron.job WHERE jobname LIKE 'easycars-%'), 6, 'no duplicate jobs');
SELECT is((SELECT count(*)::int FROM easycars.schedule_syncs(workers => 3)), 10, 'with workers => 3, three stock and three lead workers');
SELECT is(ARRAY(SELECT jobname::text FROM cron.job WHERE jobname LIKE 'easycars-stock%' ORDER BY 1),
          ARRAY['easycars-stock', 'easycars-stock-2', 'easycars-stock-3'], 'named easycars-stock, easycars-stock-2, ...');
SELECT is((SELECT count(*)::int FROM easycars.schedule_syncs(workers => 2)), 8, 'scheduling fewer workers drops the extra ones');
SELECT is((SELECT count(*)::int FROM cron.job WHERE jobname LIKE 'easycars-%'), 8, 'no job is left over');
SELECT is(easycars.unschedule_syncs(), 8, 'unschedule_syncs removes them all');
\else
SELECT throws_ok('SELECT easycars.schedule_syncs()', '42704', 'pg_cron is not installed in this database',
                 'without pg_cron, schedule_syncs refuses and says why');
SELECT throws_ok('SELECT easycars.unschedule_syncs()', '42704', 'pg_cron is not installed in this database',
                 'and so does unschedule_syncs');
SELECT skip('pg_cron is not installed (it is not available for PostgreSQL 18): its jobs cannot be checked', 9);
\endif

-- sync_state: one row per direction, the end of the run, what was stored.
SELECT is(ARRAY(SELECT direction::text FROM easycars.sync_state WHERE dealership_id = 1 AND entity_type = 'lead' ORDER BY 1),
          ARRAY['inbound', 'outbound'], 'lead push and lead refresh keep their own sync_state rows');
SELECT ok((SELECT last_full_sync > now() FROM easycars.sync_state WHERE dealership_id = 1 AND entity_type = 'stock'),
          'last_full_sync is the end of the run (wall clock), not the start of the transaction');

SELECT * FROM finish();
ROLLBACK;
