-- Row-level security, grants and dump configuration; runs last, after every object exists.

-- SECURITY: every tenant table shows and accepts only rows of the session's dealership
-- (app.current_dealership_id); no setting means no rows. FORCE makes the table owner obey too;
-- superusers and easycars_admin members see every dealership.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['credentials', 'sync_log', 'sync_log_archive', 'vehicle', 'lead',
                             'sync_progress', 'sync_activity_log', 'sync_preview_cache', 'sync_state']
    LOOP
        EXECUTE format('ALTER TABLE easycars.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE easycars.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY %I ON easycars.%I '
            'USING (dealership_id = easycars.current_dealership_id() OR easycars._is_admin()) '
            'WITH CHECK (dealership_id = easycars.current_dealership_id() OR easycars._is_admin())',
            t || '_tenant_policy', t);
        EXECUTE format('COMMENT ON POLICY %I ON easycars.%I IS %L', t || '_tenant_policy', t,
            'Rows of the dealership in app.current_dealership_id only; easycars_admin sees all.');
    END LOOP;
END
$$;

ALTER TABLE easycars.dealership ENABLE ROW LEVEL SECURITY;
ALTER TABLE easycars.dealership FORCE ROW LEVEL SECURITY;
CREATE POLICY dealership_tenant_policy ON easycars.dealership
    USING (id = easycars.current_dealership_id() OR easycars._is_admin())
    WITH CHECK (easycars._is_admin());
COMMENT ON POLICY dealership_tenant_policy ON easycars.dealership IS
    'A session sees only the dealership in app.current_dealership_id; only easycars_admin creates or changes dealerships.';

-- Least privilege: PUBLIC gets nothing; each role gets what its job needs.
REVOKE ALL ON SCHEMA easycars FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA easycars FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA easycars FROM PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA easycars FROM PUBLIC;
REVOKE EXECUTE ON ALL PROCEDURES IN SCHEMA easycars FROM PUBLIC;
REVOKE ALL ON SCHEMA easycars_remote FROM PUBLIC;
GRANT USAGE ON SCHEMA easycars TO easycars_admin, easycars_sync, easycars_analyst;
GRANT EXECUTE ON FUNCTION easycars.current_dealership_id(), easycars._is_admin()
    TO easycars_admin, easycars_sync, easycars_analyst;

GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA easycars TO easycars_admin;
-- SECURITY: not even administrators read the encrypted columns; they write credentials through
-- easycars.set_credentials() and may only (de)activate, re-point or delete a row directly.
REVOKE ALL ON easycars.credentials, easycars.credentials_safe FROM easycars_admin;
GRANT SELECT (id, dealership_id, environment, is_active, yard_code, base_url, account_number_masked,
              encryption_iv, created_at, updated_at, last_synced_at),
      UPDATE (is_active, yard_code, base_url, last_synced_at),
      DELETE
    ON easycars.credentials TO easycars_admin;
GRANT SELECT ON easycars.credentials_safe TO easycars_admin, easycars_sync, easycars_analyst;
GRANT EXECUTE ON FUNCTION easycars.set_credentials(integer, text, text, text, text, text, text, text),
                          easycars.rotate_encryption_key(),
                          easycars.verify_credentials(integer)
    TO easycars_admin;
-- Admins create easycars_fdw servers; everyone may read their own session's insert results.
GRANT USAGE ON FOREIGN DATA WRAPPER easycars_fdw TO easycars_admin;
GRANT EXECUTE ON FUNCTION easycars.fdw_insert_results(), easycars.clear_fdw_insert_results(), easycars.easycars_fdw_meta()
    TO easycars_admin, easycars_sync, easycars_analyst;
GRANT EXECUTE ON FUNCTION easycars.cleanup_preview_cache(),
                          easycars.archive_sync_logs(interval, interval),
                          easycars.maintain_partitions(integer, interval, timestamptz)
    TO easycars_admin;

GRANT SELECT ON easycars.dealership, easycars.vehicle, easycars.lead, easycars.sync_log,
                easycars.sync_log_archive, easycars.sync_progress, easycars.sync_activity_log,
                easycars.sync_preview_cache, easycars.sync_state
    TO easycars_analyst, easycars_sync;

GRANT INSERT, UPDATE ON easycars.vehicle, easycars.lead, easycars.sync_log, easycars.sync_progress,
                        easycars.sync_state, easycars.sync_preview_cache
    TO easycars_sync;
GRANT DELETE ON easycars.sync_preview_cache TO easycars_sync;
GRANT INSERT ON easycars.sync_activity_log TO easycars_sync;
GRANT EXECUTE ON FUNCTION easycars.cleanup_preview_cache() TO easycars_sync;
-- SECURITY: the sync role may see which credentials exist and stamp last_synced_at, never the
-- encrypted columns; analysts get no access to credentials at all.
GRANT SELECT (id, dealership_id, environment, is_active, yard_code, base_url, account_number_masked,
              created_at, updated_at, last_synced_at),
      UPDATE (last_synced_at)
    ON easycars.credentials TO easycars_sync;

-- Syncs: run by easycars_sync (and admins); their helpers run with the caller's rights.
GRANT USAGE ON SCHEMA easycars_remote TO easycars_admin, easycars_sync;
GRANT EXECUTE ON FUNCTION easycars.sync_stock(integer, boolean), easycars.push_leads(integer, boolean),
                          easycars.sync_leads(integer, boolean), easycars.preview_stock_sync(integer, interval),
                          easycars._ensure_remote(integer), easycars._ensure_partitions(),
                          easycars._begin_run(integer, text, text, easycars.sync_entity, boolean, jsonb),
                          easycars._finish_run(easycars.sync_log, easycars.sync_entity, text, integer, integer, integer, integer, integer, integer, jsonb, text, text),
                          easycars._report(easycars.sync_log, text), easycars._stock_feed_sql(integer), easycars._stock_keys_sql(integer), easycars._stock_upsert_sql(text, text), easycars._run_stock_upsert(text, text, integer),
                          easycars._push_lead(integer, bigint), easycars._leads_to_push(integer),
                          easycars._enum_code(text, text), easycars._lead_status_code(text), easycars._lead_push_digest(easycars.lead),
                          easycars._foreign_table_ddl(text, text, text, text)
    TO easycars_admin, easycars_sync;
GRANT EXECUTE ON PROCEDURE easycars.run_due_syncs(text) TO easycars_admin, easycars_sync;
GRANT EXECUTE ON FUNCTION easycars.schedule_syncs(text, text), easycars.unschedule_syncs() TO easycars_admin;
REVOKE ALL ON easycars.recent_failed_syncs, easycars.sync_performance_7d, easycars.running_syncs FROM easycars_admin;
GRANT SELECT ON easycars.recent_failed_syncs, easycars.sync_performance_7d, easycars.running_syncs
    TO easycars_admin, easycars_sync, easycars_analyst;

-- pg_dump keeps the data of these tables (their definitions come with CREATE EXTENSION).
SELECT pg_catalog.pg_extension_config_dump('easycars.dealership', '');
SELECT pg_catalog.pg_extension_config_dump('easycars.credentials', '');
SELECT pg_catalog.pg_extension_config_dump('easycars.vehicle', '');
SELECT pg_catalog.pg_extension_config_dump('easycars.lead', '');
SELECT pg_catalog.pg_extension_config_dump('easycars.sync_log', '');
SELECT pg_catalog.pg_extension_config_dump('easycars.sync_log_archive', '');
SELECT pg_catalog.pg_extension_config_dump('easycars.sync_state', '');
SELECT pg_catalog.pg_extension_config_dump('easycars.sync_progress', '');

-- The rows of the default partition, and where the identity sequences stand: without these a
-- restored database would hand out ids that are already taken.
SELECT pg_catalog.pg_extension_config_dump('easycars.sync_activity_log_default', '');
SELECT pg_catalog.pg_extension_config_dump('easycars.dealership_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('easycars.credentials_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('easycars.sync_log_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('easycars.vehicle_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('easycars.lead_id_seq', '');

-- No monthly partition is made here. Partitions are user data that pg_dump keeps, and a restore
-- runs CREATE EXTENSION before it recreates them: one made here would collide by name. They come
-- from maintain_partitions() and from run_due_syncs(); until then rows wait in the default.
