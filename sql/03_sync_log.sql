-- One row per sync run (InProgress -> Success / Warning / Failed / Skipped), and its archive.

CREATE TABLE easycars.sync_log (
    id                bigint GENERATED ALWAYS AS IDENTITY,
    dealership_id     integer     NOT NULL,
    credential_id     integer,
    sync_type         varchar(20) NOT NULL,
    sync_direction    varchar(20) NOT NULL,
    status            varchar(20) NOT NULL DEFAULT 'InProgress',
    started_at        timestamptz NOT NULL DEFAULT now(),
    completed_at      timestamptz,
    records_processed integer     NOT NULL DEFAULT 0,
    records_created   integer     NOT NULL DEFAULT 0,
    records_updated   integer     NOT NULL DEFAULT 0,
    records_unchanged integer     NOT NULL DEFAULT 0,
    records_removed   integer     NOT NULL DEFAULT 0,
    records_failed    integer     NOT NULL DEFAULT 0,
    error_message     text,
    error_details     text,
    request_payload   jsonb,
    response_summary  jsonb,
    triggered_by      text        NOT NULL DEFAULT current_user,
    created_at        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT sync_log_pkey PRIMARY KEY (dealership_id, id),
    CONSTRAINT sync_log_dealership_fkey FOREIGN KEY (dealership_id)
        REFERENCES easycars.dealership (id) ON DELETE CASCADE,
    -- Deleting credentials keeps the history: only credential_id is cleared.
    CONSTRAINT sync_log_credential_fkey FOREIGN KEY (dealership_id, credential_id)
        REFERENCES easycars.credentials (dealership_id, id) ON DELETE SET NULL (credential_id),
    CONSTRAINT sync_log_sync_type_chk CHECK (sync_type IN ('Stock', 'Lead')),
    CONSTRAINT sync_log_sync_direction_chk CHECK (sync_direction IN ('Inbound', 'Outbound')),
    CONSTRAINT sync_log_status_chk CHECK (status IN ('Success', 'Failed', 'Warning', 'InProgress', 'Skipped')),
    CONSTRAINT sync_log_completed_at_chk CHECK (completed_at IS NULL OR completed_at >= started_at),
    CONSTRAINT sync_log_counts_chk CHECK (
        records_processed >= 0 AND records_created >= 0 AND records_updated >= 0 AND
        records_unchanged >= 0 AND records_removed >= 0 AND records_failed >= 0
    )
);
COMMENT ON TABLE easycars.sync_log IS
    'Audit log of every EasyCars sync run: one row per run, moving from InProgress to Success, Warning (some records failed), Failed or Skipped (another run held the lock). Rows older than 90 days move to sync_log_archive via easycars.archive_sync_logs().';
COMMENT ON COLUMN easycars.sync_log.credential_id IS 'Credentials used; NULL once those credentials are deleted.';
COMMENT ON COLUMN easycars.sync_log.sync_type IS 'Stock or Lead.';
COMMENT ON COLUMN easycars.sync_log.sync_direction IS 'Inbound (EasyCars to Postgres) or Outbound (Postgres to EasyCars).';
COMMENT ON COLUMN easycars.sync_log.records_unchanged IS 'Records fetched that were identical to the local copy, so nothing was written.';
COMMENT ON COLUMN easycars.sync_log.records_removed IS 'Local records marked removed because they vanished from a complete EasyCars feed.';
COMMENT ON COLUMN easycars.sync_log.error_details IS 'SQLSTATE, detail, hint and context of the failure.';
COMMENT ON COLUMN easycars.sync_log.request_payload IS 'What was asked of EasyCars, never with secrets.';
COMMENT ON COLUMN easycars.sync_log.response_summary IS 'A summary of what EasyCars answered (counts, codes), never the full payload.';
COMMENT ON COLUMN easycars.sync_log.triggered_by IS 'Role that started the run (a pg_cron job runs as the role that scheduled it).';

CREATE INDEX sync_log_dealership_idx ON easycars.sync_log (dealership_id, started_at DESC);
CREATE INDEX sync_log_status_idx ON easycars.sync_log (status);
CREATE INDEX sync_log_started_at_idx ON easycars.sync_log (started_at DESC);
CREATE INDEX sync_log_sync_type_idx ON easycars.sync_log (sync_type);

-- The archive has the same columns in the same order, so rows move with INSERT ... SELECT *.
CREATE TABLE easycars.sync_log_archive (
    id                bigint      NOT NULL,
    dealership_id     integer     NOT NULL,
    credential_id     integer,
    sync_type         varchar(20) NOT NULL,
    sync_direction    varchar(20) NOT NULL,
    status            varchar(20) NOT NULL,
    started_at        timestamptz NOT NULL,
    completed_at      timestamptz,
    records_processed integer     NOT NULL DEFAULT 0,
    records_created   integer     NOT NULL DEFAULT 0,
    records_updated   integer     NOT NULL DEFAULT 0,
    records_unchanged integer     NOT NULL DEFAULT 0,
    records_removed   integer     NOT NULL DEFAULT 0,
    records_failed    integer     NOT NULL DEFAULT 0,
    error_message     text,
    error_details     text,
    request_payload   jsonb,
    response_summary  jsonb,
    triggered_by      text        NOT NULL,
    created_at        timestamptz NOT NULL,
    CONSTRAINT sync_log_archive_pkey PRIMARY KEY (dealership_id, id),
    CONSTRAINT sync_log_archive_dealership_fkey FOREIGN KEY (dealership_id)
        REFERENCES easycars.dealership (id) ON DELETE CASCADE,
    CONSTRAINT sync_log_archive_credential_fkey FOREIGN KEY (dealership_id, credential_id)
        REFERENCES easycars.credentials (dealership_id, id) ON DELETE SET NULL (credential_id),
    CONSTRAINT sync_log_archive_sync_type_chk CHECK (sync_type IN ('Stock', 'Lead')),
    CONSTRAINT sync_log_archive_sync_direction_chk CHECK (sync_direction IN ('Inbound', 'Outbound')),
    CONSTRAINT sync_log_archive_status_chk CHECK (status IN ('Success', 'Failed', 'Warning', 'InProgress', 'Skipped')),
    CONSTRAINT sync_log_archive_completed_at_chk CHECK (completed_at IS NULL OR completed_at >= started_at),
    CONSTRAINT sync_log_archive_counts_chk CHECK (
        records_processed >= 0 AND records_created >= 0 AND records_updated >= 0 AND
        records_unchanged >= 0 AND records_removed >= 0 AND records_failed >= 0
    )
);
COMMENT ON TABLE easycars.sync_log_archive IS
    'Sync log rows older than the hot window (default 90 days), same columns as sync_log; purged after two years by easycars.archive_sync_logs().';

CREATE INDEX sync_log_archive_dealership_idx ON easycars.sync_log_archive (dealership_id, started_at DESC);
CREATE INDEX sync_log_archive_started_at_idx ON easycars.sync_log_archive (started_at);
