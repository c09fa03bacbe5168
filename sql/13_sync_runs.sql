-- Sync runs: the per-dealership foreign tables, and how every run starts, reports and ends
-- (checks, tenant, lock, sync_log, sync_progress, sync_activity_log, sync_state).
-- The syncs themselves are in 14_sync_stock.sql and 15_sync_leads.sql, scheduling in
-- 16_scheduling.sql, monitoring views in 17_monitoring.sql.

-- Internal home of the per-dealership foreign tables the syncs read and write.
CREATE SCHEMA easycars_remote;
COMMENT ON SCHEMA easycars_remote IS
    'Internal: the foreign tables (stock_d<N>, leads_d<N>) that easycars syncs use, one easycars_fdw server (easycars_d<N>) per dealership. Made by easycars._ensure_remote(); not for direct use.';

-- Creates (once) the server and foreign tables a dealership's syncs use. SECURITY DEFINER: the
-- callers (easycars_sync, easycars_admin) may use but not create servers.
CREATE FUNCTION easycars._ensure_remote(p_dealership_id integer) RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    server text := format('easycars_d%s', p_dealership_id);
    entity text;
    tbl text;
    found pg_foreign_server;
BEGIN
    SELECT * INTO found FROM pg_foreign_server WHERE srvname = server;
    IF found.oid IS NULL THEN
        EXECUTE format('CREATE SERVER %I FOREIGN DATA WRAPPER easycars_fdw OPTIONS (dealership_id %L)', server, p_dealership_id::text);
        EXECUTE format('COMMENT ON SERVER %I IS %L', server, format('EasyCars of dealership %s, used by easycars syncs.', p_dealership_id));
    -- SECURITY: a server of that name that someone else made (say with a base_url of their own)
    -- would receive this dealership's secrets; only the one made here is used. Its owner (the
    -- extension's, a superuser) may tune it (timeout_ms, max_retries, ...); nobody else can.
    ELSIF found.srvowner <> (SELECT e.extowner FROM pg_extension e WHERE e.extname = 'easycars')
          OR found.srvfdw <> (SELECT w.oid FROM pg_foreign_data_wrapper w WHERE w.fdwname = 'easycars_fdw')
          OR NOT coalesce('dealership_id=' || p_dealership_id = ANY (found.srvoptions), false) THEN
        RAISE EXCEPTION 'foreign server % was not made by easycars', server
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Syncs use their own server of that name. A superuser should check and drop it: DROP SERVER ' || quote_ident(server) || ' CASCADE;';
    END IF;
    FOREACH entity IN ARRAY ARRAY['stock', 'leads'] LOOP
        tbl := format('%s_d%s', entity, p_dealership_id);
        IF to_regclass(format('easycars_remote.%I', tbl)) IS NULL THEN
            EXECUTE easycars._foreign_table_ddl(entity, 'easycars_remote', tbl, server);
            EXECUTE format('COMMENT ON FOREIGN TABLE easycars_remote.%I IS %L', tbl,
                           format('EasyCars %s of dealership %s (internal, for syncs).', entity, p_dealership_id));
            EXECUTE format('GRANT SELECT ON easycars_remote.%I TO easycars_sync, easycars_admin', tbl);
            IF entity = 'leads' THEN
                EXECUTE format('GRANT INSERT, UPDATE ON easycars_remote.%I TO easycars_sync, easycars_admin', tbl);
            END IF;
        END IF;
    END LOOP;
END
$$;
COMMENT ON FUNCTION easycars._ensure_remote(integer) IS
    'Internal: creates the easycars_fdw server and foreign tables a dealership''s syncs use, if missing.';

-- The advisory lock key of one kind of run (with the dealership id as the second key): two runs of
-- the same kind for one dealership never overlap, whoever starts them.
CREATE FUNCTION easycars._sync_lock_key(p_type text, p_direction text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_catalog.hashtext('easycars.sync.' || p_type || '.' || p_direction) $$;
COMMENT ON FUNCTION easycars._sync_lock_key(text, text) IS
    'Internal: the first advisory lock key of a kind of sync run (type and direction); the dealership id is the second.';

-- The pg_cron job running this session's statement, if any (pg_cron records its worker's pid).
CREATE FUNCTION easycars._cron_job_id() RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    job text;
BEGIN
    IF to_regclass('cron.job_run_details') IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE 'SELECT d.jobid::text FROM cron.job_run_details d WHERE d.job_pid = pg_backend_pid() AND d.status = ''running''
             ORDER BY d.start_time DESC LIMIT 1' INTO job;
    RETURN job;
EXCEPTION WHEN insufficient_privilege OR undefined_table OR undefined_column THEN
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION easycars._cron_job_id() IS
    'Internal: the id of the pg_cron job this session is running (sync_progress.job_id of scheduled runs), or NULL.';

-- The start of every run: checks, tenant, lock, log row, progress row.
CREATE FUNCTION easycars._begin_run(p_dealership_id integer, p_type text, p_direction text, p_entity easycars.sync_entity,
                                    p_wait boolean, p_request jsonb)
RETURNS easycars.sync_log
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    log easycars.sync_log;
    cred_id integer;
    session_tenant integer := easycars.current_dealership_id();
BEGIN
    IF p_dealership_id IS NULL THEN
        RAISE EXCEPTION 'dealership_id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- SECURITY: only a role allowed to act for the dealership may sync it, and a session already
    -- acting for one dealership cannot sync another (an administrator can sync any).
    IF NOT easycars.may_act_for(p_dealership_id)
       OR (session_tenant IS NOT NULL AND session_tenant <> p_dealership_id AND NOT easycars._is_admin()) THEN
        RAISE EXCEPTION 'this role may not sync dealership %', p_dealership_id
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'An administrator allows it with easycars.grant_dealership(role, dealership_id), or easycars.grant_all_dealerships(role) for a scheduler role.';
    END IF;
    -- SECURITY: the rest of this transaction acts for exactly this dealership, so RLS confines the run.
    PERFORM set_config('app.current_dealership_id', p_dealership_id::text, true);
    IF NOT EXISTS (SELECT 1 FROM easycars.dealership WHERE id = p_dealership_id) THEN
        RAISE EXCEPTION 'dealership % does not exist', p_dealership_id USING ERRCODE = 'foreign_key_violation';
    END IF;
    SELECT id INTO cred_id FROM easycars.credentials WHERE dealership_id = p_dealership_id AND is_active;
    IF cred_id IS NULL THEN
        RAISE EXCEPTION 'dealership % has no active EasyCars credentials', p_dealership_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = format('Store them with easycars.set_credentials(%s, ...).', p_dealership_id);
    END IF;

    INSERT INTO easycars.sync_log (dealership_id, credential_id, sync_type, sync_direction, status, request_payload)
    VALUES (p_dealership_id, cred_id, p_type, p_direction, 'InProgress', p_request)
    RETURNING * INTO log;

    -- Two runs of the same entity for one dealership never overlap.
    IF p_wait THEN
        PERFORM pg_advisory_xact_lock(easycars._sync_lock_key(p_type, p_direction), p_dealership_id);
    ELSIF NOT pg_try_advisory_xact_lock(easycars._sync_lock_key(p_type, p_direction), p_dealership_id) THEN
        UPDATE easycars.sync_log SET status = 'Skipped', completed_at = clock_timestamp(),
               error_message = 'another ' || lower(p_type) || ' ' || lower(p_direction) || ' sync of this dealership is running'
        WHERE dealership_id = p_dealership_id AND id = log.id
        RETURNING * INTO log;
        RAISE NOTICE 'easycars: % % sync of dealership % skipped: another one is running', p_type, p_direction, p_dealership_id;
        RETURN log;
    END IF;

    -- The run's total deadline: every EasyCars call it makes ends by then, retries included, so
    -- a hung account costs one run (and one worker) at most easycars.sync_deadline.
    PERFORM set_config('easycars_run.deadline_at',
        extract(epoch FROM clock_timestamp()
                + coalesce(nullif(current_setting('easycars.sync_deadline', true), ''), '5 minutes')::interval)::text, true);
    PERFORM easycars._ensure_remote(p_dealership_id);
    INSERT INTO easycars.sync_progress (dealership_id, sync_id, entity_type, job_id, metadata)
    VALUES (p_dealership_id, log.id::text, p_entity, easycars._cron_job_id(), jsonb_build_object('direction', p_direction));
    -- Who started it: run_due_syncs (pg_cron) marks its runs as scheduled; anything else is manual.
    INSERT INTO easycars.sync_activity_log (dealership_id, sync_id, entity_type, action, status)
    VALUES (p_dealership_id, log.id::text, p_entity,
            (CASE WHEN current_setting('easycars_run.origin', true) = 'scheduled' THEN 'scheduled_run' ELSE 'manual_trigger' END)::easycars.sync_action,
            'in_progress'::easycars.sync_status),
           (p_dealership_id, log.id::text, p_entity, 'sync_start'::easycars.sync_action, 'in_progress'::easycars.sync_status);
    PERFORM easycars._report(log, 'started');
    RETURN log;
END
$$;
COMMENT ON FUNCTION easycars._begin_run(integer, text, text, easycars.sync_entity, boolean, jsonb) IS
    'Internal: checks and locks a sync run, confines the transaction to the dealership, sets the run''s deadline (easycars.sync_deadline from now) for its EasyCars calls, and writes its InProgress log, progress and activity rows.';

-- Progress another session can see at once: application_name shows in pg_stat_activity without
-- waiting for this transaction to commit (see easycars.running_syncs).
CREATE FUNCTION easycars._report(p_log easycars.sync_log, p_phase text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM set_config('application_name',
        left(format('easycars %s %s d=%s run=%s: %s', lower(p_log.sync_type), lower(p_log.sync_direction),
                    p_log.dealership_id, p_log.id, p_phase), 63), true);
    -- The run's foreign scans publish their live counts under this label (short, so that the
    -- counts fit in application_name's 63 bytes).
    PERFORM set_config('easycars_run.label',
        format('easycars %s d=%s run=%s', lower(p_log.sync_type), p_log.dealership_id, p_log.id), true);
    RAISE NOTICE 'easycars: % % sync of dealership %: %', p_log.sync_type, p_log.sync_direction, p_log.dealership_id, p_phase;
END
$$;
COMMENT ON FUNCTION easycars._report(easycars.sync_log, text) IS
    'Internal: publishes a run''s phase as application_name (visible in easycars.running_syncs) and as a NOTICE, and labels the run for the live counts its foreign scans publish.';

-- The end of every run: log, progress, activity, state, credentials.
CREATE FUNCTION easycars._finish_run(p_log easycars.sync_log, p_entity easycars.sync_entity, p_status text,
                                     p_processed integer, p_created integer, p_updated integer, p_unchanged integer,
                                     p_removed integer, p_failed integer, p_summary jsonb,
                                     p_error text DEFAULT NULL, p_details text DEFAULT NULL)
RETURNS easycars.sync_log
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    log easycars.sync_log;
    total integer := greatest(p_processed, 0);
BEGIN
    -- Calls after the run (in the same transaction) are no longer bound by its deadline.
    PERFORM set_config('easycars_run.deadline_at', '', true);
    UPDATE easycars.sync_log SET
        status = p_status, completed_at = clock_timestamp(),
        records_processed = p_processed, records_created = p_created, records_updated = p_updated,
        records_unchanged = p_unchanged, records_removed = p_removed, records_failed = p_failed,
        error_message = p_error, error_details = p_details, response_summary = p_summary
    WHERE dealership_id = p_log.dealership_id AND id = p_log.id
    RETURNING * INTO log;

    IF p_status = 'Failed' THEN
        -- Progress of a failed run is closed without claiming its items were processed; its
        -- completion trigger logs what happened: a cancel, a timeout (statement_timeout or an
        -- EasyCars deadline) or a failure.
        UPDATE easycars.sync_progress SET completed_at = clock_timestamp(),
               metadata = metadata || jsonb_build_object('status', 'Failed', 'error', left(p_error, 1000), 'outcome',
                   CASE WHEN p_summary->>'sqlstate' = '57014' AND p_error ILIKE '%statement timeout%' THEN 'timeout'
                        WHEN p_summary->>'sqlstate' = '57014' THEN 'cancelled'
                        WHEN p_error ~* '(timed out|deadline exceeded)' THEN 'timeout'
                        ELSE 'failed' END)
        WHERE dealership_id = log.dealership_id AND sync_id = log.id::text;
        INSERT INTO easycars.sync_state AS s (dealership_id, entity_type, direction, last_error, last_error_at)
        VALUES (log.dealership_id, p_entity, lower(log.sync_direction), p_error, clock_timestamp())
        ON CONFLICT (dealership_id, entity_type, direction) DO UPDATE SET last_error = EXCLUDED.last_error, last_error_at = EXCLUDED.last_error_at;
    ELSE
        -- Completing the progress row logs sync_complete through its trigger.
        UPDATE easycars.sync_progress SET total_items = total, current_item = total,
               processed_count = total - least(greatest(p_failed, 0), total), failed_count = least(greatest(p_failed, 0), total),
               completed_at = CASE WHEN total = 0 THEN clock_timestamp() END,
               metadata = metadata || jsonb_build_object('status', p_status)
        WHERE dealership_id = log.dealership_id AND sync_id = log.id::text;
        -- One row per direction (a lead push and a lead refresh are different syncs); times are the
        -- end of the run; records_synced is what the run stored or confirmed, not its failures or
        -- the Manual/Import vehicles it left alone.
        INSERT INTO easycars.sync_state AS s (dealership_id, entity_type, direction, last_full_sync, last_incremental_sync, records_synced)
        VALUES (log.dealership_id, p_entity, lower(log.sync_direction),
                CASE WHEN p_entity = 'stock' THEN log.completed_at END, CASE WHEN p_entity <> 'stock' THEN log.completed_at END,
                greatest(coalesce(p_created, 0) + coalesce(p_updated, 0) + coalesce(p_unchanged, 0), 0))
        ON CONFLICT (dealership_id, entity_type, direction) DO UPDATE SET
            last_full_sync = coalesce(EXCLUDED.last_full_sync, s.last_full_sync),
            last_incremental_sync = coalesce(EXCLUDED.last_incremental_sync, s.last_incremental_sync),
            records_synced = EXCLUDED.records_synced, last_error = NULL, last_error_at = NULL;
        UPDATE easycars.credentials SET last_synced_at = now() WHERE dealership_id = log.dealership_id;
        -- A success right after a failure of the same kind of run is the recovery from it.
        IF (SELECT l.status FROM easycars.sync_log l
            WHERE l.dealership_id = log.dealership_id AND l.sync_type = log.sync_type AND l.sync_direction = log.sync_direction
              AND l.id < log.id AND l.status IN ('Success', 'Warning', 'Failed')
            ORDER BY l.id DESC LIMIT 1) = 'Failed' THEN
            INSERT INTO easycars.sync_activity_log (dealership_id, sync_id, entity_type, action, status, record_count, duration_seconds, created_at)
            VALUES (log.dealership_id, log.id::text, p_entity, 'error_recovery', 'completed', total,
                    round(extract(epoch FROM log.completed_at - log.started_at), 2), clock_timestamp());
        END IF;
    END IF;
    PERFORM easycars._report(log, lower(p_status));
    PERFORM set_config('application_name', '', true);
    -- Nor are later scans counted as its progress.
    PERFORM set_config('easycars_run.label', '', true);
    RETURN log;
END
$$;
COMMENT ON FUNCTION easycars._finish_run(easycars.sync_log, easycars.sync_entity, text, integer, integer, integer, integer, integer, integer, jsonb, text, text) IS
    'Internal: records a run''s outcome in sync_log, sync_progress, sync_activity_log, sync_state and credentials.last_synced_at.';
