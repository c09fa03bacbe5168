-- pg_dump and pg_restore of a database that uses easycars: a fresh install, a real sync, then a
-- dump restored with --exit-on-error into a new database. Every row, the monthly partitions and
-- the identity sequences come back; credentials still decrypt and syncs run on the copy.
-- Runs outside a transaction (CREATE DATABASE cannot run in one); cleans up after itself.
SET client_min_messages = warning;
SELECT plan(14);

SELECT easycars_test.sim('POST', '/_sim/reset') IS NOT NULL AS reset \g /dev/null
CREATE FUNCTION pg_temp.conn(db text) RETURNS text LANGUAGE sql AS $$
    SELECT format('host=127.0.0.1 port=%s dbname=%s user=postgres', current_setting('port'), db) $$;
SELECT dblink_connect('admin', pg_temp.conn(current_database())) \g /dev/null
SELECT dblink_exec('admin', 'DROP DATABASE IF EXISTS easycars_dump_src') \g /dev/null
SELECT dblink_exec('admin', 'DROP DATABASE IF EXISTS easycars_dump_copy') \g /dev/null
SELECT dblink_exec('admin', 'CREATE DATABASE easycars_dump_src') \g /dev/null
SELECT dblink_connect('src', pg_temp.conn('easycars_dump_src')) \g /dev/null
SELECT dblink_exec('src', 'CREATE EXTENSION easycars CASCADE') \g /dev/null

SELECT is((SELECT n FROM dblink('src', $$SELECT count(*)::int FROM pg_inherits WHERE inhparent = 'easycars.sync_activity_log'::regclass$$) AS t(n int)),
          1, 'a fresh install has only the default activity partition');

-- Dealer 1 of the simulator as dealership 1; its secrets come from the simulator, never as SQL text.
SELECT dblink_exec('src', format($sql$
    SET client_min_messages = warning;
    CREATE TEMP TABLE manifest (line text);
    COPY manifest FROM PROGRAM %L WITH (FORMAT csv, QUOTE E'\x01', DELIMITER E'\x02');
    INSERT INTO easycars.dealership (id, name) VALUES (1, 'Dumped Motors');
    DO $do$ BEGIN
        PERFORM easycars.set_credentials(1, d->>'ClientID', d->>'ClientSecret', d->>'AccountNumber', d->>'AccountSecret', 'Test', NULL, %L)
        FROM manifest, jsonb_array_elements(line::jsonb->'dealers') WITH ORDINALITY AS x(d, n) WHERE n = 1;
        PERFORM easycars.sync_stock(1);
    END $do$;
$sql$, 'curl -s ' || current_setting('easycars_test.sim_url') || '/_sim/manifest',
       current_setting('easycars_test.sim_url') || '/TestECService')) \g /dev/null
SELECT is((SELECT n FROM dblink('src', $$SELECT count(*)::int FROM easycars.sync_activity_log_default$$) AS t(n int)) > 0, true,
          'before any maintenance the sync''s activity waits in the default partition');
SELECT dblink_exec('src', $$CALL easycars.run_due_syncs('stock')$$) \g /dev/null
SELECT is((SELECT ok FROM dblink('src', $$SELECT to_regclass(format('easycars.%I', 'sync_activity_log_p' || to_char(now() AT TIME ZONE 'UTC', 'YYYY_MM'))) IS NOT NULL
                                            AND NOT EXISTS (SELECT 1 FROM easycars.sync_activity_log_default WHERE created_at < now() + interval '1 month')$$) AS t(ok boolean)),
          true, 'run_due_syncs creates this month''s partition and moves the waiting rows into it');
-- Local data of every kind: a manual vehicle, a lead, and an activity row for a month far ahead
-- (it stays in the default partition, whose rows pg_dump must keep too).
SELECT dblink_exec('src', $$
    SET app.current_dealership_id = '1';
    INSERT INTO easycars.vehicle (dealership_id, make, model, year, title, data_source) VALUES (1, 'Local', 'Trade-in', 2019, '2019 Local Trade-in', 'Manual');
    INSERT INTO easycars.lead (dealership_id, name, email, vehicle_make, vehicle_model, vehicle_year, vehicle_type, is_vehicle_new)
    VALUES (1, 'Jo Citizen', 'jo@example.com', 'Toyota', 'HiLux', 2021, 'Car', false);
    INSERT INTO easycars.sync_activity_log (dealership_id, action, status, created_at) VALUES (1, 'sync_start', 'pending', now() + interval '5 years');
$$) \g /dev/null

CREATE TEMP TABLE snapshot_sql (q text);
INSERT INTO snapshot_sql VALUES ($$
    SELECT 'vehicle', count(*), coalesce(max(id), 0), md5(string_agg(easycars_stock_number || ':' || coalesce(easycars_raw_md5, ''), ',' ORDER BY id)) FROM easycars.vehicle
    UNION ALL SELECT 'lead', count(*), coalesce(max(id), 0), md5(string_agg(email, ',' ORDER BY id)) FROM easycars.lead
    UNION ALL SELECT 'sync_log', count(*), coalesce(max(id), 0), md5(string_agg(sync_type || status, ',' ORDER BY id)) FROM easycars.sync_log
    UNION ALL SELECT 'credentials', count(*), coalesce(max(id), 0), md5(string_agg(account_number_masked, ',' ORDER BY id)) FROM easycars.credentials
    UNION ALL SELECT tableoid::regclass::text, count(*), 0, md5(string_agg(id::text, ',' ORDER BY id)) FROM easycars.sync_activity_log GROUP BY tableoid
    UNION ALL SELECT 'partition ' || inhrelid::regclass::text, 0, 0, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits JOIN pg_class c ON c.oid = inhrelid
              WHERE inhparent = 'easycars.sync_activity_log'::regclass
$$);
CREATE TEMP TABLE src_snapshot AS
SELECT * FROM dblink('src', (SELECT 'SET app.current_dealership_id = ''1''; ' || q FROM snapshot_sql))
    AS t(what text, n bigint, max_id bigint, digest text);
SELECT dblink_disconnect('src') \g /dev/null

-- The dump and the restore, as a DBA would run them.
SELECT is(easycars_test.dump_restore('easycars_dump_src', 'easycars_dump_copy'), 'exit=0', 'pg_restore --exit-on-error restores the dump without a single error');

SELECT dblink_connect('copy', pg_temp.conn('easycars_dump_copy')) \g /dev/null
CREATE TEMP TABLE copy_snapshot AS
SELECT * FROM dblink('copy', (SELECT 'SET app.current_dealership_id = ''1''; ' || q FROM snapshot_sql))
    AS t(what text, n bigint, max_id bigint, digest text);
SELECT set_eq($$SELECT * FROM copy_snapshot WHERE what IN ('vehicle', 'lead', 'sync_log', 'credentials')$$,
              $$SELECT * FROM src_snapshot WHERE what IN ('vehicle', 'lead', 'sync_log', 'credentials')$$,
              'vehicles, leads, sync logs and credentials come back row for row');
SELECT set_eq($$SELECT * FROM copy_snapshot WHERE what LIKE 'easycars.sync_activity_log%'$$,
              $$SELECT * FROM src_snapshot WHERE what LIKE 'easycars.sync_activity_log%'$$,
              'the activity log comes back in the same partitions, the default one included');
SELECT set_eq($$SELECT * FROM copy_snapshot WHERE what LIKE 'partition %'$$, $$SELECT * FROM src_snapshot WHERE what LIKE 'partition %'$$,
              'the restored database has the partitions of the dumped one with the same bounds, and no others');
SELECT is((SELECT ok FROM dblink('copy', $$SELECT NOT EXISTS (SELECT 1 FROM pg_inherits i JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = i.inhrelid AND d.deptype = 'e'
                                                          WHERE i.inhparent = 'easycars.sync_activity_log'::regclass AND i.inhrelid <> 'easycars.sync_activity_log_default'::regclass)$$) AS t(ok boolean)),
          true, 'restored monthly partitions are user data again, not extension members');

-- The copy works: new ids do not collide, credentials decrypt, a sync runs and finds nothing new.
SELECT cmp_ok((SELECT id FROM dblink('copy', $$SET app.current_dealership_id = '1';
                  INSERT INTO easycars.vehicle (dealership_id, make, model, year, title, data_source) VALUES (1, 'New', 'Arrival', 2024, '2024 New Arrival', 'Manual') RETURNING id$$) AS t(id bigint)),
              '>', (SELECT max_id FROM src_snapshot WHERE what = 'vehicle'), 'a new vehicle gets a fresh id (the identity sequence was restored)');
SELECT cmp_ok((SELECT id FROM dblink('copy', $$SET app.current_dealership_id = '1';
                  INSERT INTO easycars.lead (dealership_id, name, email, vehicle_make, vehicle_model, vehicle_year, vehicle_type, is_vehicle_new)
                  VALUES (1, 'Sam', 'sam@example.com', 'Mazda', 'CX-5', 2022, 'Car', false) RETURNING id$$) AS t(id bigint)),
              '>', (SELECT max_id FROM src_snapshot WHERE what = 'lead'), 'so does a new lead');
SELECT is((SELECT ok FROM dblink('copy', $$SELECT bool_and(decryptable) FROM easycars.verify_credentials()$$) AS t(ok boolean)),
          true, 'the restored credentials decrypt with the same key file');
SELECT is((SELECT r FROM dblink('copy', $$SELECT format('%s created %s unchanged %s', status, records_created, records_unchanged) FROM easycars.sync_stock(1)$$) AS t(r text)),
          format('Success created 0 unchanged %s', (SELECT n FROM src_snapshot WHERE what = 'vehicle') - 1),
          'a stock sync on the copy succeeds and finds every vehicle unchanged (digests came back too)');
SELECT is((SELECT ok FROM dblink('copy', $$SELECT bool_and(relrowsecurity AND relforcerowsecurity) FROM pg_class
                                            WHERE oid IN ('easycars.vehicle'::regclass, 'easycars.lead'::regclass, 'easycars.credentials'::regclass)$$) AS t(ok boolean)),
          true, 'row-level security is on and forced in the copy');
SELECT is((SELECT n FROM dblink('copy', $$SET ROLE easycars_analyst; SET app.current_dealership_id = '2';
                                         SELECT count(*)::int FROM easycars.vehicle$$) AS t(n int)),
          0, 'and isolates dealerships: another dealership sees none of the restored vehicles');

SELECT dblink_disconnect('copy') \g /dev/null
SELECT dblink_exec('admin', 'DROP DATABASE easycars_dump_src') \g /dev/null
SELECT dblink_exec('admin', 'DROP DATABASE easycars_dump_copy') \g /dev/null
SELECT dblink_disconnect('admin') \g /dev/null

SELECT * FROM finish();
