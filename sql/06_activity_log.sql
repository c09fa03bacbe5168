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
    -- Once per partition: the one that has its key has its indexes.
    IF EXISTS (SELECT 1 FROM pg_constraint WHERE conrelid = p_partition AND contype = 'p') THEN
        RETURN;
    END IF;
    EXECUTE format('ALTER TABLE %s ADD PRIMARY KEY (dealership_id, id, created_at)', p_partition);
    EXECUTE format('CREATE INDEX ON %s (dealership_id, created_at DESC)', p_partition);
    EXECUTE format('CREATE INDEX ON %s (dealership_id, entity_type, created_at DESC)', p_partition);
    EXECUTE format('CREATE INDEX ON %s (action, created_at DESC)', p_partition);
    EXECUTE format('CREATE INDEX ON %s (status, created_at DESC)', p_partition);
    EXECUTE format('CREATE INDEX ON %s (sync_id, created_at DESC)', p_partition);
END
$$;
COMMENT ON FUNCTION easycars._index_activity_partition(regclass) IS
    'Internal: gives a sync_activity_log partition its primary key (dealership_id, id, created_at) and the indexes by dealership, entity, action, status and sync_id (each with created_at DESC); does nothing to a partition that has its key.';

-- A month added by hand the usual way (CREATE TABLE ... PARTITION OF easycars.sync_activity_log
-- FOR VALUES FROM ... TO ...) gets the same key and indexes at once. pg_dump and pg_upgrade never
-- create a partition that way (they CREATE the table, ATTACH it, then add its own indexes), so a
-- restore is untouched; a table ATTACHed by hand without them is indexed by maintain_partitions().
CREATE FUNCTION easycars._index_new_activity_partition() RETURNS event_trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    part oid;
BEGIN
    -- This runs for every CREATE TABLE in the database, by any role: it touches nothing of the
    -- easycars schema (which most roles may not use) unless the new table is one of its
    -- partitions, which only the parent's owner can make.
    FOR part IN
        SELECT c.objid
        FROM pg_event_trigger_ddl_commands() c
        JOIN pg_inherits i ON i.inhrelid = c.objid
        JOIN pg_class p ON p.oid = i.inhparent
        JOIN pg_namespace n ON n.oid = p.relnamespace
        WHERE c.classid = 'pg_class'::regclass AND c.objsubid = 0
          AND n.nspname = 'easycars' AND p.relname = 'sync_activity_log'
    LOOP
        PERFORM easycars._index_activity_partition(part::regclass);
    END LOOP;
END
$$;
COMMENT ON FUNCTION easycars._index_new_activity_partition() IS
    'Internal event trigger: gives a sync_activity_log partition made by CREATE TABLE ... PARTITION OF its key and indexes.';
CREATE EVENT TRIGGER easycars_activity_partition ON ddl_command_end WHEN TAG IN ('CREATE TABLE')
    EXECUTE FUNCTION easycars._index_new_activity_partition();
COMMENT ON EVENT TRIGGER easycars_activity_partition IS
    'Gives a sync_activity_log partition made by hand with CREATE TABLE ... PARTITION OF the key and indexes every partition has.';

-- Safety net: a row for a month with no partition never fails; maintain_partitions() moves such
-- rows into their month's partition when it creates it.
CREATE TABLE easycars.sync_activity_log_default PARTITION OF easycars.sync_activity_log DEFAULT;
COMMENT ON TABLE easycars.sync_activity_log_default IS
    'Default partition of sync_activity_log for rows whose month has no partition yet; emptied by easycars.maintain_partitions().';
SELECT easycars._index_activity_partition('easycars.sync_activity_log_default');
