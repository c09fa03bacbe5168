-- Syncs that need committed data and other sessions: overlapping runs in two real connections,
-- run_due_syncs (which commits per dealership), and a pg_cron job that really fires.
-- Runs outside a transaction; cleans up after itself.
SET client_min_messages = warning;
SELECT plan(61);

SELECT easycars_test.sim('POST', '/_sim/reset') IS NOT NULL AS reset \g /dev/null
INSERT INTO easycars.dealership (id, name) VALUES (301, 'Committed One'), (302, 'Committed Two (broken)');
SELECT easycars.set_credentials(301, client_id, client_secret, account_number, account_secret, 'Test', NULL,
                                current_setting('easycars_test.sim_url') || '/TestECService')
FROM easycars_test.sim_dealer WHERE n = 1 \g /dev/null
-- Dealership 302 points at a port where nothing listens: its syncs fail, and must fail alone.
SELECT easycars.set_credentials(302, client_id, client_secret, account_number, account_secret, 'Test', NULL, 'http://127.0.0.1:9/TestECService')
FROM easycars_test.sim_dealer WHERE n = 2 \g /dev/null
CREATE FUNCTION pg_temp.wait_for(q text, seconds int) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE ok boolean;
BEGIN
    FOR i IN 1 .. seconds * 10 LOOP
        -- pg_stat_activity is read once per transaction unless the snapshot is dropped.
        PERFORM pg_stat_clear_snapshot();
        EXECUTE q INTO ok;
        IF ok THEN RETURN true; END IF;
        PERFORM pg_sleep(0.1);
    END LOOP;
    RETURN false;
END $$;

-- Two real connections, one dealership: one runs, the other is skipped at once.
SELECT easycars_test.sim('POST', '/_sim/latency', '{"route": "GetAdvertisementStocks", "ms": 1500}') \g /dev/null
SELECT dblink_connect('other', format('host=127.0.0.1 port=%s dbname=%s user=postgres', current_setting('port'), current_database())) \g /dev/null
SELECT dblink_send_query('other', 'SELECT status FROM easycars.sync_stock(301)') \g /dev/null
SELECT ok(pg_temp.wait_for($$SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = 301 AND granted AND pid <> pg_backend_pid())$$, 20),
          'the other connection holds the stock sync lock of dealership 301');
SELECT is((SELECT status FROM easycars.sync_stock(301))::text, 'Skipped', 'an overlapping run returns at once as Skipped');
SELECT is((SELECT status FROM dblink_get_result('other') AS t(status text)), 'Success', 'and the first run completes');
SELECT is((SELECT array_agg(status::text ORDER BY status) FROM easycars.sync_log WHERE dealership_id = 301 AND sync_type = 'Stock'),
          ARRAY['Skipped', 'Success'], 'both are logged: one Success, one Skipped');
SELECT * FROM dblink_get_result('other') AS t(status text) \g /dev/null
SELECT dblink_send_query('other', 'SELECT status FROM easycars.sync_stock(301)') \g /dev/null
SELECT ok(pg_temp.wait_for($$SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = 301 AND granted AND pid <> pg_backend_pid())$$, 20),
          'a second overlapping run starts');
SELECT is((SELECT status FROM easycars.sync_stock(301, wait => true))::text, 'Success', 'with wait => true the second run waits, then runs');
SELECT is((SELECT status FROM dblink_get_result('other') AS t(status text)), 'Success', 'after the first');
SELECT * FROM dblink_get_result('other') AS t(status text) \g /dev/null

-- pg_cancel_backend stops a scan that waits on a slow EasyCars.
SELECT easycars_test.sim('POST', '/_sim/latency', '{"route": "GetAdvertisementStocks", "ms": 30000}') \g /dev/null
CREATE SERVER cancel_me FOREIGN DATA WRAPPER easycars_fdw OPTIONS (dealership_id '301');
CREATE FOREIGN TABLE public.cancel_stock (stock_number text) SERVER cancel_me OPTIONS (entity 'stock');
CREATE TEMP TABLE cancel_t0 AS SELECT clock_timestamp() AS at,
    (SELECT pid FROM dblink('other', 'SELECT pg_backend_pid()') AS t(pid int)) AS other_pid;
SELECT dblink_send_query('other', 'SELECT count(*) FROM public.cancel_stock') \g /dev/null
SELECT ok(pg_temp.wait_for($$SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = (SELECT other_pid FROM cancel_t0) AND query LIKE '%cancel_stock%' AND state = 'active')$$, 20)
          AND pg_cancel_backend((SELECT other_pid FROM cancel_t0)), 'a scan waiting on EasyCars is cancelled');
SELECT is((SELECT count(*)::int FROM dblink_get_result('other', false) AS t(n bigint)), 0, 'it returns no rows');
SELECT is(split_part(dblink_error_message('other'), E'\n', 1), 'ERROR:  canceling statement due to user request', 'with SQLSTATE 57014''s message');
SELECT ok(clock_timestamp() - (SELECT at FROM cancel_t0) < interval '10 seconds', 'long before EasyCars would have answered');
DROP FOREIGN TABLE public.cancel_stock;
DROP SERVER cancel_me;
SELECT dblink_disconnect('other') \g /dev/null
SELECT easycars_test.sim('POST', '/_sim/latency', '{"route": "GetAdvertisementStocks", "ms": 0}') \g /dev/null

-- run_due_syncs: every due (dealership, kind), each in its own transaction.
INSERT INTO easycars.lead (dealership_id, name, email, message, vehicle_make, vehicle_model, vehicle_year, vehicle_type, is_vehicle_new)
VALUES (301, 'Due Buyer', 'due@example.com', 'Please call', 'Toyota', 'Corolla', 2022, 'Car', false);
CREATE TEMP TABLE mark AS SELECT max(id) AS last_log FROM easycars.sync_log;
CALL easycars.run_due_syncs();
SELECT is(ARRAY(SELECT sync_type || '/' || sync_direction || '/' || status FROM easycars.sync_log
                WHERE dealership_id = 301 AND id > (SELECT last_log FROM mark) ORDER BY 1),
          ARRAY['Lead/Inbound/Success', 'Lead/Outbound/Success', 'Stock/Inbound/Success'], 'dealership 301: stock, lead push and lead refresh succeed');
SELECT is(ARRAY(SELECT sync_type || '/' || sync_direction || '/' || status FROM easycars.sync_log
                WHERE dealership_id = 302 AND id > (SELECT last_log FROM mark) ORDER BY 1),
          ARRAY['Lead/Inbound/Success', 'Lead/Outbound/Success', 'Stock/Inbound/Failed'], 'dealership 302''s unreachable API fails its stock sync alone');
SELECT ok((SELECT easycars_lead_number IS NOT NULL FROM easycars.lead WHERE dealership_id = 301 AND email = 'due@example.com'),
          'the lead pushed by run_due_syncs kept its EasyCars number (committed per lead)');
SELECT is((SELECT p.batch_number FROM easycars.sync_progress p JOIN easycars.sync_log l ON l.dealership_id = p.dealership_id AND l.id::text = p.sync_id
           WHERE l.dealership_id = 301 AND l.sync_type = 'Lead' AND l.sync_direction = 'Outbound' AND l.id > (SELECT last_log FROM mark)), 1,
          'a scheduled push counts its committed batches (one per lead)');
SELECT is((SELECT records_created || ' created, ' || records_updated || ' updated' FROM easycars.sync_log
           WHERE dealership_id = 301 AND sync_type = 'Lead' AND sync_direction = 'Outbound' AND id > (SELECT last_log FROM mark)),
          '1 created, 0 updated', 'and its run logs the lead it created as created (one push helper for every path)');
SELECT is((SELECT array_agg(DISTINCT a.action::text) FROM easycars.sync_activity_log a JOIN easycars.sync_log l ON l.id::text = a.sync_id AND l.dealership_id = a.dealership_id
           WHERE a.dealership_id = 301 AND l.id > (SELECT last_log FROM mark) AND a.action IN ('scheduled_run', 'manual_trigger')),
          ARRAY['scheduled_run'], 'runs started by run_due_syncs are logged as scheduled, not manual');

-- The due queue: a success is next due after the interval, a failure backs off, doubling, and a
-- success resets it; nothing runs twice in one window; pause, resume and sync-now.
SELECT is((SELECT count(*)::int FROM easycars.sync_queue WHERE dealership_id IN (301, 302)), 6, 'sync_queue shows each dealership''s three kinds');
SELECT ok((SELECT bool_and(next_due_at > now() + interval '14 minutes') FROM easycars.sync_schedule WHERE dealership_id = 301),
          'after a success each kind is next due one interval later');
SELECT is((SELECT failures || ' ' || (backoff_reason IS NOT NULL) FROM easycars.sync_schedule WHERE dealership_id = 302 AND kind = 'stock'),
          '1 true', 'the failed stock sync of 302 is backing off, with its reason');
CREATE TEMP TABLE mark2 AS SELECT max(id) AS last_log FROM easycars.sync_log;
CALL easycars.run_due_syncs();
SELECT is((SELECT count(*)::int FROM easycars.sync_log WHERE id > (SELECT last_log FROM mark2) AND dealership_id IN (301, 302)), 0,
          'run again at once, nothing is due: nothing runs twice in a window');
SELECT easycars.sync_now(302, 'stock') \g /dev/null
CREATE TEMP TABLE due1 AS SELECT next_due_at FROM easycars.sync_schedule WHERE dealership_id = 302 AND kind = 'stock';
CALL easycars.run_due_syncs('stock');
SELECT is((SELECT failures FROM easycars.sync_schedule WHERE dealership_id = 302 AND kind = 'stock'), 1,
          'sync_now forgets the backoff and runs it at once (and it fails again)');
SELECT easycars.sync_now(302, 'stock') \g /dev/null
UPDATE easycars.sync_schedule SET failures = 2 WHERE dealership_id = 302 AND kind = 'stock';
CALL easycars.run_due_syncs('stock');
SELECT ok((SELECT next_due_at > now() + interval '59 minutes' AND failures = 3 FROM easycars.sync_schedule WHERE dealership_id = 302 AND kind = 'stock'),
          'each failure in a row doubles the wait (15 min, 30 min, 60 min, ...)');
SELECT easycars.pause_syncs(301) \g /dev/null
SELECT easycars.sync_now(301) \g /dev/null
CREATE TEMP TABLE mark3 AS SELECT max(id) AS last_log FROM easycars.sync_log;
CALL easycars.run_due_syncs();
SELECT is((SELECT count(*)::int FROM easycars.sync_log WHERE id > (SELECT last_log FROM mark3) AND dealership_id = 301), 0,
          'a paused dealership is not synced, even when due');
SELECT easycars.resume_syncs(301) \g /dev/null
CALL easycars.run_due_syncs('stock');
SELECT is((SELECT count(*)::int FROM easycars.sync_log WHERE id > (SELECT last_log FROM mark3) AND dealership_id = 301 AND sync_type = 'Stock'), 1,
          'resumed, it is synced');
SELECT ok(EXISTS (SELECT 1 FROM easycars.audit_log WHERE object = 'sync_schedule' AND dealership_id = 301 AND after->>'paused_at' IS NOT NULL),
          'pausing is in the audit trail');

-- Two workers at once never run the same dealership and kind: both drain one due queue.
SELECT easycars.sync_now(301) \g /dev/null
SELECT easycars_test.sim('POST', '/_sim/latency', '{"route": "GetAdvertisementStocks", "ms": 800}') \g /dev/null
CREATE TEMP TABLE mark4 AS SELECT max(id) AS last_log FROM easycars.sync_log;
SELECT dblink_connect('worker2', format('host=127.0.0.1 port=%s dbname=%s user=postgres', current_setting('port'), current_database())) \g /dev/null
SELECT dblink_send_query('worker2', 'CALL easycars.run_due_syncs()') \g /dev/null
CALL easycars.run_due_syncs();
SELECT * FROM dblink_get_result('worker2') AS t(x text) \g /dev/null
SELECT dblink_disconnect('worker2') \g /dev/null
SELECT easycars_test.sim('POST', '/_sim/latency', '{"route": "GetAdvertisementStocks", "ms": 0}') \g /dev/null
SELECT is(ARRAY(SELECT sync_type || '/' || sync_direction FROM easycars.sync_log
                WHERE id > (SELECT last_log FROM mark4) AND dealership_id = 301 ORDER BY 1),
          ARRAY['Lead/Inbound', 'Lead/Outbound', 'Stock/Inbound'], 'two workers ran each kind of 301 exactly once, none skipped');

-- A worker killed mid-run leaves its claim only until its lease ends; the next worker takes it.
SELECT easycars.sync_now(301, 'stock') \g /dev/null
SELECT easycars_test.sim('POST', '/_sim/latency', '{"route": "GetAdvertisementStocks", "ms": 20000}') \g /dev/null
SELECT dblink_connect('doomed', format('host=127.0.0.1 port=%s dbname=%s user=postgres', current_setting('port'), current_database())) \g /dev/null
CREATE TEMP TABLE doomed AS SELECT pid FROM dblink('doomed', 'SELECT pg_backend_pid()') AS t(pid int);
SELECT dblink_send_query('doomed', $$CALL easycars.run_due_syncs('stock', lease => '3 seconds')$$) \g /dev/null
SELECT ok(pg_temp.wait_for($$SELECT EXISTS (SELECT 1 FROM easycars.sync_schedule WHERE dealership_id = 301 AND kind = 'stock'
                                            AND claimed_by = (SELECT pid FROM doomed))$$, 20), 'a worker claims 301''s stock sync');
SELECT pg_terminate_backend((SELECT pid FROM doomed)) \g /dev/null
SELECT dblink_disconnect('doomed') \g /dev/null
SELECT easycars_test.sim('POST', '/_sim/latency', '{"route": "GetAdvertisementStocks", "ms": 0}') \g /dev/null
SELECT ok((SELECT claimed_until > now() FROM easycars.sync_schedule WHERE dealership_id = 301 AND kind = 'stock'),
          'killed mid-run, its claim stays until the lease ends');
SELECT pg_sleep(3.5) \g /dev/null
CREATE TEMP TABLE mark5 AS SELECT max(id) AS last_log FROM easycars.sync_log;
CALL easycars.run_due_syncs('stock');
SELECT is((SELECT string_agg(status::text, ',') FROM easycars.sync_log WHERE id > (SELECT last_log FROM mark5) AND dealership_id = 301),
          'Success', 'then the next worker takes it and runs it');
SELECT is((SELECT claimed_by FROM easycars.sync_schedule WHERE dealership_id = 301 AND kind = 'stock'), NULL, 'and nothing is left claimed');

-- Live progress of a push, read from another session while it runs (before it commits).
INSERT INTO easycars.lead (dealership_id, name, email, message, vehicle_make, vehicle_model, vehicle_year, vehicle_type, is_vehicle_new)
SELECT 301, 'Live ' || i, 'live' || i || '@example.com', 'Hi', 'Kia', 'Rio', 2022, 'Car', true FROM generate_series(1, 5) i;
SELECT easycars_test.sim('POST', '/_sim/latency', '{"route": "CreateLead", "ms": 500}') \g /dev/null
SELECT dblink_connect('pusher', format('host=127.0.0.1 port=%s dbname=%s user=postgres', current_setting('port'), current_database())) \g /dev/null
SELECT dblink_send_query('pusher', 'SELECT id FROM easycars.push_leads(301)') \g /dev/null
CREATE TEMP TABLE seen (processed bigint, total bigint, at timestamptz);
DO $$ BEGIN
    FOR i IN 1 .. 150 LOOP
        PERFORM pg_stat_clear_snapshot();
        INSERT INTO seen SELECT processed, total, clock_timestamp() FROM easycars.running_syncs
        WHERE progress LIKE 'easycars lead outbound d=301 %' AND processed IS NOT NULL;
        EXIT WHEN coalesce((SELECT max(processed) FROM seen), 0) >= 4;
        PERFORM pg_sleep(0.1);
    END LOOP;
END $$;
CREATE TEMP TABLE pushed_run AS SELECT id FROM dblink_get_result('pusher') AS t(id bigint);
SELECT * FROM dblink_get_result('pusher') AS t(id bigint) \g /dev/null
SELECT dblink_disconnect('pusher') \g /dev/null
SELECT easycars_test.sim('POST', '/_sim/latency', '{"route": "CreateLead", "ms": 0}') \g /dev/null
SELECT ok((SELECT count(DISTINCT processed) >= 3 AND max(total) = 5 FROM seen),
          'another session sees a push''s processed count move, of its total, while it runs');
SELECT ok(NOT EXISTS (SELECT 1 FROM (SELECT processed < lag(processed) OVER (ORDER BY at) AS back FROM seen) s WHERE back),
          'and never go back');
SELECT is((SELECT processed_count || ' of ' || total_items FROM easycars.sync_progress
           WHERE dealership_id = 301 AND sync_id = (SELECT id FROM pushed_run)::text), '5 of 5',
          'the committed sync_progress row ends at the last live numbers');

-- Live counts of a stock sync, read from another session while its scans read (before it
-- commits): 20,000 more vehicles on dealer 1 make the read long enough to watch.
SELECT easycars_test.sim('POST', '/_sim/stock/' || account_number || '/add', '{"count": 20000}') FROM easycars_test.sim_dealer WHERE n = 1 \g /dev/null
SELECT dblink_connect('stocker', format('host=127.0.0.1 port=%s dbname=%s user=postgres', current_setting('port'), current_database())) \g /dev/null
SELECT dblink_send_query('stocker', 'SELECT id FROM easycars.sync_stock(301)') \g /dev/null
CREATE TEMP TABLE seen_stock (processed bigint, total bigint, at timestamptz);
DO $$ BEGIN
    FOR i IN 1 .. 1200 LOOP
        PERFORM pg_stat_clear_snapshot();
        INSERT INTO seen_stock SELECT processed, total, clock_timestamp() FROM easycars.running_syncs
        WHERE progress LIKE 'easycars stock d=301 %' AND processed IS NOT NULL;
        EXIT WHEN dblink_is_busy('stocker') = 0;
        PERFORM pg_sleep(0.05);
    END LOOP;
END $$;
CREATE TEMP TABLE stock_run AS SELECT id FROM dblink_get_result('stocker') AS t(id bigint);
SELECT * FROM dblink_get_result('stocker') AS t(id bigint) \g /dev/null
SELECT dblink_disconnect('stocker') \g /dev/null
SELECT diag(format('stock sync of 20,025 items, live counts seen: %s', (SELECT string_agg(DISTINCT processed || '/' || total, ' ') FROM seen_stock)));
SELECT ok((SELECT max(n) >= 3 FROM (SELECT count(DISTINCT processed) AS n FROM seen_stock GROUP BY total) pass),
          'another session sees a stock sync''s read count move, of its total, while it runs');
SELECT ok(EXISTS (SELECT 1 FROM seen_stock WHERE processed = total AND total >= 20000), 'up to the total');
SELECT ok(NOT EXISTS (SELECT 1 FROM (SELECT processed < lag(processed) OVER (PARTITION BY total ORDER BY at) AS back FROM seen_stock) s WHERE back),
          'and never go back within a pass');
SELECT is((SELECT processed_count || ' of ' || total_items FROM easycars.sync_progress
           WHERE dealership_id = 301 AND sync_id = (SELECT id FROM stock_run)::text), '20025 of 20025',
          'the committed sync_progress row ends at the live total');
SELECT easycars_test.sim('POST', '/_sim/reset') IS NOT NULL AS reset \g /dev/null

-- One integrator account (ClientID) serves many dealerships; easycars.max_calls_per_integrator
-- caps its EasyCars calls in flight across all sessions. Dealership 303 shares 301's ClientID:
-- while another session's sync of 301 holds the only slot, 303's sync waits, up to its deadline.
INSERT INTO easycars.dealership (id, name) VALUES (303, 'Committed Three (same integrator)');
SELECT easycars.set_credentials(303, client_id, client_secret, account_number, account_secret, 'Test', NULL,
                                current_setting('easycars_test.sim_url') || '/TestECService')
FROM easycars_test.sim_dealer WHERE n = 1 \g /dev/null
SELECT easycars_test.sim('POST', '/_sim/latency', '{"route": "GetAdvertisementStocks", "ms": 3000}') \g /dev/null
SELECT dblink_connect('holder', format('host=127.0.0.1 port=%s dbname=%s user=postgres', current_setting('port'), current_database())) \g /dev/null
SELECT dblink_exec('holder', 'SET easycars.max_calls_per_integrator = 1') \g /dev/null
SELECT dblink_send_query('holder', 'SELECT status FROM easycars.sync_stock(301)') \g /dev/null
SELECT ok(pg_temp.wait_for($$SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = 1162040113 AND granted
                                             AND pid <> pg_backend_pid())$$, 20),
          'a sync calling EasyCars holds one of its integrator''s call slots (pg_locks, advisory)');
SET easycars.max_calls_per_integrator = 1;
SET easycars.sync_deadline = '1 second';
CREATE TEMP TABLE busy AS SELECT * FROM easycars.sync_stock(303);
RESET easycars.sync_deadline;
SELECT results_eq($$SELECT status::text, error_message FROM busy$$,
                  $$VALUES ('Failed'::text, 'all 1 EasyCars call slots of this integrator account are busy'::text)$$,
                  'with a cap of 1, a sync of another dealership of the same integrator waits for the slot, and fails at its deadline');
SELECT is((SELECT status FROM dblink_get_result('holder') AS t(status text)), 'Success', 'the holder''s sync completes');
SELECT * FROM dblink_get_result('holder') AS t(status text) \g /dev/null
SELECT dblink_disconnect('holder') \g /dev/null
SELECT easycars_test.sim('POST', '/_sim/latency', '{"route": "GetAdvertisementStocks", "ms": 0}') \g /dev/null
SELECT is((SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory' AND classid = 1162040113), 0,
          'and its slot is free again');
SELECT is((SELECT status FROM easycars.sync_stock(303))::text, 'Success', 'so the waiting dealership''s next sync runs');
RESET easycars.max_calls_per_integrator;
CREATE ROLE cap_raiser;
SET ROLE cap_raiser;
SELECT throws_ok($$SET easycars.max_calls_per_integrator = 1000$$, '42501', NULL, 'no session but a superuser''s may raise the cap for itself');
RESET ROLE;
DROP ROLE cap_raiser;

-- Look-ahead: a worker starts the fetches of the next claimed stock syncs while it writes the
-- current one, so hung accounts wait out their deadlines side by side. Dealerships 311-315 use the
-- simulator's three dealers: dealers 2 and 3 hang (312-315), dealer 1 answers (311). Nothing else
-- is due meanwhile.
INSERT INTO easycars.dealership (id, name) SELECT 310 + i, 'Look-ahead ' || i FROM generate_series(1, 5) i;
SELECT easycars.set_credentials(310 + i, client_id, client_secret, account_number, account_secret, 'Test', NULL,
                                current_setting('easycars_test.sim_url') || '/TestECService')
FROM generate_series(1, 5) i JOIN easycars_test.sim_dealer ON n = CASE WHEN i = 1 THEN 1 ELSE 2 + i % 2 END \g /dev/null
SELECT easycars._ensure_schedule() \g /dev/null
UPDATE easycars.sync_schedule SET next_due_at = now() + interval '1 hour' WHERE dealership_id NOT BETWEEN 311 AND 315;
SELECT easycars_test.sim('POST', '/_sim/faults', json_build_object('route', 'GetAdvertisementStocks', 'kind', 'hang', 'times', 1000,
                                                                  'account', account_number)::jsonb)
FROM easycars_test.sim_dealer WHERE n IN (2, 3) \g /dev/null
CREATE TEMP TABLE mark6 AS SELECT max(id) AS last_log FROM easycars.sync_log;
SET easycars.sync_deadline = '2 seconds';
SELECT clock_timestamp() AS t0 \gset
CALL easycars.run_due_syncs('stock');
CREATE TEMP TABLE cycle_ahead AS SELECT clock_timestamp() - :'t0'::timestamptz AS took;
SELECT results_eq($$SELECT dealership_id, status::text, coalesce(error_message, '') ~ 'deadline exceeded' FROM easycars.sync_log
                    WHERE id > (SELECT last_log FROM mark6) ORDER BY dealership_id$$,
                  $$VALUES (311, 'Success', false), (312, 'Failed', true), (313, 'Failed', true), (314, 'Failed', true), (315, 'Failed', true)$$,
                  'one worker ran all five: the answering dealership synced, each hung one failed at its deadline');
SELECT cmp_ok((SELECT took FROM cycle_ahead), '<', interval '4 seconds',
              'the four hung accounts waited side by side: the worker took less than two deadlines (2 s each), not four');
SELECT is((SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory' AND classid = 1162040113 AND pid = pg_backend_pid()), 0,
          'and no integrator call slot is left held');
-- The same cycle without look-ahead: one deadline after another.
SELECT easycars.sync_now(310 + i, 'stock') FROM generate_series(1, 5) i \g /dev/null
CREATE TEMP TABLE mark7 AS SELECT max(id) AS last_log FROM easycars.sync_log;
SET easycars.sync_lookahead = 0;
SELECT clock_timestamp() AS t0 \gset
CALL easycars.run_due_syncs('stock');
CREATE TEMP TABLE cycle_in_turn AS SELECT clock_timestamp() - :'t0'::timestamptz AS took;
RESET easycars.sync_lookahead;
SELECT is((SELECT string_agg(dealership_id || ' ' || status, ', ' ORDER BY dealership_id) FROM easycars.sync_log WHERE id > (SELECT last_log FROM mark7)),
          '311 Success, 312 Failed, 313 Failed, 314 Failed, 315 Failed', 'with easycars.sync_lookahead = 0 the same runs happen');
SELECT cmp_ok((SELECT took FROM cycle_in_turn), '>=', interval '8 seconds', 'one after another: four hung accounts cost four deadlines');
-- A cap of one call per integrator: 312 and 314 (and 313 and 315) share one, so only one of each
-- pair fetches ahead; the other runs in turn, and the worker never waits on its own fetches.
SELECT easycars.sync_now(310 + i, 'stock') FROM generate_series(1, 5) i \g /dev/null
CREATE TEMP TABLE mark8 AS SELECT max(id) AS last_log FROM easycars.sync_log;
SET easycars.max_calls_per_integrator = 1;
SELECT clock_timestamp() AS t0 \gset
CALL easycars.run_due_syncs('stock');
CREATE TEMP TABLE cycle_capped AS SELECT clock_timestamp() - :'t0'::timestamptz AS took;
RESET easycars.max_calls_per_integrator;
SELECT is((SELECT string_agg(dealership_id || ' ' || status, ', ' ORDER BY dealership_id) FROM easycars.sync_log WHERE id > (SELECT last_log FROM mark8)),
          '311 Success, 312 Failed, 313 Failed, 314 Failed, 315 Failed', 'with a cap of one call per integrator, every run still happens');
SELECT cmp_ok((SELECT took FROM cycle_capped), '<', interval '8 seconds', 'and the cycle still beats one deadline after another');
-- A backend that ends while fetches still run ahead (a worker's session closed under it) releases
-- their slots on its way out, and takes no other backend down with it.
SELECT pg_backend_pid() AS my_pid \gset
SELECT dblink_connect('leaver', format('host=127.0.0.1 port=%s dbname=%s user=postgres', current_setting('port'), current_database())) \g /dev/null
SELECT is((SELECT started FROM dblink('leaver', 'SELECT easycars._prefetch_stock(312)') AS t(started boolean)), true,
          'a session starts a fetch ahead on a hung account');
SELECT ok((SELECT count(*) = 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = 1162040113 AND pid <> pg_backend_pid()),
          'which holds one integrator call slot');
SELECT dblink_disconnect('leaver') \g /dev/null
SELECT ok(pg_temp.wait_for($$SELECT NOT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = 1162040113)$$, 10)
          AND pg_backend_pid() = :my_pid, 'the session ends: its slot is released, and this session carries on');
RESET easycars.sync_deadline;
SELECT diag(format('cycles of five with four hung (2 s deadline): look-ahead %s, in turn %s, capped %s',
                   (SELECT took FROM cycle_ahead), (SELECT took FROM cycle_in_turn), (SELECT took FROM cycle_capped)));
SELECT easycars_test.sim('DELETE', '/_sim/faults') \g /dev/null
SELECT easycars.pause_syncs(310 + i) FROM generate_series(1, 5) i \g /dev/null
UPDATE easycars.sync_schedule SET next_due_at = now() WHERE dealership_id NOT BETWEEN 311 AND 315;

SELECT to_regnamespace('cron') IS NOT NULL AS has_pg_cron \gset
\if :has_pg_cron
-- A pg_cron job really fires (pg_cron 1.4 schedules by the minute: this waits up to ~70 s), as a
-- superuser whose search_path starts with a schema a lower role controls: that role's "="
-- overload records every call it gets. A control job in the same role proves the search_path was
-- in effect; the sync job must never call it (every easycars function pins search_path).
SELECT easycars.sync_now(301, 'stock') \g /dev/null
CREATE ROLE atk_cron_owner;
CREATE ROLE atk_cron_victim SUPERUSER LOGIN;
GRANT CREATE ON DATABASE easycars_test TO atk_cron_owner;
SET ROLE atk_cron_owner;
CREATE SCHEMA atk_cron;
GRANT USAGE ON SCHEMA atk_cron TO PUBLIC;
CREATE TABLE atk_cron.calls (who text, query text);
GRANT INSERT ON atk_cron.calls TO PUBLIC;
CREATE FUNCTION atk_cron.eq(integer, integer) RETURNS boolean LANGUAGE plpgsql AS $f$
BEGIN
    INSERT INTO atk_cron.calls VALUES (current_user, pg_catalog.current_query());
    RETURN $1 OPERATOR(pg_catalog.=) $2;
END $f$;
CREATE OPERATOR atk_cron.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = atk_cron.eq);
RESET ROLE;
ALTER ROLE atk_cron_victim SET search_path = atk_cron, pg_catalog, public;
SET ROLE atk_cron_victim;
CREATE TEMP TABLE scheduled AS SELECT now() AS at, job_name FROM easycars.schedule_syncs('* * * * *', '59 23 31 12 *');
SELECT cron.schedule('easycars-atk-control', '* * * * *', 'SELECT 1 = 1') \g /dev/null
RESET ROLE;
SELECT ok(pg_temp.wait_for($$SELECT EXISTS (SELECT 1 FROM cron.job_run_details d JOIN cron.job j USING (jobid)
                                            WHERE j.jobname = 'easycars-stock' AND d.status = 'succeeded' AND d.start_time >= (SELECT min(at) FROM scheduled))$$, 90),
          'the easycars-stock job ran and succeeded');
SELECT ok(EXISTS (SELECT 1 FROM easycars.sync_log WHERE dealership_id = 301 AND sync_type = 'Stock' AND status = 'Success'
                  AND started_at >= (SELECT min(at) FROM scheduled)), 'and left a Success log row for dealership 301');
SELECT is((SELECT p.job_id::text FROM easycars.sync_progress p JOIN easycars.sync_log l ON l.dealership_id = p.dealership_id AND l.id::text = p.sync_id
           WHERE l.dealership_id = 301 AND l.sync_type = 'Stock' AND l.started_at >= (SELECT min(at) FROM scheduled) ORDER BY l.id DESC LIMIT 1),
          (SELECT jobid::text FROM cron.job WHERE jobname = 'easycars-stock'), 'its progress row names the pg_cron job that ran it');
SELECT ok(pg_temp.wait_for($$SELECT EXISTS (SELECT 1 FROM atk_cron.calls WHERE query = 'SELECT 1 = 1')$$, 30),
          'control: a job of that superuser does resolve "=" in the attacker''s schema');
SELECT is(ARRAY(SELECT DISTINCT query FROM atk_cron.calls WHERE query <> 'SELECT 1 = 1'), '{}'::text[],
          'but the superuser''s scheduled sync never called the attacker''s code');
SET ROLE atk_cron_victim;
SELECT is(ARRAY(SELECT jobname::text FROM cron.job WHERE jobname LIKE 'easycars-%' AND jobname <> 'easycars-atk-control' ORDER BY 1),
          ARRAY['easycars-archive', 'easycars-lead-scores', 'easycars-leads', 'easycars-partitions', 'easycars-previews', 'easycars-stock'],
          'one call scheduled the syncs and the maintenance (previews, partitions, lead scores, archive)');
SELECT is(easycars.unschedule_syncs(), 6, 'and one call removes them all');
SELECT cron.unschedule('easycars-atk-control') \g /dev/null
RESET ROLE;
\else
SELECT skip('pg_cron is not installed (it is not available for PostgreSQL 18): no job can fire', 7);
\endif

SELECT * FROM finish();

-- Clean up what this file committed.
DELETE FROM easycars.dealership WHERE id IN (301, 302, 303, 311, 312, 313, 314, 315);
DROP SERVER IF EXISTS easycars_d301 CASCADE;
DROP SERVER IF EXISTS easycars_d303 CASCADE;
DROP SERVER IF EXISTS easycars_d302 CASCADE;
SELECT format('DROP SERVER IF EXISTS easycars_d%s CASCADE', 310 + i) FROM generate_series(1, 5) i \gexec
\if :has_pg_cron
DROP TABLE scheduled;
DROP SCHEMA atk_cron CASCADE;
REVOKE CREATE ON DATABASE easycars_test FROM atk_cron_owner;
DROP ROLE atk_cron_owner, atk_cron_victim;
\endif
