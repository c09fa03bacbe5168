-- Audit trail of administrative actions: who changed a dealership, who may act for it, and its
-- credentials (set, rotated, deactivated, re-pointed, deleted), with the row before and after.
-- Never a secret: the encrypted columns are left out, and a change to them is recorded as such.

CREATE TABLE easycars.audit_log (
    id            bigint      GENERATED ALWAYS AS IDENTITY,
    at            timestamptz NOT NULL DEFAULT clock_timestamp(),
    actor         name        NOT NULL DEFAULT current_user,
    session_actor name        NOT NULL DEFAULT session_user,
    action        text        NOT NULL,
    object        text        NOT NULL,
    dealership_id integer,
    before        jsonb,
    after         jsonb,
    CONSTRAINT audit_log_pkey PRIMARY KEY (id),
    CONSTRAINT audit_log_action_chk CHECK (action IN ('insert', 'update', 'delete'))
);
COMMENT ON TABLE easycars.audit_log IS
    'Administrative actions on dealerships, dealership access, credentials, sync pauses and lead score weights: who (role and login), when, what, and the row before and after, without any secret. Written by triggers; append-only for everyone but superusers; purged with the sync log archive by easycars.archive_sync_logs().';
COMMENT ON COLUMN easycars.audit_log.actor IS 'The role that made the change; for changes made through set_credentials or rotate_encryption_key (which run as the extension owner), the session''s login role.';
COMMENT ON COLUMN easycars.audit_log.session_actor IS 'The login role of the session that made the change.';
COMMENT ON COLUMN easycars.audit_log.action IS 'insert, update or delete.';
COMMENT ON COLUMN easycars.audit_log.object IS 'The table changed: dealership, dealership_access, credentials, sync_schedule (pause and resume) or lead_score_weight.';
COMMENT ON COLUMN easycars.audit_log.before IS 'The row before the change (NULL for an insert), secrets left out.';
COMMENT ON COLUMN easycars.audit_log.after IS 'The row after the change (NULL for a delete), secrets left out; secrets_changed says whether the encrypted values changed.';
CREATE INDEX audit_log_dealership_idx ON easycars.audit_log (dealership_id, at DESC);
CREATE INDEX audit_log_at_idx ON easycars.audit_log (at);

-- The trigger runs with the rights of whoever made the change, so the trail names them: an
-- administrator may append (INSERT) rows in their own name only (see the policy in 99_security)
-- and nobody but a superuser may change or delete them. Changes made through the extension's
-- definer functions (set_credentials, rotate_encryption_key) run as the extension owner; for
-- those the session's login role is the actor.
CREATE FUNCTION easycars._audit() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    secret text[] := ARRAY['client_id_encrypted', 'client_secret_encrypted', 'account_number_encrypted',
                           'account_secret_encrypted', 'encryption_iv'];
    old_row jsonb := CASE WHEN TG_OP <> 'INSERT' THEN to_jsonb(OLD) END;
    new_row jsonb := CASE WHEN TG_OP <> 'DELETE' THEN to_jsonb(NEW) END;
    changed boolean;
BEGIN
    -- A restore (pg_dump's scripts run with row_security = off) replays rows, not actions.
    IF TG_OP = 'INSERT' AND current_setting('row_security') = 'off' THEN
        RETURN NULL;
    END IF;
    IF TG_TABLE_NAME = 'credentials' THEN
        changed := old_row IS NULL OR new_row IS NULL
                   OR EXISTS (SELECT 1 FROM unnest(secret) c WHERE old_row->c IS DISTINCT FROM new_row->c);
        old_row := old_row - secret;
        new_row := (new_row - secret) || CASE WHEN new_row IS NULL THEN NULL ELSE jsonb_build_object('secrets_changed', changed) END;
    END IF;
    -- Timestamps the syncs stamp are no administrative action.
    IF TG_OP = 'UPDATE' AND (old_row - '{updated_at,last_synced_at}'::text[])
                            = (new_row - '{updated_at,last_synced_at,secrets_changed}'::text[])
       AND NOT coalesce(changed, false) THEN
        RETURN NULL;
    END IF;
    INSERT INTO easycars.audit_log (actor, action, object, dealership_id, before, after)
    VALUES (CASE WHEN current_user = (SELECT e.extowner::regrole::name FROM pg_extension e WHERE e.extname = 'easycars')
                 THEN session_user ELSE current_user END,
            lower(TG_OP), TG_TABLE_NAME,
            coalesce((new_row->>'dealership_id')::integer, (old_row->>'dealership_id')::integer,
                     CASE WHEN TG_TABLE_NAME = 'dealership' THEN coalesce((new_row->>'id')::integer, (old_row->>'id')::integer) END),
            old_row, new_row);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION easycars._audit() IS
    'Internal trigger: appends an audit_log row for each change to dealership, dealership_access, credentials, sync_schedule pauses and lead_score_weight (secrets left out; sync timestamps ignored).';

CREATE TRIGGER dealership_audit AFTER INSERT OR UPDATE OR DELETE ON easycars.dealership
    FOR EACH ROW EXECUTE FUNCTION easycars._audit();
CREATE TRIGGER dealership_access_audit AFTER INSERT OR UPDATE OR DELETE ON easycars.dealership_access
    FOR EACH ROW EXECUTE FUNCTION easycars._audit();
CREATE TRIGGER credentials_audit AFTER INSERT OR UPDATE OR DELETE ON easycars.credentials
    FOR EACH ROW EXECUTE FUNCTION easycars._audit();
-- Pausing and resuming a dealership's scheduled syncs is an administrative action too.
CREATE TRIGGER sync_schedule_audit AFTER UPDATE OF paused_at ON easycars.sync_schedule
    FOR EACH ROW WHEN (OLD.paused_at IS DISTINCT FROM NEW.paused_at) EXECUTE FUNCTION easycars._audit();
