-- Every CHECK constraint rejects a bad value (23514) and every foreign key cascades or nulls as designed.
BEGIN;
SELECT plan(68);
\ir _fixtures.psql

CREATE FUNCTION pg_temp.bad(sql text, constraint_name text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'accepted';
EXCEPTION WHEN check_violation THEN
    GET STACKED DIAGNOSTICS sql = CONSTRAINT_NAME;
    RETURN sql;
END $$;

-- Each row: a statement that must be refused, and the constraint that must refuse it.
SELECT is(pg_temp.bad(stmt, con), con, con || ' rejects: ' || left(stmt, 70))
FROM (VALUES
    ($$INSERT INTO easycars.dealership (id, name) VALUES (0, 'x')$$, 'dealership_id_chk'),
    ($$INSERT INTO easycars.dealership (name) VALUES ('   ')$$, 'dealership_name_chk'),
    ($$UPDATE easycars.credentials SET environment = 'Staging' WHERE dealership_id = 101$$, 'credentials_environment_chk'),
    ($$UPDATE easycars.credentials SET client_secret_encrypted = 'AAAAAAAA-BBBB-CCCC-DDDD-EEEEEEEEEEEE' WHERE dealership_id = 101$$, 'credentials_ciphertext_chk'),
    ($$UPDATE easycars.credentials SET account_number_encrypted = 'EC114575' WHERE dealership_id = 101$$, 'credentials_ciphertext_chk'),
    ($$UPDATE easycars.credentials SET account_number_masked = 'EC114575' WHERE dealership_id = 101$$, 'credentials_masked_chk'),
    ($$UPDATE easycars.credentials SET yard_code = ' ' WHERE dealership_id = 101$$, 'credentials_yard_code_chk'),
    ($$UPDATE easycars.credentials SET base_url = 'ftp://x' WHERE dealership_id = 101$$, 'credentials_base_url_chk'),
    ($$UPDATE easycars.sync_log SET sync_type = 'Contact' WHERE dealership_id = 101$$, 'sync_log_sync_type_chk'),
    ($$UPDATE easycars.sync_log SET sync_direction = 'Sideways' WHERE dealership_id = 101$$, 'sync_log_sync_direction_chk'),
    ($$UPDATE easycars.sync_log SET status = 'Done' WHERE dealership_id = 101$$, 'sync_log_status_chk'),
    ($$UPDATE easycars.sync_log SET completed_at = started_at - interval '1 second' WHERE dealership_id = 101$$, 'sync_log_completed_at_chk'),
    ($$UPDATE easycars.sync_log SET records_failed = -1 WHERE dealership_id = 101$$, 'sync_log_counts_chk'),
    ($$UPDATE easycars.sync_log_archive SET status = 'Done' WHERE dealership_id = 101$$, 'sync_log_archive_status_chk'),
    ($$UPDATE easycars.sync_log_archive SET sync_type = 'X' WHERE dealership_id = 101$$, 'sync_log_archive_sync_type_chk'),
    ($$UPDATE easycars.sync_log_archive SET sync_direction = 'X' WHERE dealership_id = 101$$, 'sync_log_archive_sync_direction_chk'),
    ($$UPDATE easycars.sync_log_archive SET completed_at = started_at - interval '1 day' WHERE dealership_id = 101$$, 'sync_log_archive_completed_at_chk'),
    ($$UPDATE easycars.sync_log_archive SET records_created = -5 WHERE dealership_id = 101$$, 'sync_log_archive_counts_chk'),
    ($$UPDATE easycars.vehicle SET data_source = 'Scraped' WHERE dealership_id = 101$$, 'vehicle_data_source_chk'),
    ($$UPDATE easycars.vehicle SET easycars_stock_number = NULL WHERE dealership_id = 101$$, 'vehicle_easycars_identity_chk'),
    ($$UPDATE easycars.vehicle SET status = 'gone' WHERE dealership_id = 101$$, 'vehicle_status_chk'),
    ($$UPDATE easycars.vehicle SET condition = 'mint' WHERE dealership_id = 101$$, 'vehicle_condition_chk'),
    ($$UPDATE easycars.vehicle SET year = 1700 WHERE dealership_id = 101$$, 'vehicle_year_chk'),
    ($$UPDATE easycars.vehicle SET price = -1 WHERE dealership_id = 101$$, 'vehicle_price_chk'),
    ($$UPDATE easycars.vehicle SET special_price = -1 WHERE dealership_id = 101$$, 'vehicle_special_price_chk'),
    ($$UPDATE easycars.vehicle SET mileage = -10 WHERE dealership_id = 101$$, 'vehicle_mileage_chk'),
    ($$UPDATE easycars.vehicle SET door_count = 12 WHERE dealership_id = 101$$, 'vehicle_door_count_chk'),
    ($$UPDATE easycars.vehicle SET seat_capacity = -1 WHERE dealership_id = 101$$, 'vehicle_seat_capacity_chk'),
    ($$UPDATE easycars.vehicle SET stock_type = 'Z' WHERE dealership_id = 101$$, 'vehicle_stock_type_chk'),
    ($$UPDATE easycars.vehicle SET images = '{"a": 1}' WHERE dealership_id = 101$$, 'vehicle_images_chk'),
    ($$UPDATE easycars.vehicle SET features = '"Bluetooth"' WHERE dealership_id = 101$$, 'vehicle_features_chk'),
    ($$UPDATE easycars.vehicle SET easycars_vin = 'IOQ12345' WHERE dealership_id = 101$$, 'vehicle_vin_chk'),
    ($$UPDATE easycars.vehicle SET status = 'removed' WHERE dealership_id = 101$$, 'vehicle_removed_chk'),
    ($$UPDATE easycars.lead SET data_source = 'Phone' WHERE dealership_id = 101$$, 'lead_data_source_chk'),
    ($$UPDATE easycars.lead SET status = 'received' WHERE dealership_id = 101$$, 'lead_status_chk'),
    ($$UPDATE easycars.lead SET vehicle_interest_type = 'Purchase' WHERE dealership_id = 101$$, 'lead_vehicle_interest_chk'),
    ($$UPDATE easycars.lead SET rating = 'Lukewarm' WHERE dealership_id = 101$$, 'lead_rating_chk'),
    ($$UPDATE easycars.lead SET finance_status = 'true' WHERE dealership_id = 101$$, 'lead_finance_status_chk'),
    ($$UPDATE easycars.lead SET vehicle_type = 'Plane' WHERE dealership_id = 101$$, 'lead_vehicle_type_chk'),
    ($$UPDATE easycars.lead SET vehicle_year = 3000 WHERE dealership_id = 101$$, 'lead_vehicle_year_chk'),
    ($$UPDATE easycars.lead SET vehicle_price = -3 WHERE dealership_id = 101$$, 'lead_vehicle_price_chk'),
    ($$UPDATE easycars.lead SET name = '' WHERE dealership_id = 101$$, 'lead_name_chk'),
    ($$UPDATE easycars.lead SET email = 'not an email' WHERE dealership_id = 101$$, 'lead_email_chk'),
    ($$UPDATE easycars.lead SET email = NULL, phone = NULL, mobile = NULL WHERE dealership_id = 101$$, 'lead_contact_chk'),
    ($$UPDATE easycars.sync_progress SET current_item = -1 WHERE dealership_id = 101$$, 'sync_progress_positive_items'),
    ($$UPDATE easycars.sync_progress SET completed_at = started_at - interval '1 hour' WHERE dealership_id = 101$$, 'sync_progress_completed_at_chk'),
    ($$INSERT INTO easycars.sync_activity_log (dealership_id, action, status, record_count) VALUES (101, 'sync_start', 'pending', -1)$$, 'sync_activity_log_positive_count'),
    ($$INSERT INTO easycars.sync_activity_log (dealership_id, action, status, duration_seconds) VALUES (101, 'sync_start', 'pending', -2)$$, 'sync_activity_log_positive_duration'),
    ($$UPDATE easycars.sync_preview_cache SET expires_at = computed_at WHERE dealership_id = 101$$, 'sync_preview_cache_ttl_chk'),
    ($$UPDATE easycars.sync_preview_cache SET delta_json = '[]' WHERE dealership_id = 101$$, 'sync_preview_cache_delta_chk'),
    ($$UPDATE easycars.sync_state SET records_synced = -1 WHERE dealership_id = 101$$, 'sync_state_records_chk'),
    ($$UPDATE easycars.sync_state SET last_error = 'boom' WHERE dealership_id = 101$$, 'sync_state_error_chk')
) AS cases(stmt, con);

-- The negative-count CHECK on sync_progress is shadowed by the totals trigger; it still exists.
SELECT col_has_check('easycars', 'sync_progress', ARRAY['processed_count', 'failed_count', 'total_items'], 'sync_progress_positive_counts exists');

-- A preview that has already expired is still a valid row (the seed's CHECK made it invalid).
SELECT lives_ok($$UPDATE easycars.sync_preview_cache SET computed_at = now() - interval '2 hours', expires_at = now() - interval '1 hour' WHERE dealership_id = 101$$,
                'an expired preview row can be written');

-- Foreign keys: cascades from the tenant root, SET NULL of only the referencing column.
INSERT INTO easycars.lead (dealership_id, vehicle_id, name, email)
SELECT 101, id, 'Linked', 'l@alpha.example' FROM easycars.vehicle WHERE dealership_id = 101;
DELETE FROM easycars.vehicle WHERE dealership_id = 101;
SELECT is((SELECT count(*)::int FROM easycars.lead WHERE dealership_id = 101 AND name = 'Linked' AND vehicle_id IS NULL), 1,
          'deleting a vehicle keeps its lead with vehicle_id NULL');

DELETE FROM easycars.credentials WHERE dealership_id = 101;
SELECT is((SELECT count(*)::int FROM easycars.sync_log WHERE dealership_id = 101 AND credential_id IS NULL), 1,
          'deleting credentials keeps the sync log with credential_id NULL');

INSERT INTO easycars.vehicle (dealership_id, make, model, year, title) VALUES (101, 'FORD', 'RANGER', 2019, 'Ranger');
SELECT throws_ok(format($$INSERT INTO easycars.lead (dealership_id, vehicle_id, name, email) VALUES (102, %s, 'Cross', 'c@x.example')$$,
                        (SELECT id FROM easycars.vehicle WHERE dealership_id = 101 AND make = 'FORD')),
                 '23503', NULL, 'a lead cannot point at another dealership''s vehicle');

DELETE FROM easycars.dealership WHERE id = 102;
SELECT is((SELECT sum(n)::int FROM (
    SELECT count(*) FROM easycars.credentials WHERE dealership_id = 102 UNION ALL
    SELECT count(*) FROM easycars.sync_log WHERE dealership_id = 102 UNION ALL
    SELECT count(*) FROM easycars.sync_log_archive WHERE dealership_id = 102 UNION ALL
    SELECT count(*) FROM easycars.vehicle WHERE dealership_id = 102 UNION ALL
    SELECT count(*) FROM easycars.lead WHERE dealership_id = 102 UNION ALL
    SELECT count(*) FROM easycars.sync_progress WHERE dealership_id = 102 UNION ALL
    SELECT count(*) FROM easycars.sync_activity_log WHERE dealership_id = 102 UNION ALL
    SELECT count(*) FROM easycars.sync_preview_cache WHERE dealership_id = 102 UNION ALL
    SELECT count(*) FROM easycars.sync_state WHERE dealership_id = 102) AS t(n)), 0,
    'deleting a dealership cascades to every tenant table');
SELECT is((SELECT count(*)::int FROM easycars.sync_log WHERE dealership_id = 101), 1, 'the other dealership is untouched');

-- The lead table's enum CHECK lists are exactly the labels of the one definition in Rust (the
-- wrapper's _label columns and the push codes come from it too), in the same order.
CREATE TEMP TABLE enum_checks (kind text, conname text);
INSERT INTO enum_checks VALUES ('interest', 'lead_vehicle_interest_chk'), ('rating', 'lead_rating_chk'),
    ('finance', 'lead_finance_status_chk'), ('vehicle_type', 'lead_vehicle_type_chk'), ('status', 'lead_status_chk');
SELECT is(ARRAY(SELECT m[1] FROM regexp_matches(pg_get_constraintdef(c.oid), '''([^'']+)''::', 'g') AS m),
          easycars._enum_labels(e.kind), 'lead CHECK ' || e.conname || ' lists exactly the EasyCars ' || e.kind || ' labels')
FROM enum_checks e JOIN pg_constraint c ON c.conname = e.conname AND c.conrelid = 'easycars.lead'::regclass;
SELECT is(ARRAY(SELECT easycars._enum_code(e.kind, l) FROM enum_checks e, unnest(easycars._enum_labels(e.kind)) l WHERE e.kind = 'rating'),
          ARRAY[1, 2, 3], 'and their codes are EasyCars'' (Rating Cold=1, Warm=2, Hot=3)');
SELECT is(easycars._lead_status_code('in_progress'), 30, 'lead status in_progress is LeadStatus 30');

-- Seed 002's subdomain and contact email on the dealership.
UPDATE easycars.dealership SET subdomain = 'alpha-motors', contact_email = 'it@alpha.example' WHERE id = 101;
INSERT INTO easycars.dealership (id, name) VALUES (103, 'Charlie Cars');
SELECT throws_ok($$UPDATE easycars.dealership SET subdomain = 'alpha-motors' WHERE id = 103$$, '23505', NULL, 'a subdomain belongs to one dealership');
SELECT throws_ok($$UPDATE easycars.dealership SET subdomain = 'Not A Label' WHERE id = 103$$, '23514', NULL, 'a subdomain is a lower-case DNS label');

SELECT * FROM finish();
ROLLBACK;
