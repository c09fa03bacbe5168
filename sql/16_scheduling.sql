-- Scheduling: run_due_syncs for pg_cron, and the jobs that call it.

CREATE PROCEDURE easycars.run_due_syncs(what pg_catalog.text DEFAULT 'all')
LANGUAGE plpgsql
AS $$
DECLARE
    -- SECURITY: a procedure that COMMITs cannot carry SET search_path, and pg_cron may run it as a
    -- superuser: every name here is qualified, and search_path is pinned for the whole call.
    d pg_catalog.int4;
    lead_id pg_catalog.int8;
    log easycars.sync_log;
    msg pg_catalog.text;
    caller_path pg_catalog.text := pg_catalog.current_setting('search_path');
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', false);
    -- The runs below are logged as scheduled (see _begin_run), for the whole call.
    PERFORM pg_catalog.set_config('easycars_run.origin', 'scheduled', false);
    IF what IS NULL OR what NOT IN ('all', 'stock', 'leads') THEN
        RAISE EXCEPTION 'what must be all, stock or leads' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- A replica cannot write; the primary runs the same schedule.
    IF pg_is_in_recovery() THEN
        RAISE NOTICE 'easycars.run_due_syncs: this server is a replica; nothing to do';
        PERFORM pg_catalog.set_config('search_path', caller_path, false);
        PERFORM pg_catalog.set_config('easycars_run.origin', '', false);
        RETURN;
    END IF;
    -- This month's activity partition exists before the runs log into it; committed at once, so
    -- the DDL locks are not held across the syncs.
    PERFORM easycars._ensure_partitions();
    COMMIT;
    -- The dealerships with active credentials that this role may sync.
    FOR d IN SELECT x FROM easycars._syncable_dealerships() AS x LOOP
        -- Each dealership's work commits on its own: one dealership's failure never rolls back another's.
        IF what IN ('all', 'stock') THEN
            BEGIN
                PERFORM easycars.sync_stock(d);
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
                RAISE WARNING 'easycars: stock sync of dealership % failed: %', d, msg;
            END;
            COMMIT;
        END IF;
        IF what IN ('all', 'leads') THEN
            -- Leads are pushed one transaction each, so a lead number EasyCars returned is kept
            -- even if a later lead fails or the job is killed.
            BEGIN
                log := easycars._begin_run(d, 'Lead', 'Outbound', 'lead', false, jsonb_build_object('routes', ARRAY['CreateLead', 'UpdateLead'], 'mode', 'commit per lead'));
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
                RAISE WARNING 'easycars: lead push of dealership % could not start: %', d, msg;
                log := NULL;
            END;
            IF log.status = 'InProgress' THEN
                COMMIT;
                -- The transaction lock of _begin_run ended with that COMMIT; a session lock now
                -- keeps a concurrent push out across the per-lead commits.
                IF NOT pg_try_advisory_lock(easycars._sync_lock_key('Lead', 'Outbound'), d) THEN
                    PERFORM set_config('app.current_dealership_id', d::text, true);
                    UPDATE easycars.sync_log SET status = 'Skipped', completed_at = clock_timestamp(),
                           error_message = 'another lead outbound sync of this dealership is running'
                    WHERE dealership_id = d AND id = log.id;
                    UPDATE easycars.sync_progress SET completed_at = clock_timestamp(), metadata = metadata || '{"status": "Skipped"}'
                    WHERE dealership_id = d AND sync_id = log.id::text;
                    COMMIT;
                    log := NULL;
                END IF;
            END IF;
            IF log.status = 'InProgress' THEN
                DECLARE
                    todo pg_catalog.int8[];
                    pushed record;
                    n_created pg_catalog.int4 := 0; n_updated pg_catalog.int4 := 0; n_failed pg_catalog.int4 := 0;
                BEGIN
                    PERFORM set_config('app.current_dealership_id', d::text, true);
                    todo := ARRAY(SELECT easycars._leads_to_push(d));
                    FOREACH lead_id IN ARRAY todo LOOP
                        -- Each lead commits on its own: the setting is transaction-local.
                        PERFORM set_config('app.current_dealership_id', d::text, true);
                        SELECT * INTO pushed FROM easycars._push_one(log, lead_id);
                        CASE pushed.outcome
                            WHEN 'created' THEN n_created := n_created + 1;
                            WHEN 'updated' THEN n_updated := n_updated + 1;
                            ELSE n_failed := n_failed + 1;
                        END CASE;
                        PERFORM easycars._push_progress(log, cardinality(todo), n_created, n_updated, n_failed);
                        COMMIT;
                    END LOOP;
                    PERFORM set_config('app.current_dealership_id', d::text, true);
                    PERFORM easycars._finish_run(log, 'lead', CASE WHEN n_failed > 0 THEN 'Warning' ELSE 'Success' END,
                        p_processed => n_created + n_updated + n_failed, p_created => n_created, p_updated => n_updated,
                        p_unchanged => 0, p_removed => 0, p_failed => n_failed,
                        p_summary => jsonb_build_object('created', n_created, 'updated', n_updated, 'failed', n_failed),
                        p_error => CASE WHEN n_failed > 0 THEN format('%s lead(s) could not be pushed; see lead.last_push_error', n_failed) END);
                    PERFORM pg_advisory_unlock(easycars._sync_lock_key('Lead', 'Outbound'), d);
                END;
            END IF;
            COMMIT;
            BEGIN
                PERFORM easycars.sync_leads(d);
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
                RAISE WARNING 'easycars: lead refresh of dealership % failed: %', d, msg;
            END;
            COMMIT;
        END IF;
    END LOOP;
    PERFORM pg_catalog.set_config('search_path', caller_path, false);
    PERFORM pg_catalog.set_config('easycars_run.origin', '', false);
END
$$;
COMMENT ON PROCEDURE easycars.run_due_syncs(text) IS
    'For pg_cron (CALL must be the job''s only command): makes sure this month''s activity partition exists, then syncs every dealership with active credentials in turn, each step in its own transaction (stock; leads pushed one per transaction; leads refreshed). what: all, stock or leads. A no-op on a replica.';

CREATE FUNCTION easycars.schedule_syncs(stock_cron text DEFAULT '*/15 * * * *', leads_cron text DEFAULT '5 * * * *')
RETURNS TABLE (job_name text, schedule text, command text, jobid bigint)
LANGUAGE plpgsql
AS $$
BEGIN
    IF to_regnamespace('cron') IS NULL OR to_regprocedure('cron.schedule(text, text, text)') IS NULL THEN
        RAISE EXCEPTION 'pg_cron is not installed in this database'
            USING ERRCODE = 'undefined_object',
                  HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, restart, then CREATE EXTENSION pg_cron.';
    END IF;
    IF stock_cron IS NULL OR leads_cron IS NULL THEN
        RAISE EXCEPTION 'schedules must not be NULL' USING ERRCODE = 'null_value_not_allowed', HINT = 'Use easycars.unschedule_syncs() to stop syncing.';
    END IF;
    -- Named jobs: scheduling again replaces them instead of adding duplicates. The maintenance
    -- the schema needs comes with the syncs: expired previews every 15 minutes, monthly
    -- partitions nightly, old logs archived weekly.
    RETURN QUERY
    SELECT j.name, j.sched, j.cmd, cron.schedule(j.name, j.sched, j.cmd)
    FROM (VALUES ('easycars-stock', stock_cron, 'CALL easycars.run_due_syncs(''stock'')'),
                 ('easycars-leads', leads_cron, 'CALL easycars.run_due_syncs(''leads'')'),
                 ('easycars-previews', '*/15 * * * *', 'SELECT easycars.cleanup_preview_cache()'),
                 ('easycars-partitions', '0 3 * * *', 'SELECT easycars.maintain_partitions()'),
                 ('easycars-archive', '30 3 * * 0', 'SELECT easycars.archive_sync_logs()')) AS j(name, sched, cmd);
END
$$;
COMMENT ON FUNCTION easycars.schedule_syncs(text, text) IS
    'Schedules, in one call, the pg_cron jobs easycars-stock (CALL easycars.run_due_syncs(''stock''), default every 15 minutes), easycars-leads (default hourly at :05) and the maintenance: easycars-previews (cleanup_preview_cache, every 15 minutes), easycars-partitions (maintain_partitions, daily 03:00) and easycars-archive (archive_sync_logs, Sundays 03:30). Re-running replaces them. Jobs run as the calling role. Errors clearly when pg_cron is not installed.';

CREATE FUNCTION easycars.unschedule_syncs() RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    n integer := 0;
    j record;
BEGIN
    IF to_regnamespace('cron') IS NULL THEN
        RAISE EXCEPTION 'pg_cron is not installed in this database' USING ERRCODE = 'undefined_object';
    END IF;
    FOR j IN SELECT jobname FROM cron.job
             WHERE jobname IN ('easycars-stock', 'easycars-leads', 'easycars-previews', 'easycars-partitions', 'easycars-archive') LOOP
        PERFORM cron.unschedule(j.jobname);
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION easycars.unschedule_syncs() IS 'Removes every pg_cron job made by easycars.schedule_syncs() (syncs and maintenance); returns how many were removed.';
