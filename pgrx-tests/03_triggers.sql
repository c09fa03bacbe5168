-- sync_progress triggers derive elapsed time, speed, ETA and completion, and log completion;
-- updated_at moves only when a row really changes.
BEGIN;
SELECT plan(18);
\ir _fixtures.psql

-- A run that started 120 s ago and has done 30 of 100 items.
INSERT INTO easycars.sync_progress (dealership_id, sync_id, entity_type, total_items, processed_count, started_at)
VALUES (101, 'run-rates', 'stock', 100, 30, clock_timestamp() - interval '120 seconds');
SELECT ok(elapsed_seconds BETWEEN 119 AND 125, 'elapsed_seconds counts from started_at (' || elapsed_seconds || ')')
FROM easycars.sync_progress WHERE sync_id = 'run-rates';
SELECT ok(speed_items_per_min BETWEEN 14.4 AND 15.1, 'speed is 30 items in 2 minutes = 15/min (' || speed_items_per_min || ')')
FROM easycars.sync_progress WHERE sync_id = 'run-rates';
SELECT ok(eta_seconds BETWEEN 275 AND 285, 'ETA for the remaining 70 at 15/min is 280 s (' || eta_seconds || ')')
FROM easycars.sync_progress WHERE sync_id = 'run-rates';
SELECT is(completed_at, NULL, 'an unfinished run has no completed_at') FROM easycars.sync_progress WHERE sync_id = 'run-rates';

-- Nothing processed yet: speed 0, ETA unknown.
UPDATE easycars.sync_progress SET processed_count = 0 WHERE sync_id = 'run-rates';
SELECT is(speed_items_per_min, 0.00, 'no processed items means speed 0') FROM easycars.sync_progress WHERE sync_id = 'run-rates';
SELECT is(eta_seconds, NULL, 'no speed means no ETA') FROM easycars.sync_progress WHERE sync_id = 'run-rates';

-- current_item beyond total is clamped, not rejected.
UPDATE easycars.sync_progress SET current_item = 500 WHERE sync_id = 'run-rates';
SELECT is(current_item, 100, 'current_item is clamped to total_items') FROM easycars.sync_progress WHERE sync_id = 'run-rates';

-- Totals are validated with a clear error.
SELECT throws_ok($$UPDATE easycars.sync_progress SET processed_count = 90, failed_count = 20 WHERE sync_id = 'run-rates'$$,
                 '23514', 'processed_count (90) + failed_count (20) exceeds total_items (100)',
                 'counts beyond total_items are refused with 23514');

-- Completion: every item accounted for sets completed_at and logs one activity row.
SELECT is((SELECT count(*)::int FROM easycars.sync_activity_log WHERE sync_id = 'run-rates'), 0, 'no activity before completion');
UPDATE easycars.sync_progress SET processed_count = 97, failed_count = 3 WHERE sync_id = 'run-rates';
SELECT isnt(completed_at, NULL, 'completed_at is set when processed + failed = total') FROM easycars.sync_progress WHERE sync_id = 'run-rates';
SELECT is(eta_seconds, 0, 'a completed run has ETA 0') FROM easycars.sync_progress WHERE sync_id = 'run-rates';
SELECT results_eq(
    $$SELECT action::text, status::text, record_count, entity_type::text FROM easycars.sync_activity_log WHERE sync_id = 'run-rates'$$,
    $$VALUES ('sync_complete', 'completed_with_errors', 100, 'stock')$$,
    'completion logs one sync_complete row with the counts and the error status');
UPDATE easycars.sync_progress SET metadata = '{"again": true}' WHERE sync_id = 'run-rates';
SELECT is((SELECT count(*)::int FROM easycars.sync_activity_log WHERE sync_id = 'run-rates'), 1, 'completion is logged once');

INSERT INTO easycars.sync_progress (dealership_id, sync_id, entity_type, total_items, processed_count)
VALUES (101, 'run-clean', 'lead', 5, 5);
SELECT is((SELECT status::text FROM easycars.sync_activity_log WHERE sync_id = 'run-clean'), 'completed',
          'a run inserted already complete logs completed');

-- A restore (pg_dump's scripts set row_security = off) loads a finished run exactly as dumped and
-- does not log its completion a second time.
SET LOCAL row_security = off;
INSERT INTO easycars.sync_progress (dealership_id, sync_id, entity_type, total_items, processed_count, started_at, completed_at,
                                    updated_at, elapsed_seconds, speed_items_per_min, eta_seconds)
VALUES (101, 'run-restored', 'stock', 10, 10, '2026-01-05 10:00+00', '2026-01-05 10:01+00', '2026-01-05 10:02+00', 60, 10, 0);
RESET row_security;
SELECT results_eq($$SELECT updated_at, elapsed_seconds, speed_items_per_min FROM easycars.sync_progress WHERE sync_id = 'run-restored'$$,
                  $$VALUES ('2026-01-05 10:02+00'::timestamptz, 60, 10.00)$$, 'a restored progress row keeps its dumped values');
SELECT is((SELECT count(*)::int FROM easycars.sync_activity_log WHERE sync_id = 'run-restored'), 0,
          'and its completion is not logged again (the dump brings the original activity row)');

-- updated_at: moves on a real change, stays on a no-op update.
UPDATE easycars.vehicle SET updated_at = '2020-01-01' WHERE dealership_id = 101;
UPDATE easycars.vehicle SET price = price WHERE dealership_id = 101;
SELECT is((SELECT updated_at FROM easycars.vehicle WHERE dealership_id = 101), '2020-01-01'::timestamptz,
          'a no-op update keeps updated_at');
UPDATE easycars.vehicle SET price = 1000 WHERE dealership_id = 101;
SELECT is((SELECT updated_at FROM easycars.vehicle WHERE dealership_id = 101), now(), 'a real change sets updated_at');

SELECT * FROM finish();
ROLLBACK;
