-- Scheduling: the due queue of each dealership's syncs, run_due_syncs for pg_cron workers, and
-- the jobs that call it.

CREATE TABLE easycars.sync_schedule (
    dealership_id    integer     NOT NULL,
    kind             text        NOT NULL,
    every            interval,
    next_due_at      timestamptz NOT NULL DEFAULT now(),
    paused_at        timestamptz,
    failures         integer     NOT NULL DEFAULT 0,
    backoff_reason   text,
    last_outcome     text,
    last_started_at  timestamptz,
    last_finished_at timestamptz,
    claimed_until    timestamptz,
    claimed_by       integer,
    CONSTRAINT sync_schedule_pkey PRIMARY KEY (dealership_id, kind),
    CONSTRAINT sync_schedule_dealership_fkey FOREIGN KEY (dealership_id)
        REFERENCES easycars.dealership (id) ON DELETE CASCADE,
    CONSTRAINT sync_schedule_kind_chk CHECK (kind IN ('stock', 'lead_push', 'lead_refresh')),
    CONSTRAINT sync_schedule_every_chk CHECK (every IS NULL OR every >= interval '1 minute'),
    CONSTRAINT sync_schedule_failures_chk CHECK (failures >= 0)
);
COMMENT ON TABLE easycars.sync_schedule IS
    'When each dealership''s stock sync, lead push and lead refresh are next due, per dealership and kind: the interval (default easycars.sync_interval), a backoff after failures (doubling up to easycars.sync_backoff_max), pauses, and the claim of the worker running it. Rows appear for every dealership with active credentials the first time a worker looks. See easycars.sync_queue.';
COMMENT ON COLUMN easycars.sync_schedule.kind IS 'stock, lead_push or lead_refresh.';
COMMENT ON COLUMN easycars.sync_schedule.every IS 'This dealership''s interval for this kind; NULL uses easycars.sync_interval.';
COMMENT ON COLUMN easycars.sync_schedule.next_due_at IS 'When it is next due; workers take the oldest due first.';
COMMENT ON COLUMN easycars.sync_schedule.paused_at IS 'Set by easycars.pause_syncs(): not run until easycars.resume_syncs().';
COMMENT ON COLUMN easycars.sync_schedule.failures IS 'Failed runs in a row; each doubles the wait before the next try. Reset by a success.';
COMMENT ON COLUMN easycars.sync_schedule.backoff_reason IS 'Why it is backing off: the last failure''s message.';
COMMENT ON COLUMN easycars.sync_schedule.last_outcome IS 'The last run''s status: Success, Warning, Failed or Skipped.';
COMMENT ON COLUMN easycars.sync_schedule.claimed_until IS 'A worker runs it until at most this time (its lease); a worker that dies leaves the claim to expire.';
COMMENT ON COLUMN easycars.sync_schedule.claimed_by IS 'The backend pid of the worker running it.';
CREATE INDEX sync_schedule_due_idx ON easycars.sync_schedule (next_due_at) WHERE paused_at IS NULL;

-- Sets pause, resume or "now" on a dealership's schedule rows (every kind, or one).
CREATE FUNCTION easycars._set_schedule(p_dealership_id integer, p_kind text, p_op text) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer;
BEGIN
    IF p_dealership_id IS NULL THEN
        RAISE EXCEPTION 'dealership_id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_kind IS NOT NULL AND p_kind NOT IN ('stock', 'lead_push', 'lead_refresh') THEN
        RAISE EXCEPTION 'kind must be stock, lead_push or lead_refresh, not %', p_kind USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO easycars.sync_schedule AS s (dealership_id, kind, paused_at, next_due_at)
    SELECT p_dealership_id, k, CASE WHEN p_op = 'pause' THEN now() END, now()
    FROM unnest(ARRAY['stock', 'lead_push', 'lead_refresh']) AS k
    WHERE p_kind IS NULL OR k = p_kind
    ON CONFLICT (dealership_id, kind) DO UPDATE SET
        paused_at = CASE p_op WHEN 'pause' THEN coalesce(s.paused_at, now()) WHEN 'resume' THEN NULL ELSE s.paused_at END,
        next_due_at = CASE WHEN p_op = 'now' THEN now() ELSE s.next_due_at END,
        failures = CASE WHEN p_op = 'now' THEN 0 ELSE s.failures END;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION easycars._set_schedule(integer, text, text) IS 'Internal: pause, resume or make due now a dealership''s schedule rows.';

CREATE FUNCTION easycars.pause_syncs(dealership_id integer, kind text DEFAULT NULL) RETURNS integer
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$ SELECT easycars._set_schedule(pause_syncs.dealership_id, pause_syncs.kind, 'pause') $$;
COMMENT ON FUNCTION easycars.pause_syncs(integer, text) IS
    'Stops scheduled syncs of a dealership (every kind, or stock, lead_push or lead_refresh) until easycars.resume_syncs(); manual syncs still run. Returns the rows paused. easycars_admin only; audited.';
CREATE FUNCTION easycars.resume_syncs(dealership_id integer, kind text DEFAULT NULL) RETURNS integer
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$ SELECT easycars._set_schedule(resume_syncs.dealership_id, resume_syncs.kind, 'resume') $$;
COMMENT ON FUNCTION easycars.resume_syncs(integer, text) IS
    'Resumes scheduled syncs paused by easycars.pause_syncs(). Returns the rows resumed. easycars_admin only; audited.';
CREATE FUNCTION easycars.sync_now(dealership_id integer, kind text DEFAULT NULL) RETURNS integer
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$ SELECT easycars._set_schedule(sync_now.dealership_id, sync_now.kind, 'now') $$;
COMMENT ON FUNCTION easycars.sync_now(integer, text) IS
    'Makes a dealership''s syncs due now (and forgets its backoff), so the next worker runs them first among the due. Returns the rows made due. easycars_admin only.';

COMMENT ON FUNCTION easycars._claim_due(text[], interval) IS
    'Internal (src/schedule.rs): claims for a worker the oldest due, unpaused, unclaimed (dealership, kind) the current role may sync, for a lease.';
COMMENT ON FUNCTION easycars._ensure_schedule() IS
    'Internal (src/schedule.rs): creates the missing schedule rows of the dealerships with active credentials the current role may sync; returns how many. run_due_syncs calls it once per call.';
COMMENT ON FUNCTION easycars._prefetch_stock(integer) IS
    'Internal (src/fdw/prefetch.rs): starts fetching a claimed dealership''s stock in the background of this backend, through its sync foreign table, to end by easycars.sync_deadline from now; the sync''s scan takes the answer. False when nothing started (no free integrator slot, no table, no right to it).';
COMMENT ON FUNCTION easycars._prefetch_next(integer[], integer) IS
    'Internal (src/fdw/prefetch.rs): the first of these dealerships whose stock fetched ahead has arrived (or failed, or has none); NULL when none has and fewer than the second argument are still young (the worker may claim another); otherwise waits for one of the two.';
COMMENT ON FUNCTION easycars._prefetch_forget(integer) IS
    'Internal (src/fdw/prefetch.rs): drops the stock fetched ahead for a dealership (NULL: all), stopping it and releasing its call slot.';
COMMENT ON FUNCTION easycars._settle_due(integer, text, text, timestamptz, text) IS
    'Internal (src/schedule.rs): records how this worker''s claimed run ended and when it is next due: the interval after a success, a doubling backoff (capped by easycars.sync_backoff_max) after each failure in a row.';

-- Runs left InProgress by a worker that died (pg_terminate_backend, a crash) are closed as Failed:
-- a live run holds its advisory lock, a dead one does not.
CREATE FUNCTION easycars._close_abandoned_runs() RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    n integer := 0;
BEGIN
    FOR r IN SELECT l.dealership_id, l.id, l.sync_type, l.sync_direction FROM easycars.sync_log l
             WHERE l.status = 'InProgress' AND l.started_at < now() - interval '1 minute' LOOP
        IF pg_try_advisory_xact_lock(easycars._sync_lock_key(r.sync_type, r.sync_direction), r.dealership_id) THEN
            UPDATE easycars.sync_log SET status = 'Failed', completed_at = clock_timestamp(),
                   error_message = 'abandoned: the worker running it ended before the run finished'
            WHERE dealership_id = r.dealership_id AND id = r.id;
            UPDATE easycars.sync_progress SET completed_at = clock_timestamp(),
                   metadata = metadata || '{"status": "Failed", "outcome": "failed", "error": "abandoned"}'
            WHERE dealership_id = r.dealership_id AND sync_id = r.id::text AND completed_at IS NULL;
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION easycars._close_abandoned_runs() IS
    'Internal: closes as Failed (abandoned) the InProgress runs whose worker died; run_due_syncs calls it first.';

CREATE PROCEDURE easycars.run_due_syncs(what pg_catalog.text DEFAULT 'all',
                                        budget pg_catalog.interval DEFAULT '10 minutes',
                                        lease pg_catalog.interval DEFAULT '15 minutes')
LANGUAGE plpgsql
AS $$
DECLARE
    -- SECURITY: a procedure that COMMITs cannot carry SET search_path, and pg_cron may run it as a
    -- superuser: every name here is qualified, and search_path is pinned for the whole call.
    d pg_catalog.int4;
    run_kind pg_catalog.text;
    kinds pg_catalog.text[];
    -- Claimed stock syncs whose fetch runs ahead (easycars.sync_lookahead of them at most).
    ahead pg_catalog.int4[] := '{}';
    lookahead pg_catalog.int4;
    drained boolean := false;
    may_claim boolean;
    started pg_catalog.timestamptz;
    until pg_catalog.timestamptz;
    lead_id pg_catalog.int8;
    log easycars.sync_log;
    msg pg_catalog.text;
    outcome pg_catalog.text;
    caller_path pg_catalog.text := pg_catalog.current_setting('search_path');
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', false);
    -- The runs below are logged as scheduled (see _begin_run), for the whole call.
    PERFORM pg_catalog.set_config('easycars_run.origin', 'scheduled', false);
    IF what IS NULL OR what NOT IN ('all', 'stock', 'leads') THEN
        RAISE EXCEPTION 'what must be all, stock or leads' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF budget IS NULL OR budget <= interval '0' OR lease IS NULL OR lease <= interval '0' THEN
        RAISE EXCEPTION 'budget and lease must be positive intervals' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- A replica cannot write; the primary runs the same schedule.
    IF pg_is_in_recovery() THEN
        RAISE NOTICE 'easycars.run_due_syncs: this server is a replica; nothing to do';
        PERFORM pg_catalog.set_config('search_path', caller_path, false);
        PERFORM pg_catalog.set_config('easycars_run.origin', '', false);
        RETURN;
    END IF;
    kinds := CASE what WHEN 'stock' THEN ARRAY['stock'] WHEN 'leads' THEN ARRAY['lead_push', 'lead_refresh']
                       ELSE ARRAY['stock', 'lead_push', 'lead_refresh'] END;
    until := clock_timestamp() + budget;
    lookahead := coalesce(nullif(pg_catalog.current_setting('easycars.sync_lookahead', true), '')::pg_catalog.int4, 8);
    -- This month's activity partition exists before the runs log into it, runs whose worker died
    -- are closed, and every syncable dealership has its schedule rows; committed at once, so no
    -- lock is held across the syncs.
    PERFORM easycars._ensure_partitions();
    PERFORM easycars._close_abandoned_runs();
    PERFORM easycars._ensure_schedule();
    COMMIT;
    -- Take the oldest due (dealership, kind) no other worker holds, run it, settle it, repeat,
    -- until nothing is due or the budget is spent. Each run commits on its own: one dealership's
    -- failure never rolls back another's.
    --
    -- Look-ahead: a claimed stock sync first starts its EasyCars fetch (in this backend, in the
    -- background) and waits in `ahead`; the worker runs whichever fetch finished first, and claims
    -- another whenever fewer than easycars.sync_lookahead fetches are young (a fetch running
    -- several times longer than usual is parked: it runs on to its deadline but leaves room).
    -- Hung accounts thus wait out their deadlines side by side while the others are written, and
    -- together cost this worker about one deadline, not one each. At most four times the
    -- look-ahead wait in `ahead`. With easycars.sync_lookahead = 0 each claim runs at once.
    LOOP
        d := NULL;
        run_kind := NULL;
        may_claim := NOT drained AND clock_timestamp() < until
                     AND pg_catalog.cardinality(ahead) < 4 * greatest(lookahead, 1);
        IF pg_catalog.cardinality(ahead) > 0 THEN
            -- The first ready; NULL when none is and there is room to claim another.
            d := easycars._prefetch_next(ahead, CASE WHEN may_claim THEN greatest(lookahead, 1) ELSE 0 END);
        END IF;
        IF d IS NOT NULL THEN
            ahead := pg_catalog.array_remove(ahead, d);
            run_kind := 'stock';
        ELSE
            EXIT WHEN NOT may_claim;
            SELECT c.dealership_id, c.kind INTO d, run_kind FROM easycars._claim_due(kinds, lease) AS c;
            COMMIT;
            IF d IS NULL THEN
                drained := true;
                CONTINUE;
            END IF;
            IF run_kind = 'stock' AND lookahead > 0 THEN
                BEGIN
                    -- A first sync has no foreign table yet: make it now, as the run would.
                    PERFORM easycars._ensure_remote(d);
                    PERFORM easycars._prefetch_stock(d);
                EXCEPTION WHEN OTHERS THEN
                    NULL;  -- nothing runs ahead for it; its sync fetches, and reports any error
                END;
                COMMIT;
                ahead := ahead OPERATOR(pg_catalog.||) d;
                CONTINUE;
            END IF;
        END IF;
        started := clock_timestamp();
        log := NULL;
        msg := NULL;
        outcome := NULL;
        IF run_kind IN ('stock', 'lead_refresh') THEN
            -- One transaction; its own failures come back as a Failed log, anything else (say the
            -- dealership went away) is reported and settled as a failure.
            BEGIN
                log := CASE run_kind WHEN 'stock' THEN easycars.sync_stock(d) ELSE easycars.sync_leads(d) END;
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
                RAISE WARNING 'easycars: % of dealership % failed: %', run_kind, d, msg;
            END;
        ELSE
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
                    outcome := 'Skipped';
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
            IF log.id IS NOT NULL THEN
                PERFORM set_config('app.current_dealership_id', d::text, true);
                SELECT * INTO log FROM easycars.sync_log l WHERE l.dealership_id = d AND l.id = log.id;
            END IF;
        END IF;
        COMMIT;
        -- A fetch the sync did not take (it was skipped: another session runs it) is dropped.
        IF run_kind = 'stock' THEN
            PERFORM easycars._prefetch_forget(d);
        END IF;
        PERFORM easycars._settle_due(d, run_kind, coalesce(outcome, log.status, 'Failed'), started, coalesce(log.error_message, msg));
        COMMIT;
    END LOOP;
    PERFORM easycars._prefetch_forget(NULL);
    PERFORM pg_catalog.set_config('search_path', caller_path, false);
    PERFORM pg_catalog.set_config('easycars_run.origin', '', false);
END
$$;
COMMENT ON PROCEDURE easycars.run_due_syncs(text, interval, interval) IS
    'A sync worker, for pg_cron (CALL must be the job''s only command): takes the oldest due (dealership, kind) of easycars.sync_schedule that no other worker holds and this role may sync, runs it in its own transactions, records when it is next due (or its backoff), and repeats until nothing is due or budget is spent. what: all, stock or leads. lease: how long a claim holds if the worker dies. Several workers may run at once (schedule_syncs(workers => N)). Each worker fetches up to easycars.sync_lookahead claimed stock syncs ahead and writes them as their answers arrive, so hung accounts cost it about one easycars.sync_deadline together. Closes runs abandoned by dead workers first. A no-op on a replica.';

CREATE FUNCTION easycars.schedule_syncs(stock_cron text DEFAULT '*/15 * * * *', leads_cron text DEFAULT '5 * * * *',
                                        workers integer DEFAULT 1)
RETURNS TABLE (job_name text, schedule text, command text, jobid bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
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
    IF workers IS NULL OR workers NOT BETWEEN 1 AND 32 THEN
        RAISE EXCEPTION 'workers must be from 1 to 32' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Each worker is one pg_cron job (and one connection while it runs); they share one due queue.';
    END IF;
    -- Jobs of a previous, larger worker count go first.
    PERFORM cron.unschedule(j.jobname) FROM cron.job j
    WHERE j.jobname ~ '^easycars-(stock|leads)-[0-9]+$' AND substring(j.jobname FROM '[0-9]+$')::int > workers;
    -- Named jobs: scheduling again replaces them instead of adding duplicates. Worker 1 of each is
    -- easycars-stock / easycars-leads, the others easycars-stock-2, ...; they drain one due queue,
    -- never running the same dealership and kind twice. The maintenance the schema needs comes
    -- with the syncs: expired previews every 15 minutes, monthly partitions and lead scores
    -- (their recency) nightly, old logs archived weekly.
    RETURN QUERY
    SELECT j.name, j.sched, j.cmd, cron.schedule(j.name, j.sched, j.cmd)
    FROM (SELECT CASE WHEN w = 1 THEN 'easycars-stock' ELSE 'easycars-stock-' || w END, stock_cron, 'CALL easycars.run_due_syncs(''stock'')'
          FROM generate_series(1, workers) w
          UNION ALL
          SELECT CASE WHEN w = 1 THEN 'easycars-leads' ELSE 'easycars-leads-' || w END, leads_cron, 'CALL easycars.run_due_syncs(''leads'')'
          FROM generate_series(1, workers) w
          UNION ALL
          VALUES ('easycars-previews', '*/15 * * * *', 'SELECT easycars.cleanup_preview_cache()'),
                 ('easycars-partitions', '0 3 * * *', 'SELECT easycars.maintain_partitions()'),
                 ('easycars-archive', '30 3 * * 0', 'SELECT easycars.archive_sync_logs()'),
                 ('easycars-lead-scores', '15 3 * * *', 'SELECT easycars.refresh_lead_scores()')) AS j(name, sched, cmd);
END
$$;
COMMENT ON FUNCTION easycars.schedule_syncs(text, text, integer) IS
    'Schedules, in one call, the pg_cron sync workers (workers of each: easycars-stock, easycars-stock-2, ... running CALL easycars.run_due_syncs(''stock''), default every 15 minutes; easycars-leads, ... for leads, default hourly at :05), which drain one due queue in parallel without ever running the same dealership and kind twice, and the maintenance: easycars-previews (cleanup_preview_cache, every 15 minutes), easycars-partitions (maintain_partitions, daily 03:00), easycars-lead-scores (refresh_lead_scores, daily 03:15) and easycars-archive (archive_sync_logs, Sundays 03:30). Re-running replaces them. Jobs run as the calling role. Errors clearly when pg_cron is not installed.';

CREATE FUNCTION easycars.unschedule_syncs() RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer := 0;
    j record;
BEGIN
    IF to_regnamespace('cron') IS NULL THEN
        RAISE EXCEPTION 'pg_cron is not installed in this database' USING ERRCODE = 'undefined_object';
    END IF;
    FOR j IN SELECT jobname FROM cron.job
             WHERE jobname IN ('easycars-stock', 'easycars-leads', 'easycars-previews', 'easycars-partitions', 'easycars-archive',
                               'easycars-lead-scores')
                OR jobname ~ '^easycars-(stock|leads)-[0-9]+$' LOOP
        PERFORM cron.unschedule(j.jobname);
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION easycars.unschedule_syncs() IS 'Removes every pg_cron job made by easycars.schedule_syncs() (syncs and maintenance); returns how many were removed.';
