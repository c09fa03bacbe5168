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
        ('easycars_sync',    'Runs EasyCars syncs (pg_cron jobs): reads and writes the synced tables of the dealerships an administrator granted it (easycars.grant_dealership), one at a time via app.current_dealership_id.'),
        ('easycars_analyst', 'Reads vehicles, leads and sync history of a dealership it was granted (easycars.grant_dealership), selected with app.current_dealership_id; never credentials.')
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

-- The tenant helpers every policy uses (easycars.current_dealership_id(), easycars.may_act_for(),
-- easycars._is_admin()) are written in Rust: the setting is parsed, and the role's right to act for
-- the dealership it names is checked, in one place (src/tenant.rs).

CREATE FUNCTION easycars._touch_updated_at() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- Only a real change moves updated_at, so "when did this row change" stays true through
    -- no-op updates; an UPDATE that sets nothing but updated_at keeps the value it sets.
    -- Stored generated columns are not computed yet in a BEFORE trigger's NEW: search here, others
    -- as trigger arguments, with derived columns (lead.score) whose change is no edit of the row.
    IF pg_catalog.to_jsonb(NEW) - ('{updated_at,search}'::text[] OPERATOR(pg_catalog.||) TG_ARGV)
       IS DISTINCT FROM pg_catalog.to_jsonb(OLD) - ('{updated_at,search}'::text[] OPERATOR(pg_catalog.||) TG_ARGV) THEN
        NEW.updated_at := pg_catalog.now();
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION easycars._touch_updated_at() IS
    'Internal trigger: sets updated_at to now() when an UPDATE changes any other column (except the derived columns named as trigger arguments), keeps it otherwise.';
