-- ALTER EXTENSION easycars UPDATE from 0.1.0 (the install script it shipped with is in
-- fixtures/) to this version: the data stays, and the catalog is exactly that of a fresh install:
-- every column, key, index, constraint, trigger, policy, function body, grant, comment, extension
-- member and config table. Then the upgraded database survives pg_dump / pg_restore.
-- Runs outside a transaction (CREATE DATABASE cannot run in one); cleans up after itself.
SET client_min_messages = warning;
SELECT plan(9);

CREATE FUNCTION pg_temp.conn(db text) RETURNS text LANGUAGE sql AS $$
    SELECT format('host=127.0.0.1 port=%s dbname=%s user=postgres', current_setting('port'), db) $$;
SELECT dblink_connect('admin', pg_temp.conn(current_database())) \g /dev/null
SELECT dblink_exec('admin', 'DROP DATABASE IF EXISTS ' || d) FROM unnest(ARRAY['easycars_up_old', 'easycars_up_new', 'easycars_up_copy']) d \g /dev/null
SELECT dblink_exec('admin', 'CREATE DATABASE ' || d) FROM unnest(ARRAY['easycars_up_old', 'easycars_up_new']) d \g /dev/null
SELECT dblink_connect('old', pg_temp.conn('easycars_up_old')) \g /dev/null
SELECT dblink_connect('new', pg_temp.conn('easycars_up_new')) \g /dev/null

-- 0.1.0 with data in it: a dealership, vehicles, a lead, a sync log, activity in this month's
-- partition and in the default one.
SELECT dblink_exec('old', $$CREATE EXTENSION easycars VERSION '0.1.0' CASCADE$$) \g /dev/null
SELECT dblink_exec('old', $$
    INSERT INTO easycars.dealership (id, name) VALUES (1, 'Upgraded Motors');
    SET app.current_dealership_id = '1';
    INSERT INTO easycars.vehicle (dealership_id, make, model, year, title, data_source, easycars_stock_number)
    SELECT 1, 'Toyota', 'Corolla', 2020, 'Corolla ' || i, 'EasyCars', 'U' || i FROM generate_series(1, 20) i;
    INSERT INTO easycars.lead (dealership_id, name, email, vehicle_make, vehicle_model, vehicle_year, vehicle_type, is_vehicle_new)
    VALUES (1, 'Jo Citizen', 'jo@example.com', 'Toyota', 'HiLux', 2021, 'Car', false);
    INSERT INTO easycars.sync_log (dealership_id, sync_type, sync_direction, status) VALUES (1, 'Stock', 'Inbound', 'Success');
    INSERT INTO easycars.sync_activity_log (dealership_id, action, status, created_at)
    VALUES (1, 'sync_start', 'pending', now()), (1, 'sync_start', 'pending', now() + interval '5 years');
$$) \g /dev/null
CREATE TEMP TABLE counts_sql (q text);
INSERT INTO counts_sql VALUES ($$
    SELECT format('vehicles %s, leads %s, sync logs %s, activity %s (default %s)',
                  (SELECT count(*) FROM easycars.vehicle), (SELECT count(*) FROM easycars.lead), (SELECT count(*) FROM easycars.sync_log),
                  (SELECT count(*) FROM easycars.sync_activity_log), (SELECT count(*) FROM easycars.sync_activity_log_default)) $$);
CREATE TEMP TABLE before AS SELECT * FROM dblink('old', (SELECT q FROM counts_sql)) AS t(counts text);

SELECT is((SELECT v FROM dblink('old', $$ALTER EXTENSION easycars UPDATE; SELECT extversion FROM pg_extension WHERE extname = 'easycars'$$) AS t(v text)),
          (SELECT default_version FROM pg_available_extensions WHERE name = 'easycars'), 'ALTER EXTENSION easycars UPDATE reaches this version');
SELECT is((SELECT counts FROM dblink('old', (SELECT q FROM counts_sql)) AS t(counts text)), (SELECT counts FROM before),
          'every row is still there: ' || (SELECT counts FROM before));

SELECT is((SELECT v FROM dblink('old', $$SELECT string_agg(format('%s=%s', score, easycars.lead_score(l)), ',') FROM easycars.lead l$$) AS t(v text)),
          '15=15', 'the lead made before scores existed is scored by the update (created today: 15 points)');

-- A fresh install, with the monthly partitions 0.1.0 made at install time made the 0.2.0 way.
SELECT dblink_exec('new', 'CREATE EXTENSION easycars CASCADE') \g /dev/null
SELECT * FROM dblink('new', 'SELECT count(*) FROM easycars.maintain_partitions()') AS t(n bigint) \g /dev/null

\ir _catalog.psql
CREATE TEMP TABLE upgraded AS SELECT * FROM dblink('old', (SELECT q FROM catalog_sql)) AS t(kind text, name text, def text);
CREATE TEMP TABLE fresh AS SELECT * FROM dblink('new', (SELECT q FROM catalog_sql)) AS t(kind text, name text, def text);
SELECT cmp_ok((SELECT count(*)::int FROM fresh), '>', 500, 'the catalog comparison covers the whole extension');
SELECT set_eq('SELECT * FROM upgraded', 'SELECT * FROM fresh',
              'the upgraded catalog is the fresh install''s: objects, definitions, grants, comments, members, config tables');
SELECT is((SELECT count(*)::int FROM upgraded WHERE kind = 'index' AND name LIKE 'easycars.sync_activity_log_p%_pkey'), 4,
          'each monthly partition 0.1.0 made now has its own key');

-- The upgraded database works: a partition is made with its key, and pg_dump / pg_restore
-- --exit-on-error succeed (0.1.0's layout could not be restored).
SELECT is((SELECT n FROM dblink('old', $$SELECT count(*)::int FROM easycars.maintain_partitions(5) WHERE action = 'created'$$) AS t(n int)), 2,
          'maintain_partitions makes the next months on the upgraded database');
SELECT dblink_disconnect(c) FROM unnest(ARRAY['old', 'new']) c \g /dev/null
SELECT is(easycars_test.dump_restore('easycars_up_old', 'easycars_up_copy'), 'exit=0', 'the upgraded database dumps and restores with --exit-on-error');
SELECT is((SELECT counts FROM dblink(pg_temp.conn('easycars_up_copy'), (SELECT q FROM counts_sql)) AS t(counts text)), (SELECT counts FROM before),
          'and the copy has every row');

SELECT dblink_exec('admin', 'DROP DATABASE ' || d) FROM unnest(ARRAY['easycars_up_old', 'easycars_up_new', 'easycars_up_copy']) d \g /dev/null
SELECT dblink_disconnect('admin') \g /dev/null

SELECT * FROM finish();
