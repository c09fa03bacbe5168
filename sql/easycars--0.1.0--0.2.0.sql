-- easycars 0.1.0 -> 0.2.0, run by ALTER EXTENSION easycars UPDATE TO '0.2.0'. It leaves a 0.1.0
-- database as a fresh 0.2.0 install would be (pgrx-tests/17_upgrade.sql compares the catalogs).
\echo Use "ALTER EXTENSION easycars UPDATE TO '0.2.0'" to load this file. \quit

-- vehicle: lz4 for the wide columns where the server has it (rows already stored keep theirs
-- until rewritten).
DO $$
BEGIN
    ALTER TABLE easycars.vehicle
        ALTER COLUMN easycars_raw_data SET COMPRESSION lz4,
        ALTER COLUMN description SET COMPRESSION lz4,
        ALTER COLUMN images SET COMPRESSION lz4,
        ALTER COLUMN features SET COMPRESSION lz4,
        ALTER COLUMN search SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    NULL;
END
$$;

-- sync_activity_log: the key and indexes move from the parent to each partition, so that a
-- dump restores (with a key on the extension's parent, ATTACH built each partition's own and
-- the dump's copy collided). Dropping the parent's drops the partitions' copies.
CREATE FUNCTION easycars._index_activity_partition(p_partition regclass) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    EXECUTE format('ALTER TABLE %s ADD PRIMARY KEY (dealership_id, id, created_at)', p_partition);
    EXECUTE format('CREATE INDEX ON %s (dealership_id, created_at DESC)', p_partition);
    EXECUTE format('CREATE INDEX ON %s (dealership_id, entity_type, created_at DESC)', p_partition);
    EXECUTE format('CREATE INDEX ON %s (action, created_at DESC)', p_partition);
    EXECUTE format('CREATE INDEX ON %s (status, created_at DESC)', p_partition);
    EXECUTE format('CREATE INDEX ON %s (sync_id, created_at DESC)', p_partition);
END
$$;
COMMENT ON FUNCTION easycars._index_activity_partition(regclass) IS
    'Internal: gives a sync_activity_log partition its primary key (dealership_id, id, created_at) and the indexes by dealership, entity, action, status and sync_id (each with created_at DESC).';

REVOKE EXECUTE ON FUNCTION easycars._index_activity_partition(regclass) FROM PUBLIC;
ALTER TABLE easycars.sync_activity_log DROP CONSTRAINT sync_activity_log_pkey;
DROP INDEX easycars.sync_activity_log_dealership_created_idx, easycars.sync_activity_log_entity_idx,
           easycars.sync_activity_log_action_idx, easycars.sync_activity_log_status_idx,
           easycars.sync_activity_log_sync_id_idx;
SELECT easycars._index_activity_partition(inhrelid::regclass)
FROM pg_catalog.pg_inherits WHERE inhparent = 'easycars.sync_activity_log'::regclass;

-- maintain_partitions gives new partitions their key and indexes; _ensure_partitions lets
-- run_due_syncs make this month's partition (CREATE EXTENSION no longer does).
CREATE OR REPLACE FUNCTION easycars.maintain_partitions(
    months_ahead integer DEFAULT 3,
    retain interval DEFAULT '12 months',
    as_of timestamptz DEFAULT now())
RETURNS TABLE (partition_name text, action text, row_count bigint)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    this_month date := date_trunc('month', as_of AT TIME ZONE 'UTC')::date;
    cutoff date := date_trunc('month', (as_of - retain) AT TIME ZONE 'UTC')::date;
    lo date;
    name text;
    moved bigint;
    p record;
BEGIN
    IF months_ahead IS NULL OR months_ahead < 0 OR months_ahead > 120 THEN
        RAISE EXCEPTION 'months_ahead must be between 0 and 120, not %', coalesce(months_ahead::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF retain IS NULL OR retain < interval '1 month' THEN
        RAISE EXCEPTION 'retain must be at least one month, not %', coalesce(retain::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'The current month''s partition is never dropped; pass e.g. interval ''12 months''.';
    END IF;
    IF as_of IS NULL THEN
        RAISE EXCEPTION 'as_of must not be NULL' USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- Two maintainers at once would race on the same CREATE / ATTACH.
    PERFORM pg_advisory_xact_lock(pg_catalog.hashtext('easycars.maintain_partitions'));

    -- Months are UTC months; bounds are written as timestamptz so the session time zone is irrelevant.
    FOR i IN 0 .. months_ahead LOOP
        lo := (this_month + make_interval(months => i))::date;
        CONTINUE WHEN lo < cutoff;
        name := format('sync_activity_log_p%s', to_char(lo, 'YYYY_MM'));
        CONTINUE WHEN to_regclass(format('easycars.%I', name)) IS NOT NULL;

        EXECUTE format('CREATE TABLE easycars.%I (LIKE easycars.sync_activity_log INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', name);
        PERFORM easycars._index_activity_partition(format('easycars.%I', name)::regclass);
        -- Rows that landed in the default partition for this month move first, or ATTACH would fail.
        EXECUTE format(
            'WITH moved AS (DELETE FROM easycars.sync_activity_log_default WHERE created_at >= %L AND created_at < %L RETURNING *) '
            'INSERT INTO easycars.%I SELECT * FROM moved',
            lo::timestamp AT TIME ZONE 'UTC', (lo + interval '1 month')::timestamp AT TIME ZONE 'UTC', name);
        GET DIAGNOSTICS moved = ROW_COUNT;
        EXECUTE format('ALTER TABLE easycars.sync_activity_log ATTACH PARTITION easycars.%I FOR VALUES FROM (%L) TO (%L)',
            name, lo::timestamp AT TIME ZONE 'UTC', (lo + interval '1 month')::timestamp AT TIME ZONE 'UTC');
        EXECUTE format('COMMENT ON TABLE easycars.%I IS %L', name,
            format('Partition of sync_activity_log for %s (UTC).', to_char(lo, 'YYYY-MM')));
        RETURN QUERY SELECT name, 'created'::text, moved;
    END LOOP;

    FOR p IN
        SELECT c.relname, to_date(substring(c.relname FROM 'p([0-9]{4}_[0-9]{2})$'), 'YYYY_MM') AS month
        FROM pg_catalog.pg_inherits i
        JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'easycars.sync_activity_log'::regclass
          AND c.relname ~ '^sync_activity_log_p[0-9]{4}_[0-9]{2}$'
        ORDER BY 2
    LOOP
        CONTINUE WHEN p.month >= cutoff;
        EXECUTE format('SELECT count(*) FROM easycars.%I', p.relname) INTO moved;
        EXECUTE format('ALTER TABLE easycars.sync_activity_log DETACH PARTITION easycars.%I', p.relname);
        EXECUTE format('DROP TABLE easycars.%I', p.relname);
        RETURN QUERY SELECT p.relname::text, 'dropped'::text, moved;
    END LOOP;

    DELETE FROM easycars.sync_activity_log_default
    WHERE created_at < cutoff::timestamp AT TIME ZONE 'UTC';
    GET DIAGNOSTICS moved = ROW_COUNT;
    IF moved > 0 THEN
        RETURN QUERY SELECT 'sync_activity_log_default'::text, 'purged'::text, moved;
    END IF;
END
$$;

CREATE FUNCTION easycars._ensure_partitions() RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    this_month date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
BEGIN
    IF to_regclass(format('easycars.%I', 'sync_activity_log_p' || to_char(this_month, 'YYYY_MM'))) IS NOT NULL
       AND to_regclass(format('easycars.%I', 'sync_activity_log_p' || to_char(this_month + interval '1 month', 'YYYY_MM'))) IS NOT NULL THEN
        RETURN 0;
    END IF;
    RETURN (SELECT count(*) FROM easycars.maintain_partitions(3, '100 years') WHERE action = 'created');
END
$$;
COMMENT ON FUNCTION easycars._ensure_partitions() IS
    'Internal: creates this month''s sync_activity_log partition and three ahead if this or next month''s is missing (never drops anything); returns how many it created. Called by run_due_syncs.';

REVOKE EXECUTE ON FUNCTION easycars._ensure_partitions() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION easycars._ensure_partitions() TO easycars_admin, easycars_sync;

CREATE OR REPLACE PROCEDURE easycars.run_due_syncs(what text DEFAULT 'all')
LANGUAGE plpgsql
AS $$
DECLARE
    d integer;
    lead_id bigint;
    log easycars.sync_log;
    msg text;
BEGIN
    IF what IS NULL OR what NOT IN ('all', 'stock', 'leads') THEN
        RAISE EXCEPTION 'what must be all, stock or leads' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- A replica cannot write; the primary runs the same schedule.
    IF pg_is_in_recovery() THEN
        RAISE NOTICE 'easycars.run_due_syncs: this server is a replica; nothing to do';
        RETURN;
    END IF;
    -- This month's activity partition exists before the runs log into it; committed at once, so
    -- the DDL locks are not held across the syncs.
    PERFORM easycars._ensure_partitions();
    COMMIT;
    FOR d IN SELECT c.dealership_id FROM easycars.credentials c WHERE c.is_active ORDER BY c.dealership_id LOOP
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
                IF NOT pg_try_advisory_lock(hashtext('easycars.sync.Lead.Outbound'), d) THEN
                    PERFORM set_config('app.current_dealership_id', d::text, true);
                    UPDATE easycars.sync_log SET status = 'Skipped', completed_at = clock_timestamp(),
                           error_message = 'another lead outbound sync of this dealership is running'
                    WHERE dealership_id = d AND id = log.id;
                    UPDATE easycars.sync_progress SET completed_at = clock_timestamp() WHERE dealership_id = d AND sync_id = log.id::text;
                    COMMIT;
                    log := NULL;
                END IF;
            END IF;
            IF log.status = 'InProgress' THEN
                DECLARE
                    n_ok integer := 0; n_failed integer := 0;
                BEGIN
                    FOR lead_id IN SELECT easycars._leads_to_push(d) LOOP
                        BEGIN
                            PERFORM set_config('app.current_dealership_id', d::text, true);
                            PERFORM easycars._push_lead(d, lead_id);
                            n_ok := n_ok + 1;
                        EXCEPTION WHEN OTHERS THEN
                            GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
                            n_failed := n_failed + 1;
                            UPDATE easycars.lead SET last_push_error = msg WHERE dealership_id = d AND id = lead_id;
                        END;
                        COMMIT;
                    END LOOP;
                    PERFORM set_config('app.current_dealership_id', d::text, true);
                    PERFORM easycars._finish_run(log, 'lead', CASE WHEN n_failed > 0 THEN 'Warning' ELSE 'Success' END,
                        n_ok + n_failed, 0, n_ok, 0, 0, n_failed, jsonb_build_object('pushed', n_ok, 'failed', n_failed),
                        CASE WHEN n_failed > 0 THEN format('%s lead(s) could not be pushed; see lead.last_push_error', n_failed) END);
                    PERFORM pg_advisory_unlock(hashtext('easycars.sync.Lead.Outbound'), d);
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
END
$$;
COMMENT ON PROCEDURE easycars.run_due_syncs(text) IS
    'For pg_cron (CALL must be the job''s only command): makes sure this month''s activity partition exists, then syncs every dealership with active credentials in turn, each step in its own transaction (stock; leads pushed one per transaction; leads refreshed). what: all, stock or leads. A no-op on a replica.';


-- sync_progress triggers keep restored rows as dumped (pg_dump's scripts set row_security = off).
CREATE OR REPLACE FUNCTION easycars._sync_progress_validate_totals() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    -- pg_dump's scripts run with row_security = off (nothing else inserts here with it off:
    -- RLS would refuse): a restore loads rows exactly as they were dumped.
    IF TG_OP = 'INSERT' AND pg_catalog.current_setting('row_security') = 'off' THEN
        RETURN NEW;
    END IF;
    IF NEW.processed_count + NEW.failed_count > NEW.total_items THEN
        RAISE EXCEPTION 'processed_count (%) + failed_count (%) exceeds total_items (%)',
                NEW.processed_count, NEW.failed_count, NEW.total_items
            USING ERRCODE = 'check_violation',
                  HINT = 'Raise total_items first, or count each item once.';
    END IF;
    IF NEW.current_item > NEW.total_items THEN
        NEW.current_item := NEW.total_items;
    END IF;
    IF NEW.total_items > 0
       AND NEW.processed_count + NEW.failed_count = NEW.total_items
       AND NEW.completed_at IS NULL THEN
        NEW.completed_at := pg_catalog.clock_timestamp();
    END IF;
    RETURN NEW;
END
$$;
CREATE OR REPLACE FUNCTION easycars._sync_progress_touch() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'INSERT' AND pg_catalog.current_setting('row_security') = 'off' THEN
        RETURN NEW; -- a restore (see _sync_progress_validate_totals)
    END IF;
    -- clock_timestamp, not now(): a run inside one long transaction still shows time passing.
    NEW.updated_at := pg_catalog.clock_timestamp();
    RETURN NEW;
END
$$;
CREATE OR REPLACE FUNCTION easycars._sync_progress_rates() RETURNS trigger
LANGUAGE plpgsql
AS $$
DECLARE
    until timestamptz := coalesce(NEW.completed_at, pg_catalog.clock_timestamp());
    seconds numeric := greatest(extract(epoch FROM until - NEW.started_at), 0);
BEGIN
    IF TG_OP = 'INSERT' AND pg_catalog.current_setting('row_security') = 'off' THEN
        RETURN NEW; -- a restore (see _sync_progress_validate_totals)
    END IF;
    NEW.elapsed_seconds := floor(seconds)::integer;
    IF seconds > 0 AND NEW.processed_count > 0 THEN
        NEW.speed_items_per_min := round(NEW.processed_count / seconds * 60, 2);
    ELSE
        NEW.speed_items_per_min := 0;
    END IF;
    IF NEW.completed_at IS NOT NULL THEN
        NEW.eta_seconds := 0;
    ELSIF NEW.total_items > 0 AND NEW.speed_items_per_min > 0 THEN
        NEW.eta_seconds := ceil((NEW.total_items - NEW.processed_count - NEW.failed_count)
                                / NEW.speed_items_per_min * 60)::integer;
    ELSE
        NEW.eta_seconds := NULL;
    END IF;
    RETURN NEW;
END
$$;
CREATE OR REPLACE FUNCTION easycars._sync_progress_log_completion() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF TG_OP = 'INSERT' AND pg_catalog.current_setting('row_security') = 'off' THEN
        RETURN NULL; -- a restore (see _sync_progress_validate_totals): the completion was logged then
    END IF;
    IF NEW.completed_at IS NOT NULL AND (TG_OP = 'INSERT' OR OLD.completed_at IS NULL) THEN
        INSERT INTO easycars.sync_activity_log (
            dealership_id, sync_id, entity_type, action, status,
            record_count, duration_seconds, initiated_by, created_at)
        VALUES (
            NEW.dealership_id, NEW.sync_id, NEW.entity_type, 'sync_complete',
            CASE WHEN NEW.failed_count = 0 THEN 'completed' ELSE 'completed_with_errors' END::easycars.sync_status,
            NEW.processed_count + NEW.failed_count,
            round(greatest(extract(epoch FROM NEW.completed_at - NEW.started_at), 0), 2),
            NEW.initiated_by,
            NEW.completed_at);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION easycars._sync_progress_validate_totals() IS
    'Internal trigger: rejects counts beyond total_items (23514), clamps current_item, and sets completed_at when every item is accounted for. Rows restored by pg_dump''s scripts (row_security = off) are kept as dumped by all four sync_progress triggers.';

-- The FDW's jsonb self-check. "json" is quoted: from PostgreSQL 17 on, JSON is a keyword that
-- cannot name a parameter bare (what pgrx generates quotes it too).
CREATE FUNCTION easycars._jsonb_encoder_check("json" text) RETURNS text
IMMUTABLE STRICT PARALLEL SAFE
LANGUAGE c
AS 'MODULE_PATHNAME', '_jsonb_encoder_check_wrapper';
COMMENT ON FUNCTION easycars._jsonb_encoder_check(text) IS
    'Internal, for tests and diagnostics: whether the jsonb the stock scans build in Rust for this JSON text is byte for byte what jsonb_in builds (same, fallback when the encoder leaves it to jsonb_in, or where they differ).';
REVOKE EXECUTE ON FUNCTION easycars._jsonb_encoder_check(text) FROM PUBLIC;

-- pg_dump keeps the default partition's rows and the identity sequences' positions.
SELECT pg_catalog.pg_extension_config_dump('easycars.sync_activity_log_default', '');
SELECT pg_catalog.pg_extension_config_dump('easycars.dealership_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('easycars.credentials_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('easycars.sync_log_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('easycars.vehicle_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('easycars.lead_id_seq', '');
