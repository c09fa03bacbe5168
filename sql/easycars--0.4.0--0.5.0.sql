-- easycars 0.4.0 -> 0.5.0: sync workers fetch ahead (easycars.sync_lookahead), so hung EasyCars
-- accounts wait out their deadlines side by side instead of one after another.
\echo Use "ALTER EXTENSION easycars UPDATE TO '0.5.0'" to load this file. \quit

CREATE FUNCTION easycars."_prefetch_stock"("p_dealership_id" INT) RETURNS bool
STRICT VOLATILE PARALLEL UNSAFE LANGUAGE c SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', '_prefetch_stock_wrapper';
CREATE FUNCTION easycars."_prefetch_next"("p_dealership_ids" INT[], "p_room_for" INT) RETURNS INT
STRICT VOLATILE PARALLEL UNSAFE LANGUAGE c SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', '_prefetch_next_wrapper';
CREATE FUNCTION easycars."_prefetch_forget"("p_dealership_id" INT) RETURNS void
VOLATILE PARALLEL UNSAFE LANGUAGE c SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', '_prefetch_forget_wrapper';
COMMENT ON FUNCTION easycars._prefetch_stock(integer) IS
    'Internal (src/fdw/prefetch.rs): starts fetching a claimed dealership''s stock in the background of this backend, through its sync foreign table, to end by easycars.sync_deadline from now; the sync''s scan takes the answer. False when nothing started (no free integrator slot, no table, no right to it).';
COMMENT ON FUNCTION easycars._prefetch_next(integer[], integer) IS
    'Internal (src/fdw/prefetch.rs): the first of these dealerships whose stock fetched ahead has arrived (or failed, or has none); NULL when none has and fewer than the second argument are still young (the worker may claim another); otherwise waits for one of the two.';
COMMENT ON FUNCTION easycars._prefetch_forget(integer) IS
    'Internal (src/fdw/prefetch.rs): drops the stock fetched ahead for a dealership (NULL: all), stopping it and releasing its call slot.';
REVOKE EXECUTE ON FUNCTION easycars._prefetch_stock(integer), easycars._prefetch_next(integer[], integer),
                          easycars._prefetch_forget(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION easycars._prefetch_stock(integer), easycars._prefetch_next(integer[], integer),
                          easycars._prefetch_forget(integer)
    TO easycars_admin, easycars_sync;

CREATE OR REPLACE PROCEDURE easycars.run_due_syncs(what pg_catalog.text DEFAULT 'all',
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
