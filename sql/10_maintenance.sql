-- Cleanup, retention and partition maintenance, meant to be scheduled with pg_cron.

CREATE FUNCTION easycars.cleanup_preview_cache()
RETURNS TABLE (deleted_count integer, error_message text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer;
BEGIN
    DELETE FROM easycars.sync_preview_cache WHERE expires_at <= pg_catalog.now();
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN QUERY SELECT n, NULL::text;
EXCEPTION WHEN OTHERS THEN
    -- Reported, not raised: a cron job calling this must not fail the rest of its batch.
    RETURN QUERY SELECT 0, SQLERRM;
END
$$;
COMMENT ON FUNCTION easycars.cleanup_preview_cache() IS
    'Deletes expired sync previews of every dealership. Returns how many rows went, or 0 and the error message instead of raising. Schedule it, e.g. every 15 minutes.';

CREATE FUNCTION easycars.archive_sync_logs(
    older_than interval DEFAULT '90 days',
    purge_archive_after interval DEFAULT '2 years')
RETURNS TABLE (archived_count bigint, purged_count bigint)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    archived bigint;
    purged bigint;
BEGIN
    IF older_than IS NULL OR older_than <= interval '0' THEN
        RAISE EXCEPTION 'older_than must be a positive interval, not %', coalesce(older_than::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass e.g. interval ''90 days''.';
    END IF;
    IF purge_archive_after IS NULL OR purge_archive_after <= interval '0' THEN
        RAISE EXCEPTION 'purge_archive_after must be a positive interval, not %', coalesce(purge_archive_after::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass e.g. interval ''2 years''.';
    END IF;

    -- Runs still in progress stay where the running sync expects to update them.
    WITH moved AS (
        DELETE FROM easycars.sync_log
        WHERE started_at < pg_catalog.now() - older_than AND status <> 'InProgress'
        RETURNING *
    )
    INSERT INTO easycars.sync_log_archive SELECT * FROM moved;
    GET DIAGNOSTICS archived = ROW_COUNT;

    DELETE FROM easycars.sync_log_archive WHERE started_at < pg_catalog.now() - purge_archive_after;
    GET DIAGNOSTICS purged = ROW_COUNT;
    -- The audit trail is kept as long as the archive (it is not counted in purged_count).
    IF to_regclass('easycars.audit_log') IS NOT NULL THEN
        DELETE FROM easycars.audit_log WHERE at < pg_catalog.now() - purge_archive_after;
    END IF;

    RETURN QUERY SELECT archived, purged;
END
$$;
COMMENT ON FUNCTION easycars.archive_sync_logs(interval, interval) IS
    'Moves finished sync_log rows started more than older_than ago (default 90 days) into sync_log_archive, and deletes archive rows started more than purge_archive_after ago (default 2 years), and audit_log rows as old. Returns both counts. Covers every dealership; easycars_admin only.';

CREATE FUNCTION easycars.maintain_partitions(
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

    -- A partition ATTACHed by hand without the key and indexes gets them.
    FOR p IN
        SELECT c.oid::regclass AS part, c.relname
        FROM pg_catalog.pg_inherits i
        JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'easycars.sync_activity_log'::regclass
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p')
        ORDER BY c.relname
    LOOP
        PERFORM easycars._index_activity_partition(p.part);
        RETURN QUERY SELECT p.relname::text, 'indexed'::text, 0::bigint;
    END LOOP;

    DELETE FROM easycars.sync_activity_log_default
    WHERE created_at < cutoff::timestamp AT TIME ZONE 'UTC';
    GET DIAGNOSTICS moved = ROW_COUNT;
    IF moved > 0 THEN
        RETURN QUERY SELECT 'sync_activity_log_default'::text, 'purged'::text, moved;
    END IF;
END
$$;
COMMENT ON FUNCTION easycars.maintain_partitions(integer, interval, timestamptz) IS
    'Keeps sync_activity_log''s monthly partitions: creates the month of as_of (default now) and months_ahead more (default 3), moving any of their rows out of the default partition; detaches and drops months older than retain (default 12 months). Gives a partition attached by hand without them the key and indexes every partition has. Returns one row per partition created, dropped, indexed or purged. Schedule it daily; easycars_admin only.';

-- The month's partitions for the sync runs about to log (run_due_syncs calls this): creates what
-- is missing, never drops. Cheap when they exist.
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
