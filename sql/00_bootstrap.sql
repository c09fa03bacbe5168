-- easycars bootstrap: the schema, roles, enum types and the tenant helpers every policy uses.

-- The schema is created here, not by the control file, so it belongs to the extension and
-- DROP EXTENSION removes it. Objects generated from Rust are created unqualified and land here.
CREATE SCHEMA easycars;
COMMENT ON SCHEMA easycars IS 'EasyCars dealer-management data: dealerships, credentials, vehicles, leads, sync history and the functions that sync them.';
SET LOCAL search_path TO easycars, pg_catalog;

-- Roles are cluster-wide, so they are created only when missing and survive DROP EXTENSION.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT * FROM (VALUES
        ('easycars_admin',   'EasyCars administrators: manage dealerships, credentials, schedules and retention; see every dealership.'),
        ('easycars_sync',    'Runs EasyCars syncs (pg_cron jobs): reads and writes the synced tables of the dealership named in app.current_dealership_id.'),
        ('easycars_analyst', 'Reads vehicles, leads and sync history of the dealership named in app.current_dealership_id; never credentials.')
    ) AS t(name, comment)
    LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r.name) THEN
            EXECUTE format('CREATE ROLE %I NOLOGIN', r.name);
        END IF;
        EXECUTE format('COMMENT ON ROLE %I IS %L', r.name, r.comment);
    END LOOP;
END
$$;

CREATE TYPE easycars.sync_entity AS ENUM ('stock', 'lead', 'contact', 'quotation');
COMMENT ON TYPE easycars.sync_entity IS 'The EasyCars entities a sync, a progress row or an activity row is about.';

CREATE TYPE easycars.sync_action AS ENUM (
    'preview_delta', 'sync_start', 'sync_complete', 'batch_process',
    'error_recovery', 'manual_trigger', 'scheduled_run', 'partial_resume'
);
COMMENT ON TYPE easycars.sync_action IS 'What happened in a sync_activity_log row.';

CREATE TYPE easycars.sync_status AS ENUM (
    'pending', 'in_progress', 'completed', 'completed_with_errors',
    'failed', 'cancelled', 'paused', 'timeout'
);
COMMENT ON TYPE easycars.sync_status IS 'Outcome recorded in a sync_activity_log row.';

-- SECURITY: the tenant of this session. A value that is not a plain positive integer names no
-- dealership (NULL), so a typo shows no rows instead of someone else's.
CREATE FUNCTION easycars.current_dealership_id() RETURNS integer
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT CASE WHEN s ~ '^[0-9]{1,9}$' THEN s::integer END
    FROM (SELECT pg_catalog.current_setting('app.current_dealership_id', true) AS s) AS setting
$$;
COMMENT ON FUNCTION easycars.current_dealership_id() IS
    'The dealership this session acts for: the setting app.current_dealership_id as an integer, or NULL when unset or not a number. Every row-level security policy of easycars compares against it.';

CREATE FUNCTION easycars._is_admin() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
    SELECT pg_catalog.pg_has_role(current_user, 'easycars_admin', 'MEMBER')
$$;
COMMENT ON FUNCTION easycars._is_admin() IS
    'Internal: true when the current role is a member of easycars_admin, which sees every dealership.';

CREATE FUNCTION easycars._touch_updated_at() RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    -- Only a real change moves updated_at, so "when did this row change" stays true through
    -- no-op updates; an UPDATE that sets nothing but updated_at keeps the value it sets.
    -- Stored generated columns (vehicle.search) are not computed yet in a BEFORE trigger's NEW.
    IF pg_catalog.to_jsonb(NEW) - '{updated_at,search}'::text[]
       IS DISTINCT FROM pg_catalog.to_jsonb(OLD) - '{updated_at,search}'::text[] THEN
        NEW.updated_at := pg_catalog.now();
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION easycars._touch_updated_at() IS
    'Internal trigger: sets updated_at to now() when an UPDATE changes any other column, keeps it otherwise.';
