-- Monthly-partitioned activity log of sync events (partitions kept by easycars.maintain_partitions()).

CREATE TABLE easycars.sync_activity_log (
    id               uuid        NOT NULL DEFAULT gen_random_uuid(),
    dealership_id    integer     NOT NULL,
    sync_id          varchar(255),
    entity_type      easycars.sync_entity,
    action           easycars.sync_action NOT NULL,
    status           easycars.sync_status NOT NULL,
    record_count     integer     DEFAULT 0,
    duration_seconds numeric(10,2),
    error_message    text,
    initiated_by     text        DEFAULT current_user,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sync_activity_log_dealership_fkey FOREIGN KEY (dealership_id)
        REFERENCES easycars.dealership (id) ON DELETE CASCADE,
    CONSTRAINT sync_activity_log_positive_count CHECK (record_count >= 0),
    CONSTRAINT sync_activity_log_positive_duration CHECK (duration_seconds IS NULL OR duration_seconds >= 0)
) PARTITION BY RANGE (created_at);
COMMENT ON TABLE easycars.sync_activity_log IS
    'Activity of sync runs (start, completion, errors), partitioned by month of created_at (UTC). easycars.maintain_partitions() creates months ahead and drops months past retention; a default partition catches any month without one.';
COMMENT ON COLUMN easycars.sync_activity_log.sync_id IS 'The run this row belongs to (sync_progress.sync_id).';
COMMENT ON COLUMN easycars.sync_activity_log.record_count IS 'Records the action covered.';
COMMENT ON COLUMN easycars.sync_activity_log.initiated_by IS 'Role that caused the activity.';

-- The key and indexes live on each partition, not on the parent. The parent belongs to the
-- extension while monthly partitions are user data that pg_dump recreates: a key on the parent
-- would make ATTACH build each partition's own, and the dump's copy of it would then collide.
-- (The key includes the partition column, so per-partition keys are as unique as a parent's.)
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

-- Safety net: a row for a month with no partition never fails; maintain_partitions() moves such
-- rows into their month's partition when it creates it.
CREATE TABLE easycars.sync_activity_log_default PARTITION OF easycars.sync_activity_log DEFAULT;
COMMENT ON TABLE easycars.sync_activity_log_default IS
    'Default partition of sync_activity_log for rows whose month has no partition yet; emptied by easycars.maintain_partitions().';
SELECT easycars._index_activity_partition('easycars.sync_activity_log_default');
