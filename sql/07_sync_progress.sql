-- Live progress of running syncs, with triggers that derive elapsed time, speed, ETA and completion.

CREATE TABLE easycars.sync_progress (
    id                  uuid         NOT NULL DEFAULT gen_random_uuid(),
    dealership_id       integer      NOT NULL,
    sync_id             varchar(255) NOT NULL,
    job_id              varchar(255),
    entity_type         easycars.sync_entity NOT NULL,
    current_item        integer      NOT NULL DEFAULT 0,
    total_items         integer      NOT NULL DEFAULT 0,
    processed_count     integer      NOT NULL DEFAULT 0,
    failed_count        integer      NOT NULL DEFAULT 0,
    speed_items_per_min numeric(12,2),
    eta_seconds         integer,
    elapsed_seconds     integer      NOT NULL DEFAULT 0,
    started_at          timestamptz  NOT NULL DEFAULT now(),
    updated_at          timestamptz  NOT NULL DEFAULT now(),
    completed_at        timestamptz,
    source_system       varchar(50)  DEFAULT 'EasyCars',
    batch_number        integer      DEFAULT 0,
    metadata            jsonb        DEFAULT '{}',
    initiated_by        text         DEFAULT current_user,
    CONSTRAINT sync_progress_pkey PRIMARY KEY (dealership_id, id),
    CONSTRAINT sync_progress_sync_id_key UNIQUE (dealership_id, sync_id),
    CONSTRAINT sync_progress_dealership_fkey FOREIGN KEY (dealership_id)
        REFERENCES easycars.dealership (id) ON DELETE CASCADE,
    CONSTRAINT sync_progress_positive_counts CHECK (
        processed_count >= 0 AND failed_count >= 0 AND processed_count + failed_count <= total_items
    ),
    CONSTRAINT sync_progress_positive_items CHECK (
        current_item >= 0 AND total_items >= 0 AND current_item <= total_items
    ),
    CONSTRAINT sync_progress_completed_at_chk CHECK (completed_at IS NULL OR completed_at >= started_at)
);
COMMENT ON TABLE easycars.sync_progress IS
    'One row per sync run while it runs and after: counts, speed and ETA, readable from another session while the run is going. Triggers derive elapsed_seconds, speed_items_per_min, eta_seconds and completed_at, and log completion to sync_activity_log.';
COMMENT ON COLUMN easycars.sync_progress.sync_id IS 'Identifier of the run, unique within the dealership (the sync_log id for syncs run by easycars).';
COMMENT ON COLUMN easycars.sync_progress.job_id IS 'The pg_cron job id when the run was started by a pg_cron job (run_due_syncs), else NULL.';
COMMENT ON COLUMN easycars.sync_progress.batch_number IS 'Batches committed so far: in a scheduled lead push, which commits every lead, the leads done; 0 for runs that commit once.';
COMMENT ON COLUMN easycars.sync_progress.current_item IS 'Position reached, clamped to total_items.';
COMMENT ON COLUMN easycars.sync_progress.speed_items_per_min IS 'Derived: processed items per minute since started_at.';
COMMENT ON COLUMN easycars.sync_progress.eta_seconds IS 'Derived: seconds left at the current speed; NULL when unknown.';
COMMENT ON COLUMN easycars.sync_progress.elapsed_seconds IS 'Derived: seconds from started_at to completion, or to the last update while running.';
COMMENT ON COLUMN easycars.sync_progress.completed_at IS 'Set automatically once processed_count + failed_count reaches total_items.';

CREATE INDEX sync_progress_job_idx ON easycars.sync_progress (dealership_id, job_id);
CREATE INDEX sync_progress_active_idx ON easycars.sync_progress (dealership_id, updated_at DESC) WHERE completed_at IS NULL;
CREATE INDEX sync_progress_updated_idx ON easycars.sync_progress (dealership_id, updated_at DESC);
CREATE INDEX sync_progress_entity_idx ON easycars.sync_progress (dealership_id, entity_type, started_at DESC);

-- Trigger order matters and PostgreSQL fires same-event triggers by name: validate (and complete)
-- first, then touch updated_at, then derive rates from the final counts and completion time.
CREATE FUNCTION easycars._sync_progress_validate_totals() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
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
COMMENT ON FUNCTION easycars._sync_progress_validate_totals() IS
    'Internal trigger: rejects counts beyond total_items (23514), clamps current_item, and sets completed_at when every item is accounted for. Rows restored by pg_dump''s scripts (row_security = off) are kept as dumped by all four sync_progress triggers.';

CREATE FUNCTION easycars._sync_progress_touch() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
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
COMMENT ON FUNCTION easycars._sync_progress_touch() IS 'Internal trigger: stamps updated_at with the wall clock.';

CREATE FUNCTION easycars._sync_progress_rates() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
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
COMMENT ON FUNCTION easycars._sync_progress_rates() IS
    'Internal trigger: derives elapsed_seconds, speed_items_per_min and eta_seconds from the counts and the wall clock.';

CREATE FUNCTION easycars._sync_progress_log_completion() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'INSERT' AND pg_catalog.current_setting('row_security') = 'off' THEN
        RETURN NULL; -- a restore (see _sync_progress_validate_totals): the completion was logged then
    END IF;
    IF NEW.completed_at IS NOT NULL AND (TG_OP = 'INSERT' OR OLD.completed_at IS NULL) THEN
        -- The outcome that happened: a failed, cancelled, timed-out or skipped run is not logged
        -- as completed (the run's status and outcome are in its metadata, set by _finish_run).
        INSERT INTO easycars.sync_activity_log (
            dealership_id, sync_id, entity_type, action, status,
            record_count, duration_seconds, error_message, initiated_by, created_at)
        VALUES (
            NEW.dealership_id, NEW.sync_id, NEW.entity_type, 'sync_complete',
            CASE NEW.metadata->>'status'
                WHEN 'Failed' THEN coalesce(NEW.metadata->>'outcome', 'failed')
                WHEN 'Skipped' THEN 'cancelled'
                ELSE CASE WHEN NEW.failed_count = 0 THEN 'completed' ELSE 'completed_with_errors' END
            END::easycars.sync_status,
            NEW.processed_count + NEW.failed_count,
            round(greatest(extract(epoch FROM NEW.completed_at - NEW.started_at), 0), 2),
            left(NEW.metadata->>'error', 1000),
            NEW.initiated_by,
            NEW.completed_at);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION easycars._sync_progress_log_completion() IS
    'Internal trigger: writes a sync_complete row to sync_activity_log when a progress row completes, with the outcome that happened: completed, completed_with_errors, failed, cancelled or timeout (from the run''s metadata).';

CREATE TRIGGER sync_progress_10_validate_totals BEFORE INSERT OR UPDATE ON easycars.sync_progress
    FOR EACH ROW EXECUTE FUNCTION easycars._sync_progress_validate_totals();
CREATE TRIGGER sync_progress_20_touch_updated_at BEFORE INSERT OR UPDATE ON easycars.sync_progress
    FOR EACH ROW EXECUTE FUNCTION easycars._sync_progress_touch();
CREATE TRIGGER sync_progress_30_rates BEFORE INSERT OR UPDATE ON easycars.sync_progress
    FOR EACH ROW EXECUTE FUNCTION easycars._sync_progress_rates();
CREATE TRIGGER sync_progress_40_log_completion AFTER INSERT OR UPDATE ON easycars.sync_progress
    FOR EACH ROW EXECUTE FUNCTION easycars._sync_progress_log_completion();
