-- cleanup_preview_cache, archive_sync_logs and maintain_partitions do what they say.
BEGIN;
SELECT plan(25);
\ir _fixtures.psql

-- cleanup_preview_cache: only expired rows go, of every dealership.
UPDATE easycars.sync_preview_cache SET computed_at = now() - interval '2 hours', expires_at = now() - interval '1 hour';
INSERT INTO easycars.sync_preview_cache (dealership_id, entity_type, cache_key) VALUES (101, 'stock', 'fresh');
SELECT results_eq('SELECT deleted_count, error_message FROM easycars.cleanup_preview_cache()',
                  $$VALUES (2, NULL::text)$$, 'cleanup deletes the two expired previews');
SELECT is((SELECT array_agg(cache_key) FROM easycars.sync_preview_cache), ARRAY['fresh']::varchar[], 'the fresh preview stays');
SELECT results_eq('SELECT deleted_count FROM easycars.cleanup_preview_cache()', $$VALUES (0)$$, 'a second cleanup finds nothing');

-- archive_sync_logs: old finished runs move, running ones stay, very old archive rows go.
INSERT INTO easycars.sync_log (dealership_id, sync_type, sync_direction, status, started_at, completed_at)
VALUES (101, 'Stock', 'Inbound', 'Success', now() - interval '100 days', now() - interval '100 days'),
       (102, 'Lead', 'Outbound', 'Failed', now() - interval '95 days', now() - interval '95 days'),
       (101, 'Stock', 'Inbound', 'InProgress', now() - interval '120 days', NULL),
       (101, 'Stock', 'Inbound', 'Success', now() - interval '10 days', now() - interval '10 days');
INSERT INTO easycars.sync_log_archive (id, dealership_id, sync_type, sync_direction, status, started_at, triggered_by, created_at)
VALUES (9003, 101, 'Stock', 'Inbound', 'Success', now() - interval '3 years', 'x', now() - interval '3 years');
SELECT results_eq('SELECT archived_count, purged_count FROM easycars.archive_sync_logs()', $$VALUES (2::bigint, 1::bigint)$$,
                  'two old runs archived, one 3-year-old archive row purged');
SELECT is((SELECT count(*)::int FROM easycars.sync_log WHERE started_at < now() - interval '90 days'), 1, 'only the in-progress old run stays');
SELECT is((SELECT count(*)::int FROM easycars.sync_log_archive WHERE started_at > now() - interval '101 days'), 2, 'the archived rows are in the archive');
SELECT results_eq('SELECT archived_count, purged_count FROM easycars.archive_sync_logs(interval ''5 days'', interval ''2 years'')',
                  $$VALUES (1::bigint, 0::bigint)$$, 'a shorter window archives the 10-day-old run');
SELECT throws_ok($$SELECT * FROM easycars.archive_sync_logs(interval '-1 day')$$, '22023', NULL, 'a negative window is refused');
SELECT throws_ok($$SELECT * FROM easycars.archive_sync_logs(NULL)$$, '22023', NULL, 'a NULL window is refused');

-- maintain_partitions across a year boundary.
SELECT results_eq(
    $$SELECT partition_name, action FROM easycars.maintain_partitions(3, '12 months', '2031-11-15 12:00+00') WHERE action = 'created' ORDER BY 1$$,
    $$VALUES ('sync_activity_log_p2031_11', 'created'), ('sync_activity_log_p2031_12', 'created'),
             ('sync_activity_log_p2032_01', 'created'), ('sync_activity_log_p2032_02', 'created')$$,
    'November 2031 plus three months ahead crosses into 2032');
SELECT is((SELECT pg_get_expr(c.relpartbound, c.oid) FROM pg_class c WHERE c.relname = 'sync_activity_log_p2032_01'),
          $$FOR VALUES FROM ('2032-01-01 00:00:00+00') TO ('2032-02-01 00:00:00+00')$$, 'bounds are UTC months');
SELECT is((SELECT count(*)::int FROM easycars.maintain_partitions(3, '12 months', '2031-11-15 12:00+00') WHERE action = 'created'), 0,
          'running again creates nothing');

-- A row for a month without a partition lands in the default partition, then moves.
INSERT INTO easycars.sync_activity_log (dealership_id, action, status, created_at) VALUES (101, 'sync_start', 'pending', '2032-03-10 09:00+00');
SELECT is((SELECT tableoid::regclass::text FROM easycars.sync_activity_log WHERE created_at = '2032-03-10 09:00+00'),
          'easycars.sync_activity_log_default', 'a month without a partition does not fail an insert');
SELECT results_eq(
    $$SELECT partition_name, action, row_count FROM easycars.maintain_partitions(3, '12 months', '2031-12-01 00:00+00') WHERE action = 'created'$$,
    $$VALUES ('sync_activity_log_p2032_03', 'created', 1::bigint)$$, 'the new March partition takes the waiting row');
SELECT is((SELECT tableoid::regclass::text FROM easycars.sync_activity_log WHERE created_at = '2032-03-10 09:00+00'),
          'easycars.sync_activity_log_p2032_03', 'the row now lives in its month');
SELECT is((SELECT count(*)::int FROM easycars.sync_activity_log_default), 0, 'the default partition is empty again');

-- Retention: a year later, months older than 12 months are dropped, with their row counts.
SELECT set_eq(
    $$SELECT partition_name FROM easycars.maintain_partitions(0, '12 months', '2033-01-15 00:00+00') WHERE action = 'dropped'$$,
    ARRAY(SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
          WHERE i.inhparent = 'easycars.sync_activity_log'::regclass AND c.relname ~ '_p(2031_|2026_|2027_)'),
    'every partition before January 2032 is dropped');
SELECT hasnt_table('easycars', 'sync_activity_log_p2031_12', 'December 2031 is gone');
SELECT has_table('easycars', 'sync_activity_log_p2032_01', 'January 2032 is kept (within 12 months)');
SELECT has_table('easycars', 'sync_activity_log_p2033_01', 'the current month was created');
SELECT throws_ok($$SELECT * FROM easycars.maintain_partitions(-1)$$, '22023', NULL, 'negative months_ahead is refused');
SELECT throws_ok($$SELECT * FROM easycars.maintain_partitions(3, '1 day')$$, '22023', NULL, 'retention under a month is refused');

-- Partitions keep the parent's constraints, keys and RLS through the parent.
INSERT INTO easycars.sync_activity_log (dealership_id, action, status, created_at) VALUES (101, 'sync_start', 'pending', '2033-01-20 00:00+00');
SELECT throws_ok($$INSERT INTO easycars.sync_activity_log (dealership_id, action, status, record_count, created_at) VALUES (101, 'sync_start', 'pending', -1, '2033-01-20')$$,
                 '23514', NULL, 'CHECKs hold in new partitions');
SELECT throws_ok($$INSERT INTO easycars.sync_activity_log (dealership_id, action, status, created_at) VALUES (999, 'sync_start', 'pending', '2033-01-20')$$,
                 '23503', NULL, 'the dealership foreign key holds in new partitions');
SET LOCAL ROLE ec_analyst;
SET LOCAL app.current_dealership_id = '102';
SELECT is((SELECT count(*)::int FROM easycars.sync_activity_log WHERE created_at >= '2033-01-01'), 0, 'RLS applies to rows in new partitions');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
