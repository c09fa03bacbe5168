-- Every simulator fault mode during each sync function, token expiry mid-sync and an API slower
-- than timeout_ms. Before each case EasyCars changes (a price, a lead), so a run that wrote
-- anything at all would show. A fault that outlasts the retries gives a Failed (or, for leads
-- pushed one by one, a Warning) run with its reason and leaves every local row as it was; one that
-- clears within the retries gives a Success that applied the change.
BEGIN;
SELECT plan(45);
\ir _fixtures.psql

\ir _sim_dealers.psql
SET client_min_messages = warning;

-- Dealership 1 in sync, with two leads pushed; its sync server gets quick timeouts and one retry
-- so that the failing cases stay fast.
SELECT status FROM easycars.sync_stock(1) \g /dev/null
ALTER SERVER easycars_d1 OPTIONS (ADD timeout_ms '500', ADD max_retries '1');
SET app.current_dealership_id = '1';
INSERT INTO easycars.lead (dealership_id, name, email, message, vehicle_make, vehicle_model, vehicle_year, vehicle_type, is_vehicle_new, data_source)
VALUES (1, 'Fault One', 'fault1@example.com', 'Hello', 'Toyota', 'HiLux', 2021, 'Car', false, 'WebForm'),
       (1, 'Fault Two', 'fault2@example.com', 'Hello', 'Mazda', 'CX-5', 2022, 'Car', true, 'WebForm');
SELECT status FROM easycars.push_leads(1) \g /dev/null

CREATE FUNCTION pg_temp.vehicles() RETURNS text LANGUAGE sql AS $$
    SELECT md5(string_agg(v::text, '|' ORDER BY id)) FROM easycars.vehicle v WHERE dealership_id = 1 $$;
CREATE FUNCTION pg_temp.leads() RETURNS text LANGUAGE sql AS $$
    SELECT md5(string_agg(concat_ws(',', id, name, email, message, rating, status, easycars_lead_number, easycars_customer_no,
                                    easycars_push_digest, easycars_raw_data), '|' ORDER BY id))
    FROM easycars.lead WHERE dealership_id = 1 $$;
-- How a run ended, and whether local data changed: 'Failed, unchanged' or 'Success, changed'.
CREATE FUNCTION pg_temp.outcome(r easycars.sync_log, changed boolean) RETURNS text LANGUAGE sql AS $$
    SELECT concat_ws(', ', r.status::text, CASE WHEN changed THEN 'changed' ELSE 'unchanged' END,
                     CASE WHEN r.status IN ('Failed', 'Warning') AND coalesce(r.error_message, '') = '' THEN 'without a reason' END) $$;
CREATE FUNCTION pg_temp.with_fault(fault jsonb) RETURNS void LANGUAGE sql AS $$
    SELECT easycars_test.sim('DELETE', '/_sim/faults'), easycars_test.sim('POST', '/_sim/faults', fault) $$;

-- sync_stock: a price changes in EasyCars before every case.
CREATE FUNCTION pg_temp.stock_case(fault jsonb) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    before text := pg_temp.vehicles();
    r easycars.sync_log;
BEGIN
    PERFORM easycars_test.sim('POST', format('/_sim/stock/%s/change', (SELECT account_number FROM d1)),
        jsonb_build_object('stock_number', 'U00005', 'fields', jsonb_build_object('Price', 10000 + floor(random() * 90000)::int)));
    PERFORM pg_temp.with_fault(fault);
    r := easycars.sync_stock(1);
    PERFORM easycars_test.sim('DELETE', '/_sim/faults');
    RETURN pg_temp.outcome(r, pg_temp.vehicles() IS DISTINCT FROM before);
END $$;
CREATE TEMP TABLE stock_cases (fault jsonb, expected text, what text);
INSERT INTO stock_cases VALUES
    ('{"kind": "http_status", "status": 500, "times": 9}', 'Failed, unchanged', 'HTTP 500 past the retries'),
    ('{"kind": "http_status", "status": 503, "times": 1}', 'Success, changed', 'one HTTP 503, then a retry'),
    ('{"kind": "http_status", "status": 429, "retry_after": 1, "times": 9}', 'Failed, unchanged', 'HTTP 429 past the retries'),
    ('{"kind": "http_status", "status": 429, "retry_after": 1, "times": 1}', 'Success, changed', 'one HTTP 429 with Retry-After'),
    ('{"kind": "http_status", "status": 404, "times": 1}', 'Failed, unchanged', 'HTTP 404 (not retried)'),
    ('{"kind": "code", "code": 1, "times": 9}', 'Failed, unchanged', 'Code 1 (authentication) that a new token does not cure'),
    ('{"kind": "code", "code": 1, "times": 1}', 'Success, changed', 'one Code 1, cured by a new token'),
    ('{"kind": "code", "code": 5, "times": 9}', 'Failed, unchanged', 'Code 5 (warning) past the retries'),
    ('{"kind": "code", "code": 7, "times": 1}', 'Failed, unchanged', 'Code 7 (validation, not retried)'),
    ('{"kind": "code", "code": 9, "times": 9}', 'Failed, unchanged', 'Code 9 (system) past the retries'),
    ('{"kind": "code", "code": 9, "times": 1}', 'Success, changed', 'one Code 9, then a retry'),
    ('{"kind": "malformed_json", "times": 9}', 'Failed, unchanged', 'an answer that is not JSON'),
    ('{"kind": "malformed_json", "times": 1}', 'Success, changed', 'one answer that is not JSON, then a retry'),
    ('{"kind": "truncated_json", "times": 9}', 'Failed, unchanged', 'a truncated answer, every time'),
    ('{"kind": "truncated_json", "times": 1}', 'Success, changed', 'one truncated answer, then a retry'),
    ('{"kind": "hang", "times": 9}', 'Failed, unchanged', 'an API that never answers (timeout_ms)'),
    ('{"kind": "delay_ms", "ms": 1500, "times": 9}', 'Failed, unchanged', 'an API slower than timeout_ms'),
    ('{"kind": "delay_ms", "ms": 1500, "times": 1}', 'Success, changed', 'one answer slower than timeout_ms, then a retry'),
    ('{"kind": "delay_ms", "ms": 100, "times": 9}', 'Success, changed', 'an API slow but within timeout_ms');
SELECT is(pg_temp.stock_case(jsonb_set(fault, '{route}', '"GetAdvertisementStocks"')), expected, 'sync_stock, ' || what || ': ' || expected)
FROM stock_cases;

-- Token expiry mid-sync: EasyCars' clock moves past the cached token's life.
CREATE TEMP TABLE expiry AS SELECT easycars_test.sim('POST', '/_sim/clock', '{"shift_seconds": 700}') AS x;
SELECT is(pg_temp.stock_case('{"kind": "delay_ms", "ms": 0, "times": 1}'), 'Success, changed', 'sync_stock with an expired token refreshes it and succeeds');
SELECT is(pg_temp.stock_case('{"kind": "code", "code": 7, "route": "GetAdvertisementStocks"}'), 'Failed, unchanged', 'and still fails cleanly after');

-- push_leads: both leads change locally before every case; each lead is pushed on its own.
CREATE FUNCTION pg_temp.push_case(fault jsonb) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r easycars.sync_log;
    before text;
BEGIN
    UPDATE easycars.lead SET message = 'Changed ' || clock_timestamp() WHERE dealership_id = 1;
    before := pg_temp.leads();
    PERFORM pg_temp.with_fault(fault);
    r := easycars.push_leads(1);
    PERFORM easycars_test.sim('DELETE', '/_sim/faults');
    RETURN pg_temp.outcome(r, pg_temp.leads() IS DISTINCT FROM before)
        || CASE WHEN r.status = 'Warning' THEN format(' (%s failed, %s recorded)', r.records_failed,
                     (SELECT count(*) FROM easycars.lead WHERE dealership_id = 1 AND last_push_error IS NOT NULL)) ELSE '' END;
END $$;
CREATE TEMP TABLE push_cases (fault jsonb, expected text, what text);
INSERT INTO push_cases VALUES
    ('{"kind": "http_status", "status": 500, "times": 9}', 'Warning, unchanged (2 failed, 2 recorded)', 'HTTP 500 past the retries'),
    ('{"kind": "http_status", "status": 503, "times": 1}', 'Success, changed', 'one HTTP 503, then a retry'),
    ('{"kind": "code", "code": 7, "times": 9}', 'Warning, unchanged (2 failed, 2 recorded)', 'Code 7 (validation)'),
    ('{"kind": "code", "code": 9, "times": 1}', 'Success, changed', 'one Code 9, then a retry'),
    ('{"kind": "malformed_json", "times": 9}', 'Warning, unchanged (2 failed, 2 recorded)', 'answers that are not JSON'),
    ('{"kind": "truncated_json", "times": 9}', 'Warning, unchanged (2 failed, 2 recorded)', 'truncated answers'),
    ('{"kind": "hang", "times": 9}', 'Warning, unchanged (2 failed, 2 recorded)', 'an API that never answers (timeout_ms)'),
    ('{"kind": "delay_ms", "ms": 1500, "times": 1}', 'Success, changed', 'one answer slower than timeout_ms, then a retry');
SELECT is(pg_temp.push_case(jsonb_set(fault, '{route}', '"UpdateLead"')), expected, 'push_leads, ' || what || ': ' || expected)
FROM push_cases;
SELECT is((SELECT count(*)::int FROM easycars.lead WHERE dealership_id = 1 AND last_push_error IS NOT NULL), 0,
          'a successful push clears the recorded errors');

-- sync_leads: EasyCars changes both leads (a note, through UpdateLead) before every case.
CREATE FUNCTION pg_temp.refresh_case(fault jsonb) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r easycars.sync_log;
    before text := pg_temp.leads();
BEGIN
    PERFORM easycars_test.sim('DELETE', '/_sim/faults');
    UPDATE easycars_remote.leads_d1 SET notes = 'Noted in EasyCars at ' || clock_timestamp()
    WHERE lead_number = ANY (ARRAY(SELECT easycars_lead_number FROM easycars.lead WHERE dealership_id = 1));
    PERFORM pg_temp.with_fault(fault);
    r := easycars.sync_leads(1);
    PERFORM easycars_test.sim('DELETE', '/_sim/faults');
    RETURN pg_temp.outcome(r, pg_temp.leads() IS DISTINCT FROM before);
END $$;
CREATE TEMP TABLE refresh_cases (fault jsonb, expected text, what text);
INSERT INTO refresh_cases VALUES
    ('{"kind": "http_status", "status": 500, "times": 9}', 'Failed, unchanged', 'HTTP 500 past the retries'),
    ('{"kind": "http_status", "status": 503, "times": 1}', 'Success, changed', 'one HTTP 503, then a retry'),
    ('{"kind": "code", "code": 7, "times": 9}', 'Warning, unchanged', 'Code 7 for every lead (EasyCars says they do not exist)'),
    ('{"kind": "code", "code": 9, "times": 1}', 'Success, changed', 'one Code 9, then a retry'),
    ('{"kind": "malformed_json", "times": 9}', 'Failed, unchanged', 'answers that are not JSON'),
    ('{"kind": "hang", "times": 9}', 'Failed, unchanged', 'an API that never answers (timeout_ms)'),
    ('{"kind": "delay_ms", "ms": 1500, "times": 1}', 'Success, changed', 'one answer slower than timeout_ms, then a retry');
SELECT is(pg_temp.refresh_case(jsonb_set(fault, '{route}', '"GetLeadDetail"')), expected, 'sync_leads, ' || what || ': ' || expected)
FROM refresh_cases;

-- Every failed run above is logged with its reason and a SQLSTATE.
SELECT is((SELECT count(*)::int FROM easycars.sync_log WHERE dealership_id = 1 AND status = 'Failed'
             AND (error_message IS NULL OR response_summary->>'sqlstate' IS NULL)), 0,
          'every Failed run is logged with its reason and SQLSTATE');
SELECT is((SELECT count(*)::int FROM easycars.sync_log WHERE dealership_id = 1 AND status = 'Failed'),
          (SELECT count(*)::int FROM (SELECT expected FROM stock_cases UNION ALL SELECT expected FROM refresh_cases) c
           WHERE expected LIKE 'Failed%') + 1,
          'one Failed run per failing case, each its own run (every sync in one statement fetched afresh)');
SELECT is((SELECT count(*)::int FROM easycars.sync_log WHERE dealership_id = 1 AND status = 'InProgress'), 0,
          'no run is left InProgress');

-- A run has one total deadline (easycars.sync_deadline) for all its calls, retries included: a
-- hung account costs it that, not timeout_ms times the retries (dealership 2 keeps the defaults,
-- 30 s per request and 3 retries).
SELECT easycars_test.sim('DELETE', '/_sim/faults') \g /dev/null
SELECT easycars_test.sim('POST', '/_sim/faults', '{"route": "GetAdvertisementStocks", "kind": "hang", "times": 10}') \g /dev/null
SET app.current_dealership_id = '2';
SET easycars.sync_deadline = '1 second';
CREATE TEMP TABLE hung_t0 AS SELECT clock_timestamp() AS at;
CREATE TEMP TABLE hung AS SELECT * FROM easycars.sync_stock(2);
RESET easycars.sync_deadline;
SELECT easycars_test.sim('DELETE', '/_sim/faults') \g /dev/null
SELECT is((SELECT status FROM hung), 'Failed', 'a run on a hung account fails at its deadline');
SELECT matches((SELECT error_message FROM hung), 'deadline exceeded', 'and says so');
SELECT cmp_ok((SELECT completed_at - at FROM hung, hung_t0), '<', interval '10 seconds',
              'after about easycars.sync_deadline (1 s), long before one request''s timeout_ms (30 s)');
SELECT is((SELECT metadata->>'outcome' FROM easycars.sync_progress WHERE dealership_id = 2 AND sync_id = (SELECT id::text FROM hung)),
          'timeout', 'its progress records a timeout');
SELECT is(current_setting('easycars_run.deadline_at', true), '', 'the deadline ends with the run');

SELECT * FROM finish();
ROLLBACK;
