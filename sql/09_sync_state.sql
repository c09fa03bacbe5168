-- Per-dealership, per-entity sync state: when the last full sync ran and what last went wrong.

CREATE TABLE easycars.sync_state (
    dealership_id         integer     NOT NULL,
    entity_type           easycars.sync_entity NOT NULL,
    last_full_sync        timestamptz,
    last_incremental_sync timestamptz,
    records_synced        integer     NOT NULL DEFAULT 0,
    last_error            text,
    last_error_at         timestamptz,
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sync_state_pkey PRIMARY KEY (dealership_id, entity_type),
    CONSTRAINT sync_state_dealership_fkey FOREIGN KEY (dealership_id)
        REFERENCES easycars.dealership (id) ON DELETE CASCADE,
    CONSTRAINT sync_state_records_chk CHECK (records_synced >= 0),
    CONSTRAINT sync_state_error_chk CHECK ((last_error IS NULL) = (last_error_at IS NULL))
);
COMMENT ON TABLE easycars.sync_state IS
    'Sync state per dealership and entity: last full and incremental sync, records synced by the last run, and the last error (cleared by the next success).';
COMMENT ON COLUMN easycars.sync_state.last_full_sync IS 'End of the last successful complete sync of this entity.';
COMMENT ON COLUMN easycars.sync_state.last_incremental_sync IS 'End of the last successful partial sync (e.g. a lead refresh of some leads).';
COMMENT ON COLUMN easycars.sync_state.records_synced IS 'Records the last successful run wrote or confirmed.';
COMMENT ON COLUMN easycars.sync_state.last_error IS 'Message of the last failed run; NULL after a success.';

CREATE TRIGGER sync_state_touch_updated_at BEFORE UPDATE ON easycars.sync_state
    FOR EACH ROW EXECUTE FUNCTION easycars._touch_updated_at();
