-- Row-level security, grants and dump configuration; runs last, after every object exists.

-- SECURITY: every tenant table shows and accepts only rows of the dealership the session acts for:
-- app.current_dealership_id, and only if the role was granted that dealership (see
-- easycars.current_dealership_id()). The function is evaluated once per query (an InitPlan), so the
-- policy is one comparison against a stable value and the primary-key index serves it.
-- easycars_admin has its own permissive policy, applied only to its members (PostgreSQL picks the
-- policies of a role when planning), so a tenant's plan carries no OR that would defeat the index.
-- FORCE makes the table owner obey too; superusers bypass row-level security.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['credentials', 'sync_log', 'sync_log_archive', 'vehicle', 'lead',
                             'sync_progress', 'sync_activity_log', 'sync_preview_cache', 'sync_state', 'sync_schedule']
    LOOP
        EXECUTE format('ALTER TABLE easycars.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE easycars.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY %I ON easycars.%I '
            'USING (dealership_id OPERATOR(pg_catalog.=) (SELECT easycars.current_dealership_id())) '
            'WITH CHECK (dealership_id OPERATOR(pg_catalog.=) (SELECT easycars.current_dealership_id()))',
            t || '_tenant_policy', t);
        EXECUTE format('COMMENT ON POLICY %I ON easycars.%I IS %L', t || '_tenant_policy', t,
            'Rows of the dealership the session acts for: app.current_dealership_id, if the role was granted it.');
        EXECUTE format('CREATE POLICY %I ON easycars.%I TO easycars_admin USING (true) WITH CHECK (true)',
            t || '_admin_policy', t);
        EXECUTE format('COMMENT ON POLICY %I ON easycars.%I IS %L', t || '_admin_policy', t,
            'easycars_admin members see and write every dealership''s rows.');
    END LOOP;
END
$$;

-- Who may act for which dealership is the administrators' business alone.
ALTER TABLE easycars.dealership_access ENABLE ROW LEVEL SECURITY;
ALTER TABLE easycars.dealership_access FORCE ROW LEVEL SECURITY;
CREATE POLICY dealership_access_admin_policy ON easycars.dealership_access TO easycars_admin USING (true) WITH CHECK (true);
COMMENT ON POLICY dealership_access_admin_policy ON easycars.dealership_access IS
    'Only easycars_admin members read and change who may act for which dealership.';
-- credentials_input has no row-level security: COPY refuses tables that have it, and the table
-- never holds a row (its trigger stores each one through the checks of set_credentials).

-- The audit trail: administrators read it and append in their own name only; nobody but a
-- superuser changes or deletes it.
ALTER TABLE easycars.audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE easycars.audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_log_admin_policy ON easycars.audit_log TO easycars_admin
    USING (true) WITH CHECK (actor = current_user AND session_actor = session_user);
COMMENT ON POLICY audit_log_admin_policy ON easycars.audit_log IS
    'easycars_admin members read the whole trail and append rows in their own name only.';

ALTER TABLE easycars.dealership ENABLE ROW LEVEL SECURITY;
ALTER TABLE easycars.dealership FORCE ROW LEVEL SECURITY;
CREATE POLICY dealership_tenant_policy ON easycars.dealership FOR SELECT
    USING (id OPERATOR(pg_catalog.=) (SELECT easycars.current_dealership_id()));
COMMENT ON POLICY dealership_tenant_policy ON easycars.dealership IS
    'A session sees only the dealership it acts for (app.current_dealership_id, if granted).';
CREATE POLICY dealership_admin_policy ON easycars.dealership TO easycars_admin USING (true) WITH CHECK (true);
COMMENT ON POLICY dealership_admin_policy ON easycars.dealership IS
    'Only easycars_admin members see every dealership and create or change dealerships.';

-- SECURITY: every function of the extension resolves names in pg_catalog first and never in a
-- schema the caller controls: pg_cron runs them as whoever scheduled them (often a superuser), and
-- definer functions run as the owner. Functions written with their own SET clause keep it; the rest
-- get it here, so a function added later cannot be forgotten (the privilege test checks every one).
-- Procedures that COMMIT cannot carry a SET clause; they pin search_path in their body instead.
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid FROM pg_catalog.pg_proc p
             WHERE p.pronamespace = 'easycars'::regnamespace AND p.proconfig IS NULL
               AND p.oid <> 'easycars.run_due_syncs(text, interval, interval)'::regprocedure
    LOOP
        EXECUTE format('ALTER ROUTINE %s SET search_path = pg_catalog, pg_temp', f);
    END LOOP;
END
$$;

-- Least privilege: PUBLIC gets nothing; each role gets what its job needs.
REVOKE ALL ON SCHEMA easycars FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA easycars FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA easycars FROM PUBLIC;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA easycars FROM PUBLIC;
REVOKE EXECUTE ON ALL PROCEDURES IN SCHEMA easycars FROM PUBLIC;
REVOKE ALL ON SCHEMA easycars_remote FROM PUBLIC;
GRANT USAGE ON SCHEMA easycars TO easycars_admin, easycars_sync, easycars_analyst;
GRANT EXECUTE ON FUNCTION easycars.current_dealership_id(), easycars.may_act_for(integer), easycars._is_admin()
    TO easycars_admin, easycars_sync, easycars_analyst;
-- Only administrators decide who acts for which dealership.
GRANT EXECUTE ON FUNCTION easycars.grant_dealership(regrole, integer), easycars.grant_all_dealerships(regrole),
                          easycars.revoke_dealership(regrole, integer)
    TO easycars_admin;

GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA easycars TO easycars_admin;
-- SECURITY: not even administrators read the encrypted columns; they write credentials through
-- easycars.set_credentials() and may only (de)activate, re-point or delete a row directly.
REVOKE ALL ON easycars.credentials, easycars.credentials_safe, easycars.credentials_input FROM easycars_admin;
REVOKE ALL ON easycars.audit_log FROM easycars_admin;
GRANT SELECT, INSERT ON easycars.audit_log TO easycars_admin;
GRANT INSERT ON easycars.credentials_input TO easycars_admin;
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
                easycars.sync_preview_cache, easycars.sync_state, easycars.sync_schedule
    TO easycars_analyst, easycars_sync;

-- Lead scores: everyone reads the weights (a score is computed with the writer's rights), only
-- administrators change them; search runs with the caller's rights and row-level security.
REVOKE ALL ON easycars.lead_score_weights FROM easycars_admin;
GRANT SELECT ON easycars.lead_score_weight, easycars.lead_score_weights TO easycars_admin, easycars_analyst, easycars_sync;
GRANT EXECUTE ON FUNCTION easycars.lead_score(easycars.lead), easycars._lead_score_defaults(),
                          easycars.search_leads(text, integer), easycars.au_phone_e164(text)
    TO easycars_admin, easycars_sync, easycars_analyst;
GRANT EXECUTE ON FUNCTION easycars.refresh_lead_scores() TO easycars_admin, easycars_sync;

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
                          easycars._report(easycars.sync_log, text), easycars._stock_feed_sql(integer), easycars._stock_keys_sql(integer), easycars._stock_delta_sql(text, text), easycars._stock_upsert_sql(text, text), easycars._run_stock_upsert(text, text, integer),
                          easycars._push_lead(integer, bigint), easycars._leads_to_push(integer),
                          easycars._push_one(easycars.sync_log, bigint),
                          easycars._push_progress(easycars.sync_log, integer, integer, integer, integer),
                          easycars._sync_lock_key(text, text), easycars._cron_job_id(),
                          easycars._enum_code(text, text), easycars._lead_status_code(text), easycars._lead_push_digest(easycars.lead),
                          easycars._foreign_table_ddl(text, text, text, text)
    TO easycars_admin, easycars_sync;
GRANT EXECUTE ON PROCEDURE easycars.run_due_syncs(text, interval, interval) TO easycars_admin, easycars_sync;
GRANT EXECUTE ON FUNCTION easycars._claim_due(text[], interval), easycars._ensure_schedule(),
                          easycars._settle_due(integer, text, text, timestamptz, text),
                          easycars._close_abandoned_runs(), easycars._prefetch_stock(integer),
                          easycars._prefetch_next(integer[], integer), easycars._prefetch_forget(integer)
    TO easycars_admin, easycars_sync;
GRANT EXECUTE ON FUNCTION easycars.pause_syncs(integer, text), easycars.resume_syncs(integer, text),
                          easycars.sync_now(integer, text), easycars._set_schedule(integer, text, text)
    TO easycars_admin;
GRANT EXECUTE ON FUNCTION easycars.schedule_syncs(text, text, integer), easycars.unschedule_syncs() TO easycars_admin;
REVOKE ALL ON easycars.recent_failed_syncs, easycars.sync_performance_7d, easycars.running_syncs, easycars.sync_queue FROM easycars_admin;
GRANT SELECT ON easycars.sync_queue TO easycars_admin, easycars_sync, easycars_analyst;
GRANT SELECT ON easycars.recent_failed_syncs, easycars.sync_performance_7d, easycars.running_syncs
    TO easycars_admin, easycars_sync, easycars_analyst;

-- pg_dump keeps the data of these tables (their definitions come with CREATE EXTENSION).
SELECT pg_catalog.pg_extension_config_dump('easycars.dealership', '');
SELECT pg_catalog.pg_extension_config_dump('easycars.credentials', '');
SELECT pg_catalog.pg_extension_config_dump('easycars.dealership_access', '');
SELECT pg_catalog.pg_extension_config_dump('easycars.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('easycars.audit_log_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('easycars.vehicle', '');
SELECT pg_catalog.pg_extension_config_dump('easycars.lead', '');
SELECT pg_catalog.pg_extension_config_dump('easycars.sync_log', '');
SELECT pg_catalog.pg_extension_config_dump('easycars.sync_log_archive', '');
SELECT pg_catalog.pg_extension_config_dump('easycars.sync_state', '');
SELECT pg_catalog.pg_extension_config_dump('easycars.sync_progress', '');
SELECT pg_catalog.pg_extension_config_dump('easycars.sync_schedule', '');
SELECT pg_catalog.pg_extension_config_dump('easycars.lead_score_weight', '');

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
