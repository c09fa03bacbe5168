-- The data model exists as designed, and every object is documented.
BEGIN;
SELECT plan(27);

SELECT has_schema('easycars');
SELECT tables_are('easycars', ARRAY[
    'dealership', 'dealership_access', 'credentials', 'credentials_input', 'audit_log', 'sync_log', 'sync_log_archive', 'vehicle', 'lead',
    'sync_progress', 'sync_activity_log', 'sync_activity_log_default', 'sync_preview_cache', 'sync_state', 'sync_schedule',
    'lead_score_weight'
] || ARRAY(SELECT c.relname::name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = 'easycars.sync_activity_log'::regclass AND c.relname <> 'sync_activity_log_default'));
SELECT is((SELECT relkind::text FROM pg_class WHERE oid = 'easycars.sync_activity_log'::regclass), 'p',
          'sync_activity_log is partitioned');
SELECT is(ARRAY(SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                WHERE i.inhparent = 'easycars.sync_activity_log'::regclass
                  AND EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')),
          ARRAY['sync_activity_log_default'],
          'of the partitions only the default belongs to the extension (monthly ones are user data pg_dump keeps)');
SELECT enum_has_labels('easycars', 'sync_entity', ARRAY['stock', 'lead', 'contact', 'quotation']);

-- seed 000 columns
SELECT columns_are('easycars', 'credentials', ARRAY[
    'id', 'dealership_id', 'client_id_encrypted', 'client_secret_encrypted', 'account_number_encrypted',
    'account_secret_encrypted', 'encryption_iv', 'account_number_masked', 'environment', 'is_active',
    'yard_code', 'base_url', 'created_at', 'updated_at', 'last_synced_at']);
SELECT columns_are('easycars', 'sync_log', ARRAY[
    'id', 'dealership_id', 'credential_id', 'sync_type', 'sync_direction', 'status', 'started_at',
    'completed_at', 'records_processed', 'records_created', 'records_updated', 'records_unchanged',
    'records_removed', 'records_failed', 'error_message', 'error_details', 'request_payload',
    'response_summary', 'triggered_by', 'created_at']);
SELECT is(
    ARRAY(SELECT (attname, atttypid::regtype)::text FROM pg_attribute WHERE attrelid = 'easycars.sync_log'::regclass AND attnum > 0 ORDER BY attnum),
    ARRAY(SELECT (attname, atttypid::regtype)::text FROM pg_attribute WHERE attrelid = 'easycars.sync_log_archive'::regclass AND attnum > 0 ORDER BY attnum),
    'sync_log_archive has the shape of sync_log');
SELECT is(
    (SELECT count(*)::int FROM unnest(ARRAY['easycars_stock_number', 'easycars_yard_code', 'easycars_vin', 'easycars_raw_data',
        'data_source', 'last_synced_from_easycars', 'exterior_color', 'interior_color', 'body', 'fuel_type', 'gear_type',
        'engine_capacity', 'door_count', 'features', 'badge', 'series', 'rego_number', 'stock_status', 'is_used', 'is_demo',
        'drive_train', 'seat_capacity']) AS c
     WHERE NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'easycars.vehicle'::regclass AND attname = c)),
    0, 'vehicle carries every seed column and the queryable EasyCars fields');
SELECT is(
    (SELECT count(*)::int FROM unnest(ARRAY['easycars_lead_number', 'easycars_customer_no', 'easycars_raw_data', 'data_source',
        'last_synced_to_easycars', 'last_synced_from_easycars', 'vehicle_interest_type', 'finance_interested', 'rating',
        'name', 'email', 'phone', 'message', 'status', 'vehicle_id']) AS c
     WHERE NOT EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'easycars.lead'::regclass AND attname = c)),
    0, 'lead carries every seed column and the core columns');

-- indexes from the seeds
SELECT has_index('easycars', 'credentials', 'credentials_active_idx', ARRAY['dealership_id']);
SELECT is((SELECT pg_get_expr(indpred, indrelid) FROM pg_index WHERE indexrelid = 'easycars.credentials_active_idx'::regclass),
          'is_active', 'the active-credentials index is partial');
SELECT indexes_are('easycars', 'sync_log', ARRAY['sync_log_pkey', 'sync_log_dealership_idx', 'sync_log_status_idx',
                                                 'sync_log_started_at_idx', 'sync_log_sync_type_idx']);
SELECT has_index('easycars', 'vehicle', 'vehicle_dealership_data_source_idx', ARRAY['dealership_id', 'data_source']);
SELECT has_index('easycars', 'vehicle', 'vehicle_easycars_vin_idx', ARRAY['dealership_id', 'easycars_vin']);
SELECT has_index('easycars', 'lead', 'lead_easycars_lead_idx', ARRAY['easycars_lead_number']);
SELECT is((SELECT amname::text FROM pg_class c JOIN pg_am a ON a.oid = c.relam WHERE c.oid = 'easycars.vehicle_search_idx'::regclass),
          'gin', 'vehicle full-text search has a GIN index');

-- Citus-ready: every unique or primary key of a tenant table includes dealership_id.
SELECT is(
    ARRAY(SELECT i.indexrelid::regclass::text
          FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid
          WHERE c.relnamespace = 'easycars'::regnamespace AND c.relname NOT IN ('dealership', 'audit_log', 'lead_score_weight') AND i.indisunique
            AND c.relkind IN ('r', 'p') AND c.relispartition IS FALSE
            AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'dealership_id'
                            AND a.attnum = ANY (i.indkey))),
    '{}'::text[], 'every unique index of a tenant table includes dealership_id');

-- The seed's invalid CHECK (expires_at > now()) is gone: no CHECK constraint calls a volatile or stable function.
SELECT is(
    ARRAY(SELECT conname::text FROM pg_constraint
          WHERE connamespace = 'easycars'::regnamespace AND contype = 'c'
            AND pg_get_constraintdef(oid) ~* 'now\(|current_timestamp|clock_timestamp'),
    '{}'::text[], 'no CHECK constraint depends on the clock');

-- Full-text search works on generated vectors.
INSERT INTO easycars.dealership (id, name) VALUES (7, 'Search Motors');
INSERT INTO easycars.vehicle (dealership_id, make, model, year, title, badge, description)
VALUES (7, 'TOYOTA', 'HILUX', 2021, 't', 'SR5', 'One owner, full service history');
SELECT is((SELECT count(*)::int FROM easycars.vehicle WHERE search @@ websearch_to_tsquery('english', 'hilux sr5 owners')), 1,
          'a vehicle is found by make, badge and a stemmed description word');

-- Every object is commented.
SELECT is(ARRAY(SELECT c.relname::text FROM pg_class c
                WHERE c.relnamespace = 'easycars'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
                  AND obj_description(c.oid, 'pg_class') IS NULL ORDER BY 1),
          '{}'::text[], 'every table and view has a comment');
SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p
                WHERE p.pronamespace = 'easycars'::regnamespace AND obj_description(p.oid, 'pg_proc') IS NULL ORDER BY 1),
          '{}'::text[], 'every function has a comment');
SELECT is(ARRAY(SELECT t.typname::text FROM pg_type t
                WHERE t.typnamespace = 'easycars'::regnamespace AND t.typtype = 'e' AND obj_description(t.oid, 'pg_type') IS NULL),
          '{}'::text[], 'every enum type has a comment');
SELECT is(ARRAY(SELECT rolname::text FROM pg_roles WHERE rolname LIKE 'easycars\_%' AND shobj_description(oid, 'pg_authid') IS NULL),
          '{}'::text[], 'every easycars role has a comment');
SELECT is(ARRAY(SELECT polname::text FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
                WHERE c.relnamespace = 'easycars'::regnamespace AND obj_description(p.oid, 'pg_policy') IS NULL),
          '{}'::text[], 'every policy has a comment');

-- The analyst-facing indexes serve the queries seed 001 names.
CREATE FUNCTION pg_temp.plan_of(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE line text; out text := '';
BEGIN
    SET LOCAL enable_seqscan = off;
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || q LOOP out := out || line || E'\n'; END LOOP;
    RESET enable_seqscan;
    RETURN out;
END $$;
SELECT matches(pg_temp.plan_of('SELECT * FROM easycars.vehicle WHERE dealership_id = 1 ORDER BY price LIMIT 20'),
               'vehicle_dealership_price_idx', 'a dealership''s cheapest vehicles come from an index');
SELECT matches(pg_temp.plan_of($$SELECT * FROM easycars.lead WHERE dealership_id = 1 AND lower(email) = 'jo@example.com'$$),
               'lead_dealership_email_idx', 'a lead by email comes from an index');

SELECT * FROM finish();
ROLLBACK;
