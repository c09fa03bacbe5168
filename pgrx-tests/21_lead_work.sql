-- Working the leads: a score from 0 to 100 kept by the database (weights adjustable by admins, an
-- index for "best leads first"), phones in E.164, fuzzy and full-text search within the tenant,
-- GIN indexes on the raw EasyCars data, and activity partitions made by hand indexed.
BEGIN;
SELECT plan(46);
\ir _fixtures.psql
SET client_min_messages = warning;

-- Phones, the Australian way.
SELECT is(easycars.au_phone_e164(p), e, format('%s is %s', p, coalesce(e, 'not a phone number')))
FROM (VALUES ('0412 345 678', '+61412345678'), ('+61 412 345 678', '+61412345678'), ('61412345678', '+61412345678'),
             ('+61 (0)412 345 678', '+61412345678'), ('(02) 9876 5432', '+61298765432'), ('1300 123 456', '+611300123456'),
             ('412345678', '+61412345678'), ('0011 64 21 123 4567', '+64211234567'), ('+1 415 555 0100', '+14155550100'),
             ('12345', NULL), ('call me', NULL)) t(p, e);

-- Scores follow the lead.
INSERT INTO easycars.lead (dealership_id, name, email, mobile, rating, vehicle_interest_type, finance_status)
VALUES (101, 'Warm Lead', 'warm@alpha.example', '0400 111 222', 'Warm', 'Buy', 'Maybe');
CREATE TEMP TABLE warm AS SELECT id, score, updated_at FROM easycars.lead WHERE name = 'Warm Lead';
-- rating Warm 20 + Buy 15 + Maybe 5 + contact complete 10 + created today 15
SELECT is((SELECT score FROM warm), 65::smallint, 'a new warm buyer with full contact details scores 65');
UPDATE easycars.lead SET rating = 'Hot' WHERE name = 'Warm Lead';
SELECT is((SELECT score FROM easycars.lead WHERE name = 'Warm Lead'), 82::smallint,
          'rated Hot, the score rises by the difference (15) and by one change (2)');
SELECT is((SELECT update_count FROM easycars.lead WHERE name = 'Warm Lead'), 1, 'the change is counted');
UPDATE easycars.lead SET easycars_raw_data = '{"x": 1}' WHERE name = 'Warm Lead';
SELECT is((SELECT update_count FROM easycars.lead WHERE name = 'Warm Lead'), 1, 'sync bookkeeping is not a change of the lead');
UPDATE easycars.lead SET status = 'lost' WHERE name = 'Warm Lead';
SELECT is((SELECT score FROM easycars.lead WHERE name = 'Warm Lead'), 0::smallint, 'a lost lead scores 0');
UPDATE easycars.lead SET status = 'in_progress' WHERE name = 'Warm Lead';

-- Administrators adjust the weights; every lead is rescored, without touching updated_at.
UPDATE easycars.lead SET updated_at = '2020-01-01' WHERE name = 'Warm Lead';
SET LOCAL ROLE ec_admin;
INSERT INTO easycars.lead_score_weight (factor, points) VALUES ('rating_hot', 50);
RESET ROLE;
SELECT is((SELECT score FROM easycars.lead WHERE name = 'Warm Lead'), 100::smallint,
          'Hot worth 50: the lead is rescored at once (clamped to 100)');
SELECT is((SELECT updated_at FROM easycars.lead WHERE name = 'Warm Lead'), '2020-01-01'::timestamptz,
          'a rescore is no edit: updated_at stays');
SELECT results_eq($$SELECT points, default_points, overridden FROM easycars.lead_score_weights WHERE factor = 'rating_hot'$$,
                  $$VALUES (50, 35, true)$$, 'lead_score_weights shows the override beside the default');
SELECT ok(EXISTS (SELECT 1 FROM easycars.audit_log WHERE object = 'lead_score_weight' AND action = 'insert'
                  AND actor = 'ec_admin' AND after->>'points' = '50'), 'the change is in the audit trail');
SELECT throws_ok($$INSERT INTO easycars.lead_score_weight (factor, points) VALUES ('shoe_size', 5)$$, '23514', NULL,
                 'an unknown factor is refused');
SET LOCAL ROLE ec_analyst;
SELECT throws_ok($$DELETE FROM easycars.lead_score_weight$$, '42501', NULL, 'analysts cannot change the weights');
RESET ROLE;
DELETE FROM easycars.lead_score_weight;
SELECT is((SELECT score FROM easycars.lead WHERE name = 'Warm Lead'), 86::smallint, 'back to the defaults, back to the default score');

-- Recency decays with time alone, which no trigger sees; the nightly refresh catches up. (Time
-- is moved here by ageing the lead behind the trigger's back.)
ALTER TABLE easycars.lead DISABLE TRIGGER lead_score;
UPDATE easycars.lead SET created_at = now() - interval '10 days' WHERE name = 'Warm Lead';
ALTER TABLE easycars.lead ENABLE TRIGGER lead_score;
SELECT is(easycars.refresh_lead_scores(), 1::bigint, 'the refresh rescores the one lead whose age band changed');
SELECT is((SELECT score FROM easycars.lead WHERE name = 'Warm Lead'), 76::smallint, '10 days old: recency is worth 5, not 15');
SELECT is(easycars.refresh_lead_scores(), 0::bigint, 'and a second refresh has nothing to do');

-- "Best leads first" is an index scan, for a tenant and for everyone.
INSERT INTO easycars.lead (dealership_id, name, email, rating, vehicle_interest_type)
SELECT 101 + i % 2, 'Bulk ' || i, 'bulk' || i || '@example.com', (ARRAY['Cold', 'Warm', 'Hot'])[1 + i % 3], 'Buy'
FROM generate_series(1, 3000) i;
ANALYZE easycars.lead;
CREATE FUNCTION pg_temp.plan(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text; l text;
BEGIN
    FOR l IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP r := concat_ws(E'\n', r, l); END LOOP;
    RETURN r;
END $$;
GRANT EXECUTE ON FUNCTION pg_temp.plan(text) TO PUBLIC;
SET LOCAL ROLE ec_analyst;
SET LOCAL app.current_dealership_id = '101';
SELECT matches(pg_temp.plan('SELECT * FROM easycars.lead ORDER BY score DESC LIMIT 20'), 'Index Scan using lead_dealership_score_idx',
               'a tenant''s top 20 is an index scan on (dealership_id, score)');
SELECT is((SELECT array_agg(DISTINCT dealership_id) FROM (SELECT * FROM easycars.lead ORDER BY score DESC LIMIT 20) t), ARRAY[101],
          'and holds only the tenant''s leads');
RESET ROLE;
SELECT matches(pg_temp.plan('SELECT * FROM easycars.lead ORDER BY score DESC LIMIT 20'), 'Index Scan using lead_score_idx',
               'everyone''s top 20 (administrators) is an index scan on score');
SELECT is((SELECT array_agg(score ORDER BY score DESC) FROM (SELECT score FROM easycars.lead ORDER BY score DESC LIMIT 3) t),
          (SELECT array_agg(s ORDER BY s DESC) FROM (SELECT easycars.lead_score(l) s FROM easycars.lead l ORDER BY 1 DESC LIMIT 3) t),
          'the stored scores are the formula''s');

-- Search.
INSERT INTO easycars.lead (dealership_id, name, email, phone, mobile, message, internal_notes) VALUES
    (101, 'Jon Citizen', 'jon.citizen@example.com', NULL, '+61 412 345 678', 'Is the Hilux still available?', 'Wants a trade-in valuation'),
    (102, 'John Citizen', 'john@bravo.example', '02 9876 5432', NULL, NULL, NULL);
SET LOCAL ROLE ec_analyst;
SET LOCAL app.current_dealership_id = '101';
SELECT results_eq($$SELECT name, matched_on FROM easycars.search_leads('john citizen') LIMIT 1$$,
                  $$VALUES ('Jon Citizen', 'name')$$, '''john citizen'' finds Jon Citizen (fuzzy name)');
SELECT is((SELECT count(*)::int FROM easycars.search_leads('john citizen') WHERE dealership_id <> 101), 0,
          'and never another dealership''s John Citizen');
SELECT results_eq($$SELECT name, matched_on, rank FROM easycars.search_leads('0412 345 678')$$,
                  $$VALUES ('Jon Citizen', 'phone', 1::real)$$, 'a mobile typed nationally finds the one written internationally');
SELECT results_eq($$SELECT name, matched_on FROM easycars.search_leads('345 678') LIMIT 1$$,
                  $$VALUES ('Jon Citizen', 'phone digits')$$, 'six digits of it are enough to find it first');
SELECT results_eq($$SELECT name FROM easycars.search_leads('trade-in valuation')$$,
                  $$VALUES ('Jon Citizen')$$, 'words of the internal notes find it');
SELECT results_eq($$SELECT name FROM easycars.search_leads('jon.citizen@exampl.com') LIMIT 1$$,
                  $$VALUES ('Jon Citizen')$$, 'a mistyped email finds it first');
SELECT throws_ok($$SELECT * FROM easycars.search_leads('  ')$$, '22023', NULL, 'an empty search is refused with a reason');
RESET ROLE;
SET LOCAL enable_seqscan = off;
SELECT matches(pg_temp.plan($$SELECT * FROM easycars.lead WHERE name OPERATOR(public.%) 'john citizen'$$), 'lead_fuzzy_idx',
               'fuzzy name matching uses the trigram index');
SELECT matches(pg_temp.plan($$SELECT * FROM easycars.lead WHERE mobile_e164 = '+61412345678'$$), 'lead_mobile_e164_idx',
               'phone lookups use the E.164 index');
SELECT matches(pg_temp.plan($$SELECT * FROM easycars.vehicle WHERE easycars_raw_data @> '{"Make": "Toyota"}'$$), 'vehicle_raw_data_idx',
               'containment searches over vehicles'' raw EasyCars data use the jsonb_path_ops index');
SELECT matches(pg_temp.plan($$SELECT * FROM easycars.lead WHERE easycars_raw_data @> '{"Rating": 3}'$$), 'lead_raw_data_idx',
               'and over leads''');
RESET enable_seqscan;

-- A month's partition made by hand the usual way gets the key and indexes of every partition;
-- one ATTACHed bare gets them from maintain_partitions().
CREATE TABLE easycars.sync_activity_log_2031_01 PARTITION OF easycars.sync_activity_log
    FOR VALUES FROM ('2031-01-01 00:00+00') TO ('2031-02-01 00:00+00');
SELECT is((SELECT array_agg(pg_get_indexdef(indexrelid) ~ 'btree' ORDER BY 1) FILTER (WHERE indisprimary)
           FROM pg_index WHERE indrelid = 'easycars.sync_activity_log_2031_01'::regclass), ARRAY[true], 'it has the primary key');
SELECT is((SELECT count(*)::int FROM pg_index WHERE indrelid = 'easycars.sync_activity_log_2031_01'::regclass),
          (SELECT count(*)::int FROM pg_index WHERE indrelid = 'easycars.sync_activity_log_default'::regclass),
          'and as many indexes as the default partition');
CREATE TABLE easycars.sync_activity_log_2031_02 (LIKE easycars.sync_activity_log INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE easycars.sync_activity_log ATTACH PARTITION easycars.sync_activity_log_2031_02
    FOR VALUES FROM ('2031-02-01 00:00+00') TO ('2031-03-01 00:00+00');
SET LOCAL ROLE ec_outsider;
CREATE TEMP TABLE outsider_table (x int);
RESET ROLE;
SELECT ok(to_regclass('pg_temp.outsider_table') IS NOT NULL, 'the event trigger never stands in the way of a role without rights on easycars creating its own tables');
SELECT results_eq($$SELECT partition_name, action FROM easycars.maintain_partitions() WHERE action = 'indexed'$$,
                  $$VALUES ('sync_activity_log_2031_02'::text, 'indexed'::text)$$, 'maintain_partitions indexes a bare attached partition');
SELECT is((SELECT count(*)::int FROM pg_index WHERE indrelid = 'easycars.sync_activity_log_2031_02'::regclass),
          (SELECT count(*)::int FROM pg_index WHERE indrelid = 'easycars.sync_activity_log_default'::regclass),
          'which then has the same indexes');

SELECT * FROM finish();
ROLLBACK;
