-- Per-dealership, per-entity sync state: when the last full sync ran and what last went wrong.

CREATE TABLE easycars.sync_state (
    dealership_id         integer     NOT NULL,
    entity_type           easycars.sync_entity NOT NULL,
    direction             varchar(10) NOT NULL DEFAULT 'inbound',
    last_full_sync        timestamptz,
    last_incremental_sync timestamptz,
    records_synced        integer     NOT NULL DEFAULT 0,
    last_error            text,
    last_error_at         timestamptz,
    updated_at            timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sync_state_pkey PRIMARY KEY (dealership_id, entity_type, direction),
    CONSTRAINT sync_state_direction_chk CHECK (direction IN ('inbound', 'outbound')),
    CONSTRAINT sync_state_dealership_fkey FOREIGN KEY (dealership_id)
        REFERENCES easycars.dealership (id) ON DELETE CASCADE,
    CONSTRAINT sync_state_records_chk CHECK (records_synced >= 0),
    CONSTRAINT sync_state_error_chk CHECK ((last_error IS NULL) = (last_error_at IS NULL))
);
COMMENT ON TABLE easycars.sync_state IS
    'Sync state per dealership, entity and direction (a lead push and a lead refresh each have their row): last full and incremental sync, records synced by the last run, and the last error (cleared by the next success of the same direction).';
COMMENT ON COLUMN easycars.sync_state.direction IS 'inbound (EasyCars to the database: stock, lead refresh) or outbound (the database to EasyCars: lead push).';
COMMENT ON COLUMN easycars.sync_state.last_full_sync IS 'End (wall clock) of the last successful complete sync of this entity.';
COMMENT ON COLUMN easycars.sync_state.last_incremental_sync IS 'End (wall clock) of the last successful partial sync (a lead push or refresh).';
COMMENT ON COLUMN easycars.sync_state.records_synced IS 'Records the last successful run stored or confirmed unchanged (created + updated + unchanged); items that failed and Manual/Import vehicles it left alone are not counted.';
COMMENT ON COLUMN easycars.sync_state.last_error IS 'Message of the last failed run; NULL after a success.';

CREATE TRIGGER sync_state_touch_updated_at BEFORE UPDATE ON easycars.sync_state
    FOR EACH ROW EXECUTE FUNCTION easycars._touch_updated_at();
