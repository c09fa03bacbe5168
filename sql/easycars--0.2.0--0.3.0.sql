-- easycars 0.2.0 -> 0.3.0: security that holds against a hostile SQL user.
-- * Every function pins search_path (pg_catalog, pg_temp); run_due_syncs pins it in its body.
-- * Tenants are bound to roles: dealership_access, grant_dealership / grant_all_dealerships /
--   revoke_dealership; current_dealership_id() and may_act_for() check it (now in Rust).
-- * Policies: one tenant comparison per table (an InitPlan, index-friendly) plus a policy for
--   easycars_admin; credentials_safe is a security_barrier view and shows credential_id.
-- * Syncs check the role may act for the dealership; _ensure_remote refuses a server it did not
--   make; running_syncs shows only the reader's dealerships; an unstorable item fails alone.
-- The function bodies below repeat those of sql/ on purpose: an upgrade script must replace them.
\echo Use "ALTER EXTENSION easycars UPDATE TO '0.3.0'" to load this file. \quit

-- The tenant helpers move to Rust; same signatures, so the policies depending on them stay valid
-- until they are replaced below.
CREATE OR REPLACE FUNCTION easycars.current_dealership_id() RETURNS integer
STRICT STABLE PARALLEL RESTRICTED LANGUAGE c AS 'MODULE_PATHNAME', 'current_dealership_id_sql_wrapper';
CREATE OR REPLACE FUNCTION easycars._is_admin() RETURNS boolean
STRICT STABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', 'is_admin_sql_wrapper';
CREATE FUNCTION easycars.may_act_for(dealership_id integer) RETURNS boolean
STABLE PARALLEL RESTRICTED LANGUAGE c AS 'MODULE_PATHNAME', 'may_act_for_sql_wrapper';
CREATE FUNCTION easycars._fdw_live_states() RETURNS TABLE (scans bigint, writes bigint)
STRICT VOLATILE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', '_fdw_live_states_wrapper';
REVOKE EXECUTE ON FUNCTION easycars._fdw_live_states() FROM PUBLIC;
COMMENT ON FUNCTION easycars.fdw_insert_results() IS
    'What this session''s INSERTs into easycars foreign tables created in EasyCars, oldest first: the new LeadNumber and CustomerNo (leads) or QuoteNumber (quotations), with the ExternalID sent. Kept for compatibility: INSERT ... RETURNING lead_number, customer_no (or quote_number) returns the same at once. Kept until easycars.clear_fdw_insert_results() or the end of the session.';
COMMENT ON FUNCTION easycars._fdw_live_states() IS
    'Internal, for tests and diagnostics: how many foreign-table scan and write states this backend holds now (0 and 0 between statements, also after an ERROR or a cancel).';
-- The lead enums come from the one Rust definition the wrapper uses (src/lead_enums.rs).
CREATE OR REPLACE FUNCTION easycars._enum_code(p_kind text, p_label text) RETURNS integer
IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', '_enum_code_wrapper';
CREATE OR REPLACE FUNCTION easycars._lead_status_code(p_status text) RETURNS integer
IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', '_lead_status_code_wrapper';
CREATE FUNCTION easycars._enum_labels(kind text) RETURNS text[]
STRICT IMMUTABLE PARALLEL SAFE LANGUAGE c AS 'MODULE_PATHNAME', '_enum_labels_wrapper';
REVOKE EXECUTE ON FUNCTION easycars._enum_labels(text) FROM PUBLIC;
COMMENT ON FUNCTION easycars._enum_labels(text) IS
    'Internal: the labels of a lead enum in code order (interest, rating, finance, vehicle_type, status), as the lead table''s CHECK constraints list them.';
COMMENT ON FUNCTION easycars.current_dealership_id() IS
    'The dealership this session acts for: app.current_dealership_id (a positive integer written plainly: no sign, spaces or leading zeros) when the current role may act for it, else NULL. Every row-level security policy of easycars compares against it.';
COMMENT ON FUNCTION easycars.may_act_for(integer) IS
    'Whether the current role may act for a dealership: superusers and easycars_admin members always; other roles where easycars.grant_dealership() or grant_all_dealerships() allowed it (directly or through a role they inherit).';
COMMENT ON FUNCTION easycars._is_admin() IS
    'Internal: true when the current role is a superuser or has the privileges of easycars_admin.';

-- Role descriptions now say how dealerships are granted.
COMMENT ON ROLE easycars_sync IS 'Runs EasyCars syncs (pg_cron jobs): reads and writes the synced tables of the dealerships an administrator granted it (easycars.grant_dealership), one at a time via app.current_dealership_id.';
COMMENT ON ROLE easycars_analyst IS 'Reads vehicles, leads and sync history of a dealership it was granted (easycars.grant_dealership), selected with app.current_dealership_id; never credentials.';

-- The dealership gains seed 002's subdomain (unique) and contact email.
ALTER TABLE easycars.dealership ADD COLUMN subdomain text, ADD COLUMN contact_email text,
    ADD CONSTRAINT dealership_subdomain_key UNIQUE (subdomain),
    ADD CONSTRAINT dealership_subdomain_chk CHECK (subdomain IS NULL OR subdomain ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    ADD CONSTRAINT dealership_contact_email_chk CHECK (contact_email IS NULL OR contact_email ~ '^[^@\s]+@[^@\s]+$');
COMMENT ON COLUMN easycars.dealership.subdomain IS
    'The dealership''s subdomain in a multi-tenant application (lower-case DNS label, unique), e.g. harbour-city; how an application maps a request to its dealership.';
COMMENT ON COLUMN easycars.dealership.contact_email IS 'Where the dealership is reached about its integration.';

-- sync_state: one row per direction (existing rows were inbound or a mix; they count as inbound).
ALTER TABLE easycars.sync_state ADD COLUMN direction varchar(10) NOT NULL DEFAULT 'inbound',
    ADD CONSTRAINT sync_state_direction_chk CHECK (direction IN ('inbound', 'outbound')),
    DROP CONSTRAINT sync_state_pkey,
    ADD CONSTRAINT sync_state_pkey PRIMARY KEY (dealership_id, entity_type, direction);
COMMENT ON TABLE easycars.sync_state IS
    'Sync state per dealership, entity and direction (a lead push and a lead refresh each have their row): last full and incremental sync, records synced by the last run, and the last error (cleared by the next success of the same direction).';
COMMENT ON COLUMN easycars.sync_state.direction IS 'inbound (EasyCars to the database: stock, lead refresh) or outbound (the database to EasyCars: lead push).';
COMMENT ON COLUMN easycars.sync_state.records_synced IS 'Records the last successful run stored or confirmed unchanged (created + updated + unchanged); items that failed and Manual/Import vehicles it left alone are not counted.';
COMMENT ON COLUMN easycars.sync_state.last_full_sync IS 'End (wall clock) of the last successful complete sync of this entity.';
COMMENT ON COLUMN easycars.sync_state.last_incremental_sync IS 'End (wall clock) of the last successful partial sync (a lead push or refresh).';

-- Analyst-facing indexes (seed 001).
CREATE INDEX vehicle_dealership_make_model_idx ON easycars.vehicle (dealership_id, make, model);
CREATE INDEX vehicle_dealership_price_idx ON easycars.vehicle (dealership_id, price);
CREATE INDEX vehicle_dealership_year_idx ON easycars.vehicle (dealership_id, year);
CREATE INDEX vehicle_dealership_created_idx ON easycars.vehicle (dealership_id, created_at DESC);
CREATE INDEX lead_dealership_email_idx ON easycars.lead (dealership_id, lower(email)) WHERE email IS NOT NULL;
CREATE INDEX lead_dealership_status_idx ON easycars.lead (dealership_id, status);
CREATE INDEX lead_dealership_created_idx ON easycars.lead (dealership_id, created_at DESC);

-- Which roles may act for which dealership. app.current_dealership_id only selects among these:
-- any role can set an app.* setting, so the setting alone proves nothing.
CREATE TABLE easycars.dealership_access (
    role_id       regrole     NOT NULL,
    dealership_id integer,
    granted_by    name        NOT NULL DEFAULT current_user,
    granted_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT dealership_access_key UNIQUE NULLS NOT DISTINCT (role_id, dealership_id),
    CONSTRAINT dealership_access_dealership_fkey FOREIGN KEY (dealership_id)
        REFERENCES easycars.dealership (id) ON DELETE CASCADE
);
COMMENT ON TABLE easycars.dealership_access IS
    'Which roles may act for which dealership (select it with app.current_dealership_id). A row with dealership_id NULL trusts the role for every dealership (a pooled application or scheduler role). Members of a granted role inherit the grant. Superusers and easycars_admin members need no row. Maintained with easycars.grant_dealership(), grant_all_dealerships() and revoke_dealership().';
COMMENT ON COLUMN easycars.dealership_access.role_id IS 'The role allowed (and, through inheritance, its members).';
COMMENT ON COLUMN easycars.dealership_access.dealership_id IS 'The dealership it may act for; NULL for every dealership.';
COMMENT ON COLUMN easycars.dealership_access.granted_by IS 'The role that granted it.';
COMMENT ON COLUMN easycars.dealership_access.granted_at IS 'When it was granted.';

CREATE FUNCTION easycars.grant_dealership(role regrole, dealership_id integer) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF role IS NULL OR dealership_id IS NULL THEN
        RAISE EXCEPTION 'role and dealership_id must not be NULL' USING ERRCODE = 'null_value_not_allowed',
            HINT = 'To trust a role for every dealership use easycars.grant_all_dealerships(role).';
    END IF;
    INSERT INTO easycars.dealership_access (role_id, dealership_id) VALUES (role, dealership_id)
    ON CONFLICT ON CONSTRAINT dealership_access_key DO NOTHING;
END
$$;
COMMENT ON FUNCTION easycars.grant_dealership(regrole, integer) IS
    'Allows a role (and its members) to act for one dealership: with app.current_dealership_id set to it, the role sees and writes that dealership''s rows, queries its foreign tables and runs its syncs, within the table privileges it has. easycars_admin only; re-granting is a no-op.';

CREATE FUNCTION easycars.grant_all_dealerships(role regrole) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF role IS NULL THEN
        RAISE EXCEPTION 'role must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    INSERT INTO easycars.dealership_access (role_id, dealership_id) VALUES (role, NULL)
    ON CONFLICT ON CONSTRAINT dealership_access_key DO NOTHING;
END
$$;
COMMENT ON FUNCTION easycars.grant_all_dealerships(regrole) IS
    'Trusts a role for every dealership, present and future: for a connection-pooled application role that selects the dealership per request with app.current_dealership_id, or the role that runs scheduled syncs. easycars_admin only.';

CREATE FUNCTION easycars.revoke_dealership(role regrole, dealership_id integer DEFAULT NULL) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer;
BEGIN
    IF role IS NULL THEN
        RAISE EXCEPTION 'role must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    DELETE FROM easycars.dealership_access a
    WHERE a.role_id OPERATOR(pg_catalog.=) role
      AND (revoke_dealership.dealership_id IS NULL OR a.dealership_id OPERATOR(pg_catalog.=) revoke_dealership.dealership_id);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION easycars.revoke_dealership(regrole, integer) IS
    'Withdraws a role''s right to act for one dealership, or with dealership_id NULL (the default) every grant it has, including grant_all_dealerships. Returns how many grants went. easycars_admin only.';

-- credentials_safe gains credential_id (first) and security_barrier: recreated.
DROP VIEW easycars.credentials_safe;
CREATE VIEW easycars.credentials_safe WITH (security_barrier = true) AS
SELECT c.id AS credential_id, c.dealership_id, c.environment, c.is_active, c.yard_code, c.account_number_masked,
       c.base_url, c.created_at, c.updated_at, c.last_synced_at
FROM easycars.credentials c
WHERE c.dealership_id OPERATOR(pg_catalog.=) (SELECT easycars.current_dealership_id())
   OR (SELECT easycars._is_admin());
COMMENT ON VIEW easycars.credentials_safe IS
    'Credentials without secrets (account number masked, e.g. EC****75), for the dealership in app.current_dealership_id; easycars_admin sees all.';
GRANT SELECT ON easycars.credentials_safe TO easycars_admin, easycars_sync, easycars_analyst;

CREATE FUNCTION easycars._credentials_input_store() RETURNS trigger
LANGUAGE c AS 'MODULE_PATHNAME', '_credentials_input_store_wrapper';
-- Credentials by COPY: the way to set them that no statement log, auto_explain, pg_stat_statements
-- or pg_stat_activity can see. COPY's data lines reach none of them; the trigger (the owner's
-- rights, like set_credentials) stores each row encrypted and keeps nothing in this table.
CREATE TABLE easycars.credentials_input (
    dealership_id  integer,
    client_id      text,
    client_secret  text,
    account_number text,
    account_secret text,
    environment    text DEFAULT 'Production',
    yard_code      text,
    base_url       text
);
COMMENT ON TABLE easycars.credentials_input IS
    'Write-only input for credentials, meant for COPY: \copy easycars.credentials_input (dealership_id, client_id, client_secret, account_number, account_secret, environment) FROM ''secrets.csv'' WITH (FORMAT csv). Each row is validated and stored encrypted exactly as easycars.set_credentials() would; no row is ever kept here. easycars_admin only.';
COMMENT ON COLUMN easycars.credentials_input.dealership_id IS 'The dealership, as for set_credentials.';
COMMENT ON COLUMN easycars.credentials_input.client_id IS 'Integrator ClientID (GUID).';
COMMENT ON COLUMN easycars.credentials_input.client_secret IS 'Integrator ClientSecret (GUID).';
COMMENT ON COLUMN easycars.credentials_input.account_number IS 'Dealer AccountNumber (EC + digits).';
COMMENT ON COLUMN easycars.credentials_input.account_secret IS 'Dealer AccountSecret (GUID).';
COMMENT ON COLUMN easycars.credentials_input.environment IS 'Test or Production (the default).';
COMMENT ON COLUMN easycars.credentials_input.yard_code IS 'Optional YardCode.';
COMMENT ON COLUMN easycars.credentials_input.base_url IS 'Optional API root, on a host in easycars.allowed_hosts.';
ALTER FUNCTION easycars._credentials_input_store() SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION easycars._credentials_input_store() IS
    'Internal trigger of credentials_input: stores each row''s credentials encrypted (as set_credentials, with the owner''s rights) and keeps no row; its errors never quote the row.';
CREATE TRIGGER credentials_input_store BEFORE INSERT ON easycars.credentials_input
    FOR EACH ROW EXECUTE FUNCTION easycars._credentials_input_store();

-- The due queue of scheduled syncs.
CREATE TABLE easycars.sync_schedule (
    dealership_id    integer     NOT NULL,
    kind             text        NOT NULL,
    every            interval,
    next_due_at      timestamptz NOT NULL DEFAULT now(),
    paused_at        timestamptz,
    failures         integer     NOT NULL DEFAULT 0,
    backoff_reason   text,
    last_outcome     text,
    last_started_at  timestamptz,
    last_finished_at timestamptz,
    claimed_until    timestamptz,
    claimed_by       integer,
    CONSTRAINT sync_schedule_pkey PRIMARY KEY (dealership_id, kind),
    CONSTRAINT sync_schedule_dealership_fkey FOREIGN KEY (dealership_id)
        REFERENCES easycars.dealership (id) ON DELETE CASCADE,
    CONSTRAINT sync_schedule_kind_chk CHECK (kind IN ('stock', 'lead_push', 'lead_refresh')),
    CONSTRAINT sync_schedule_every_chk CHECK (every IS NULL OR every >= interval '1 minute'),
    CONSTRAINT sync_schedule_failures_chk CHECK (failures >= 0)
);
COMMENT ON TABLE easycars.sync_schedule IS
    'When each dealership''s stock sync, lead push and lead refresh are next due, per dealership and kind: the interval (default easycars.sync_interval), a backoff after failures (doubling up to easycars.sync_backoff_max), pauses, and the claim of the worker running it. Rows appear for every dealership with active credentials the first time a worker looks. See easycars.sync_queue.';
COMMENT ON COLUMN easycars.sync_schedule.kind IS 'stock, lead_push or lead_refresh.';
COMMENT ON COLUMN easycars.sync_schedule.every IS 'This dealership''s interval for this kind; NULL uses easycars.sync_interval.';
COMMENT ON COLUMN easycars.sync_schedule.next_due_at IS 'When it is next due; workers take the oldest due first.';
COMMENT ON COLUMN easycars.sync_schedule.paused_at IS 'Set by easycars.pause_syncs(): not run until easycars.resume_syncs().';
COMMENT ON COLUMN easycars.sync_schedule.failures IS 'Failed runs in a row; each doubles the wait before the next try. Reset by a success.';
COMMENT ON COLUMN easycars.sync_schedule.backoff_reason IS 'Why it is backing off: the last failure''s message.';
COMMENT ON COLUMN easycars.sync_schedule.last_outcome IS 'The last run''s status: Success, Warning, Failed or Skipped.';
COMMENT ON COLUMN easycars.sync_schedule.claimed_until IS 'A worker runs it until at most this time (its lease); a worker that dies leaves the claim to expire.';
COMMENT ON COLUMN easycars.sync_schedule.claimed_by IS 'The backend pid of the worker running it.';
CREATE INDEX sync_schedule_due_idx ON easycars.sync_schedule (next_due_at) WHERE paused_at IS NULL;

CREATE FUNCTION easycars._claim_due(p_kinds text[], p_lease interval) RETURNS TABLE (dealership_id integer, kind text)
STRICT VOLATILE PARALLEL UNSAFE LANGUAGE c AS 'MODULE_PATHNAME', '_claim_due_wrapper';
CREATE FUNCTION easycars._ensure_schedule() RETURNS bigint
STRICT VOLATILE PARALLEL UNSAFE LANGUAGE c AS 'MODULE_PATHNAME', '_ensure_schedule_wrapper';
CREATE FUNCTION easycars._settle_due(p_dealership_id integer, p_kind text, p_outcome text, p_started timestamptz, p_error text)
RETURNS void VOLATILE PARALLEL UNSAFE LANGUAGE c AS 'MODULE_PATHNAME', '_settle_due_wrapper';
-- Sets pause, resume or "now" on a dealership's schedule rows (every kind, or one).
CREATE FUNCTION easycars._set_schedule(p_dealership_id integer, p_kind text, p_op text) RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer;
BEGIN
    IF p_dealership_id IS NULL THEN
        RAISE EXCEPTION 'dealership_id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_kind IS NOT NULL AND p_kind NOT IN ('stock', 'lead_push', 'lead_refresh') THEN
        RAISE EXCEPTION 'kind must be stock, lead_push or lead_refresh, not %', p_kind USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO easycars.sync_schedule AS s (dealership_id, kind, paused_at, next_due_at)
    SELECT p_dealership_id, k, CASE WHEN p_op = 'pause' THEN now() END, now()
    FROM unnest(ARRAY['stock', 'lead_push', 'lead_refresh']) AS k
    WHERE p_kind IS NULL OR k = p_kind
    ON CONFLICT (dealership_id, kind) DO UPDATE SET
        paused_at = CASE p_op WHEN 'pause' THEN coalesce(s.paused_at, now()) WHEN 'resume' THEN NULL ELSE s.paused_at END,
        next_due_at = CASE WHEN p_op = 'now' THEN now() ELSE s.next_due_at END,
        failures = CASE WHEN p_op = 'now' THEN 0 ELSE s.failures END;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION easycars._set_schedule(integer, text, text) IS 'Internal: pause, resume or make due now a dealership''s schedule rows.';

CREATE FUNCTION easycars.pause_syncs(dealership_id integer, kind text DEFAULT NULL) RETURNS integer
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$ SELECT easycars._set_schedule(pause_syncs.dealership_id, pause_syncs.kind, 'pause') $$;
COMMENT ON FUNCTION easycars.pause_syncs(integer, text) IS
    'Stops scheduled syncs of a dealership (every kind, or stock, lead_push or lead_refresh) until easycars.resume_syncs(); manual syncs still run. Returns the rows paused. easycars_admin only; audited.';
CREATE FUNCTION easycars.resume_syncs(dealership_id integer, kind text DEFAULT NULL) RETURNS integer
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$ SELECT easycars._set_schedule(resume_syncs.dealership_id, resume_syncs.kind, 'resume') $$;
COMMENT ON FUNCTION easycars.resume_syncs(integer, text) IS
    'Resumes scheduled syncs paused by easycars.pause_syncs(). Returns the rows resumed. easycars_admin only; audited.';
CREATE FUNCTION easycars.sync_now(dealership_id integer, kind text DEFAULT NULL) RETURNS integer
LANGUAGE sql SET search_path = pg_catalog, pg_temp AS $$ SELECT easycars._set_schedule(sync_now.dealership_id, sync_now.kind, 'now') $$;
COMMENT ON FUNCTION easycars.sync_now(integer, text) IS
    'Makes a dealership''s syncs due now (and forgets its backoff), so the next worker runs them first among the due. Returns the rows made due. easycars_admin only.';

COMMENT ON FUNCTION easycars._claim_due(text[], interval) IS
    'Internal (src/schedule.rs): claims for a worker the oldest due, unpaused, unclaimed (dealership, kind) the current role may sync, for a lease.';
COMMENT ON FUNCTION easycars._ensure_schedule() IS
    'Internal (src/schedule.rs): creates the missing schedule rows of the dealerships with active credentials the current role may sync; returns how many. run_due_syncs calls it once per call.';
COMMENT ON FUNCTION easycars._settle_due(integer, text, text, timestamptz, text) IS
    'Internal (src/schedule.rs): records how this worker''s claimed run ended and when it is next due: the interval after a success, a doubling backoff (capped by easycars.sync_backoff_max) after each failure in a row.';

-- Runs left InProgress by a worker that died (pg_terminate_backend, a crash) are closed as Failed:
-- a live run holds its advisory lock, a dead one does not.
CREATE FUNCTION easycars._close_abandoned_runs() RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    r record;
    n integer := 0;
BEGIN
    FOR r IN SELECT l.dealership_id, l.id, l.sync_type, l.sync_direction FROM easycars.sync_log l
             WHERE l.status = 'InProgress' AND l.started_at < now() - interval '1 minute' LOOP
        IF pg_try_advisory_xact_lock(easycars._sync_lock_key(r.sync_type, r.sync_direction), r.dealership_id) THEN
            UPDATE easycars.sync_log SET status = 'Failed', completed_at = clock_timestamp(),
                   error_message = 'abandoned: the worker running it ended before the run finished'
            WHERE dealership_id = r.dealership_id AND id = r.id;
            UPDATE easycars.sync_progress SET completed_at = clock_timestamp(),
                   metadata = metadata || '{"status": "Failed", "outcome": "failed", "error": "abandoned"}'
            WHERE dealership_id = r.dealership_id AND sync_id = r.id::text AND completed_at IS NULL;
            n := n + 1;
        END IF;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION easycars._close_abandoned_runs() IS
    'Internal: closes as Failed (abandoned) the InProgress runs whose worker died; run_due_syncs calls it first.';

DROP PROCEDURE easycars.run_due_syncs(text);
CREATE PROCEDURE easycars.run_due_syncs(what pg_catalog.text DEFAULT 'all',
                                        budget pg_catalog.interval DEFAULT '10 minutes',
                                        lease pg_catalog.interval DEFAULT '15 minutes')
LANGUAGE plpgsql
AS $$
DECLARE
    -- SECURITY: a procedure that COMMITs cannot carry SET search_path, and pg_cron may run it as a
    -- superuser: every name here is qualified, and search_path is pinned for the whole call.
    d pg_catalog.int4;
    kinds pg_catalog.text[];
    item record;
    started pg_catalog.timestamptz;
    until pg_catalog.timestamptz;
    lead_id pg_catalog.int8;
    log easycars.sync_log;
    msg pg_catalog.text;
    outcome pg_catalog.text;
    caller_path pg_catalog.text := pg_catalog.current_setting('search_path');
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', false);
    -- The runs below are logged as scheduled (see _begin_run), for the whole call.
    PERFORM pg_catalog.set_config('easycars_run.origin', 'scheduled', false);
    IF what IS NULL OR what NOT IN ('all', 'stock', 'leads') THEN
        RAISE EXCEPTION 'what must be all, stock or leads' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF budget IS NULL OR budget <= interval '0' OR lease IS NULL OR lease <= interval '0' THEN
        RAISE EXCEPTION 'budget and lease must be positive intervals' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- A replica cannot write; the primary runs the same schedule.
    IF pg_is_in_recovery() THEN
        RAISE NOTICE 'easycars.run_due_syncs: this server is a replica; nothing to do';
        PERFORM pg_catalog.set_config('search_path', caller_path, false);
        PERFORM pg_catalog.set_config('easycars_run.origin', '', false);
        RETURN;
    END IF;
    kinds := CASE what WHEN 'stock' THEN ARRAY['stock'] WHEN 'leads' THEN ARRAY['lead_push', 'lead_refresh']
                       ELSE ARRAY['stock', 'lead_push', 'lead_refresh'] END;
    until := clock_timestamp() + budget;
    -- This month's activity partition exists before the runs log into it, runs whose worker died
    -- are closed, and every syncable dealership has its schedule rows; committed at once, so no
    -- lock is held across the syncs.
    PERFORM easycars._ensure_partitions();
    PERFORM easycars._close_abandoned_runs();
    PERFORM easycars._ensure_schedule();
    COMMIT;
    -- Take the oldest due (dealership, kind) no other worker holds, run it, settle it, repeat,
    -- until nothing is due or the budget is spent. Each run commits on its own: one dealership's
    -- failure never rolls back another's, and a hung one costs this worker its deadline only.
    LOOP
        EXIT WHEN clock_timestamp() >= until;
        item := NULL;
        SELECT c.dealership_id, c.kind INTO item FROM easycars._claim_due(kinds, lease) AS c;
        COMMIT;
        EXIT WHEN item.dealership_id IS NULL;
        d := item.dealership_id;
        started := clock_timestamp();
        log := NULL;
        msg := NULL;
        outcome := NULL;
        IF item.kind IN ('stock', 'lead_refresh') THEN
            -- One transaction; its own failures come back as a Failed log, anything else (say the
            -- dealership went away) is reported and settled as a failure.
            BEGIN
                log := CASE item.kind WHEN 'stock' THEN easycars.sync_stock(d) ELSE easycars.sync_leads(d) END;
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
                RAISE WARNING 'easycars: % of dealership % failed: %', item.kind, d, msg;
            END;
        ELSE
            -- Leads are pushed one transaction each, so a lead number EasyCars returned is kept
            -- even if a later lead fails or the job is killed.
            BEGIN
                log := easycars._begin_run(d, 'Lead', 'Outbound', 'lead', false, jsonb_build_object('routes', ARRAY['CreateLead', 'UpdateLead'], 'mode', 'commit per lead'));
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
                RAISE WARNING 'easycars: lead push of dealership % could not start: %', d, msg;
                log := NULL;
            END;
            IF log.status = 'InProgress' THEN
                COMMIT;
                -- The transaction lock of _begin_run ended with that COMMIT; a session lock now
                -- keeps a concurrent push out across the per-lead commits.
                IF NOT pg_try_advisory_lock(easycars._sync_lock_key('Lead', 'Outbound'), d) THEN
                    PERFORM set_config('app.current_dealership_id', d::text, true);
                    UPDATE easycars.sync_log SET status = 'Skipped', completed_at = clock_timestamp(),
                           error_message = 'another lead outbound sync of this dealership is running'
                    WHERE dealership_id = d AND id = log.id;
                    UPDATE easycars.sync_progress SET completed_at = clock_timestamp(), metadata = metadata || '{"status": "Skipped"}'
                    WHERE dealership_id = d AND sync_id = log.id::text;
                    COMMIT;
                    log := NULL;
                    outcome := 'Skipped';
                END IF;
            END IF;
            IF log.status = 'InProgress' THEN
                DECLARE
                    todo pg_catalog.int8[];
                    pushed record;
                    n_created pg_catalog.int4 := 0; n_updated pg_catalog.int4 := 0; n_failed pg_catalog.int4 := 0;
                BEGIN
                    PERFORM set_config('app.current_dealership_id', d::text, true);
                    todo := ARRAY(SELECT easycars._leads_to_push(d));
                    FOREACH lead_id IN ARRAY todo LOOP
                        -- Each lead commits on its own: the setting is transaction-local.
                        PERFORM set_config('app.current_dealership_id', d::text, true);
                        SELECT * INTO pushed FROM easycars._push_one(log, lead_id);
                        CASE pushed.outcome
                            WHEN 'created' THEN n_created := n_created + 1;
                            WHEN 'updated' THEN n_updated := n_updated + 1;
                            ELSE n_failed := n_failed + 1;
                        END CASE;
                        PERFORM easycars._push_progress(log, cardinality(todo), n_created, n_updated, n_failed);
                        COMMIT;
                    END LOOP;
                    PERFORM set_config('app.current_dealership_id', d::text, true);
                    PERFORM easycars._finish_run(log, 'lead', CASE WHEN n_failed > 0 THEN 'Warning' ELSE 'Success' END,
                        p_processed => n_created + n_updated + n_failed, p_created => n_created, p_updated => n_updated,
                        p_unchanged => 0, p_removed => 0, p_failed => n_failed,
                        p_summary => jsonb_build_object('created', n_created, 'updated', n_updated, 'failed', n_failed),
                        p_error => CASE WHEN n_failed > 0 THEN format('%s lead(s) could not be pushed; see lead.last_push_error', n_failed) END);
                    PERFORM pg_advisory_unlock(easycars._sync_lock_key('Lead', 'Outbound'), d);
                END;
            END IF;
            IF log.id IS NOT NULL THEN
                PERFORM set_config('app.current_dealership_id', d::text, true);
                SELECT * INTO log FROM easycars.sync_log l WHERE l.dealership_id = d AND l.id = log.id;
            END IF;
        END IF;
        COMMIT;
        PERFORM easycars._settle_due(d, item.kind, coalesce(outcome, log.status, 'Failed'), started, coalesce(log.error_message, msg));
        COMMIT;
    END LOOP;
    PERFORM pg_catalog.set_config('search_path', caller_path, false);
    PERFORM pg_catalog.set_config('easycars_run.origin', '', false);
END
$$;
COMMENT ON PROCEDURE easycars.run_due_syncs(text, interval, interval) IS
    'A sync worker, for pg_cron (CALL must be the job''s only command): takes the oldest due (dealership, kind) of easycars.sync_schedule that no other worker holds and this role may sync, runs it in its own transactions, records when it is next due (or its backoff), and repeats until nothing is due or budget is spent. what: all, stock or leads. lease: how long a claim holds if the worker dies. Several workers may run at once (schedule_syncs(workers => N)). Closes runs abandoned by dead workers first. A no-op on a replica.';
-- The due queue as a DBA reads it (security_invoker: the reader's row-level security applies).
CREATE VIEW easycars.sync_queue WITH (security_invoker = true) AS
SELECT s.dealership_id, s.kind,
       coalesce(s.every, pg_catalog.current_setting('easycars.sync_interval')::interval) AS every,
       s.next_due_at,
       greatest(now() - s.next_due_at, interval '0') AS overdue_by,
       s.paused_at,
       CASE WHEN s.failures > 0 THEN s.last_finished_at END AS backing_off_since,
       s.failures, s.backoff_reason,
       s.last_outcome, s.last_finished_at - s.last_started_at AS last_duration,
       s.claimed_until > now() AS running, s.claimed_by
FROM easycars.sync_schedule s
ORDER BY s.next_due_at;
COMMENT ON VIEW easycars.sync_queue IS
    'For each dealership and kind (stock, lead_push, lead_refresh): its interval, when it is next due and how overdue, whether it is paused, backing off since when and why, the last outcome and duration, and whether a worker is running it now.';
REVOKE EXECUTE ON FUNCTION easycars._ensure_schedule() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION easycars._ensure_schedule() TO easycars_admin, easycars_sync;
REVOKE EXECUTE ON FUNCTION easycars._claim_due(text[], interval), easycars._settle_due(integer, text, text, timestamptz, text),
                           easycars._close_abandoned_runs(), easycars._set_schedule(integer, text, text),
                           easycars.pause_syncs(integer, text), easycars.resume_syncs(integer, text), easycars.sync_now(integer, text)
    FROM PUBLIC;
REVOKE EXECUTE ON PROCEDURE easycars.run_due_syncs(text, interval, interval) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE easycars.run_due_syncs(text, interval, interval) TO easycars_admin, easycars_sync;
GRANT EXECUTE ON FUNCTION easycars._claim_due(text[], interval),
                          easycars._settle_due(integer, text, text, timestamptz, text),
                          easycars._close_abandoned_runs()
    TO easycars_admin, easycars_sync;
GRANT EXECUTE ON FUNCTION easycars.pause_syncs(integer, text), easycars.resume_syncs(integer, text),
                          easycars.sync_now(integer, text), easycars._set_schedule(integer, text, text)
    TO easycars_admin;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON easycars.sync_schedule TO easycars_admin;
GRANT SELECT ON easycars.sync_schedule TO easycars_analyst, easycars_sync;
GRANT SELECT ON easycars.sync_queue TO easycars_admin, easycars_sync, easycars_analyst;
SELECT pg_catalog.pg_extension_config_dump('easycars.sync_schedule', '');

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
    'Administrative actions on dealerships, dealership access and credentials: who (role and login), when, what, and the row before and after, without any secret. Written by triggers; append-only for everyone but superusers; purged with the sync log archive by easycars.archive_sync_logs().';
COMMENT ON COLUMN easycars.audit_log.actor IS 'The role that made the change; for changes made through set_credentials or rotate_encryption_key (which run as the extension owner), the session''s login role.';
COMMENT ON COLUMN easycars.audit_log.session_actor IS 'The login role of the session that made the change.';
COMMENT ON COLUMN easycars.audit_log.action IS 'insert, update or delete.';
COMMENT ON COLUMN easycars.audit_log.object IS 'The table changed: dealership, dealership_access, credentials, or sync_schedule (pause and resume).';
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
    'Internal trigger: appends an audit_log row for each change to dealership, dealership_access and credentials (secrets left out; sync timestamps ignored).';

CREATE TRIGGER dealership_audit AFTER INSERT OR UPDATE OR DELETE ON easycars.dealership
    FOR EACH ROW EXECUTE FUNCTION easycars._audit();
CREATE TRIGGER dealership_access_audit AFTER INSERT OR UPDATE OR DELETE ON easycars.dealership_access
    FOR EACH ROW EXECUTE FUNCTION easycars._audit();
CREATE TRIGGER credentials_audit AFTER INSERT OR UPDATE OR DELETE ON easycars.credentials
    FOR EACH ROW EXECUTE FUNCTION easycars._audit();
-- Pausing and resuming a dealership's scheduled syncs is an administrative action too.
CREATE TRIGGER sync_schedule_audit AFTER UPDATE OF paused_at ON easycars.sync_schedule
    FOR EACH ROW WHEN (OLD.paused_at IS DISTINCT FROM NEW.paused_at) EXECUTE FUNCTION easycars._audit();
CREATE OR REPLACE FUNCTION easycars.archive_sync_logs(
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
REVOKE ALL ON easycars.audit_log FROM PUBLIC;
REVOKE ALL ON SEQUENCE easycars.audit_log_id_seq FROM PUBLIC;
GRANT SELECT, INSERT ON easycars.audit_log TO easycars_admin;
REVOKE EXECUTE ON FUNCTION easycars._audit() FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('easycars.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('easycars.audit_log_id_seq', '');

-- Policies: the tenant comparison alone, and easycars_admin in a policy of its own.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['credentials', 'sync_log', 'sync_log_archive', 'vehicle', 'lead',
                             'sync_progress', 'sync_activity_log', 'sync_preview_cache', 'sync_state']
    LOOP
        EXECUTE format('DROP POLICY %I ON easycars.%I', t || '_tenant_policy', t);
    END LOOP;
END
$$;
DROP POLICY dealership_tenant_policy ON easycars.dealership;
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['credentials', 'sync_log', 'sync_log_archive', 'vehicle', 'lead',
                             'sync_progress', 'sync_activity_log', 'sync_preview_cache', 'sync_state', 'sync_schedule']
    LOOP
        EXECUTE format('ALTER TABLE easycars.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE easycars.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format(
            'CREATE POLICY %I ON easycars.%I '
            'USING (dealership_id OPERATOR(pg_catalog.=) (SELECT easycars.current_dealership_id())) '
            'WITH CHECK (dealership_id OPERATOR(pg_catalog.=) (SELECT easycars.current_dealership_id()))',
            t || '_tenant_policy', t);
        EXECUTE format('COMMENT ON POLICY %I ON easycars.%I IS %L', t || '_tenant_policy', t,
            'Rows of the dealership the session acts for: app.current_dealership_id, if the role was granted it.');
        EXECUTE format('CREATE POLICY %I ON easycars.%I TO easycars_admin USING (true) WITH CHECK (true)',
            t || '_admin_policy', t);
        EXECUTE format('COMMENT ON POLICY %I ON easycars.%I IS %L', t || '_admin_policy', t,
            'easycars_admin members see and write every dealership''s rows.');
    END LOOP;
END
$$;

-- Who may act for which dealership is the administrators' business alone.
ALTER TABLE easycars.dealership_access ENABLE ROW LEVEL SECURITY;
ALTER TABLE easycars.dealership_access FORCE ROW LEVEL SECURITY;
CREATE POLICY dealership_access_admin_policy ON easycars.dealership_access TO easycars_admin USING (true) WITH CHECK (true);
COMMENT ON POLICY dealership_access_admin_policy ON easycars.dealership_access IS
    'Only easycars_admin members read and change who may act for which dealership.';
-- credentials_input has no row-level security: COPY refuses tables that have it, and the table
-- never holds a row (its trigger stores each one through the checks of set_credentials).

-- The audit trail: administrators read it and append in their own name only; nobody but a
-- superuser changes or deletes it.
ALTER TABLE easycars.audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE easycars.audit_log FORCE ROW LEVEL SECURITY;
CREATE POLICY audit_log_admin_policy ON easycars.audit_log TO easycars_admin
    USING (true) WITH CHECK (actor = current_user AND session_actor = session_user);
COMMENT ON POLICY audit_log_admin_policy ON easycars.audit_log IS
    'easycars_admin members read the whole trail and append rows in their own name only.';

ALTER TABLE easycars.dealership ENABLE ROW LEVEL SECURITY;
ALTER TABLE easycars.dealership FORCE ROW LEVEL SECURITY;
CREATE POLICY dealership_tenant_policy ON easycars.dealership FOR SELECT
    USING (id OPERATOR(pg_catalog.=) (SELECT easycars.current_dealership_id()));
COMMENT ON POLICY dealership_tenant_policy ON easycars.dealership IS
    'A session sees only the dealership it acts for (app.current_dealership_id, if granted).';
CREATE POLICY dealership_admin_policy ON easycars.dealership TO easycars_admin USING (true) WITH CHECK (true);
COMMENT ON POLICY dealership_admin_policy ON easycars.dealership IS
    'Only easycars_admin members see every dealership and create or change dealerships.';


-- New helpers: one lock key rule, one per-lead push used by every push path.
CREATE FUNCTION easycars._sync_lock_key(p_type text, p_direction text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT pg_catalog.hashtext('easycars.sync.' || p_type || '.' || p_direction) $$;
COMMENT ON FUNCTION easycars._sync_lock_key(text, text) IS
    'Internal: the first advisory lock key of a kind of sync run (type and direction); the dealership id is the second.';
CREATE FUNCTION easycars._cron_job_id() RETURNS text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    job text;
BEGIN
    IF to_regclass('cron.job_run_details') IS NULL THEN
        RETURN NULL;
    END IF;
    EXECUTE 'SELECT d.jobid::text FROM cron.job_run_details d WHERE d.job_pid = pg_backend_pid() AND d.status = ''running''
             ORDER BY d.start_time DESC LIMIT 1' INTO job;
    RETURN job;
EXCEPTION WHEN insufficient_privilege OR undefined_table OR undefined_column THEN
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION easycars._cron_job_id() IS
    'Internal: the id of the pg_cron job this session is running (sync_progress.job_id of scheduled runs), or NULL.';
CREATE FUNCTION easycars._push_one(p_log easycars.sync_log, p_lead_id bigint, OUT outcome text, OUT failure text)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    outcome := easycars._push_lead(p_log.dealership_id, p_lead_id);
EXCEPTION WHEN OTHERS THEN
    -- One lead's failure (e.g. a Code 7 validation) is recorded and does not stop the others.
    GET STACKED DIAGNOSTICS failure = MESSAGE_TEXT;
    outcome := 'failed';
    UPDATE easycars.lead SET last_push_error = failure WHERE dealership_id = p_log.dealership_id AND id = p_lead_id;
END
$$;
COMMENT ON FUNCTION easycars._push_one(easycars.sync_log, bigint) IS
    'Internal: pushes one lead of a run (easycars._push_lead) and returns created, updated or failed with the error, which is also stored in lead.last_push_error; every push path uses it.';
CREATE FUNCTION easycars._push_progress(p_log easycars.sync_log, p_total integer, p_created integer, p_updated integer, p_failed integer)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    UPDATE easycars.sync_progress SET total_items = p_total, current_item = p_created + p_updated + p_failed,
           processed_count = p_created + p_updated, failed_count = p_failed,
           -- A scheduled push commits every lead: each is a batch of its own.
           batch_number = CASE WHEN p_log.request_payload->>'mode' = 'commit per lead' THEN p_created + p_updated + p_failed ELSE 0 END
    WHERE dealership_id = p_log.dealership_id AND sync_id = p_log.id::text;
    PERFORM easycars._report(p_log, format('%s of %s pushed, %s failed', p_created + p_updated, p_total, p_failed));
END
$$;
COMMENT ON FUNCTION easycars._push_progress(easycars.sync_log, integer, integer, integer, integer) IS
    'Internal: records a lead push run''s progress (total, created + updated, failed) in sync_progress and as its phase.';
REVOKE EXECUTE ON FUNCTION easycars._cron_job_id() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION easycars._cron_job_id() TO easycars_admin, easycars_sync;
REVOKE EXECUTE ON FUNCTION easycars._sync_lock_key(text, text), easycars._push_one(easycars.sync_log, bigint),
                           easycars._push_progress(easycars.sync_log, integer, integer, integer, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION easycars._sync_lock_key(text, text), easycars._push_one(easycars.sync_log, bigint),
                          easycars._push_progress(easycars.sync_log, integer, integer, integer, integer)
    TO easycars_admin, easycars_sync;

-- Changed functions (bodies as in sql/13_sync_runs.sql to 16_scheduling.sql).
COMMENT ON COLUMN easycars.sync_progress.job_id IS 'The pg_cron job id when the run was started by a pg_cron job (run_due_syncs), else NULL.';
COMMENT ON COLUMN easycars.sync_progress.batch_number IS 'Batches committed so far: in a scheduled lead push, which commits every lead, the leads done; 0 for runs that commit once.';
CREATE OR REPLACE FUNCTION easycars._sync_progress_log_completion() RETURNS trigger
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
CREATE OR REPLACE FUNCTION easycars._ensure_remote(p_dealership_id integer) RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    server text := format('easycars_d%s', p_dealership_id);
    entity text;
    tbl text;
    found pg_foreign_server;
BEGIN
    SELECT * INTO found FROM pg_foreign_server WHERE srvname = server;
    IF found.oid IS NULL THEN
        EXECUTE format('CREATE SERVER %I FOREIGN DATA WRAPPER easycars_fdw OPTIONS (dealership_id %L)', server, p_dealership_id::text);
        EXECUTE format('COMMENT ON SERVER %I IS %L', server, format('EasyCars of dealership %s, used by easycars syncs.', p_dealership_id));
    -- SECURITY: a server of that name that someone else made (say with a base_url of their own)
    -- would receive this dealership's secrets; only the one made here is used. Its owner (the
    -- extension's, a superuser) may tune it (timeout_ms, max_retries, ...); nobody else can.
    ELSIF found.srvowner <> (SELECT e.extowner FROM pg_extension e WHERE e.extname = 'easycars')
          OR found.srvfdw <> (SELECT w.oid FROM pg_foreign_data_wrapper w WHERE w.fdwname = 'easycars_fdw')
          OR NOT coalesce('dealership_id=' || p_dealership_id = ANY (found.srvoptions), false) THEN
        RAISE EXCEPTION 'foreign server % was not made by easycars', server
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'Syncs use their own server of that name. A superuser should check and drop it: DROP SERVER ' || quote_ident(server) || ' CASCADE;';
    END IF;
    FOREACH entity IN ARRAY ARRAY['stock', 'leads'] LOOP
        tbl := format('%s_d%s', entity, p_dealership_id);
        IF to_regclass(format('easycars_remote.%I', tbl)) IS NULL THEN
            EXECUTE easycars._foreign_table_ddl(entity, 'easycars_remote', tbl, server);
            EXECUTE format('COMMENT ON FOREIGN TABLE easycars_remote.%I IS %L', tbl,
                           format('EasyCars %s of dealership %s (internal, for syncs).', entity, p_dealership_id));
            EXECUTE format('GRANT SELECT ON easycars_remote.%I TO easycars_sync, easycars_admin', tbl);
            IF entity = 'leads' THEN
                EXECUTE format('GRANT INSERT, UPDATE ON easycars_remote.%I TO easycars_sync, easycars_admin', tbl);
            END IF;
        END IF;
    END LOOP;
END
$$;
CREATE OR REPLACE FUNCTION easycars._begin_run(p_dealership_id integer, p_type text, p_direction text, p_entity easycars.sync_entity,
                                    p_wait boolean, p_request jsonb)
RETURNS easycars.sync_log
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    log easycars.sync_log;
    cred_id integer;
    session_tenant integer := easycars.current_dealership_id();
BEGIN
    IF p_dealership_id IS NULL THEN
        RAISE EXCEPTION 'dealership_id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- SECURITY: only a role allowed to act for the dealership may sync it, and a session already
    -- acting for one dealership cannot sync another (an administrator can sync any).
    IF NOT easycars.may_act_for(p_dealership_id)
       OR (session_tenant IS NOT NULL AND session_tenant <> p_dealership_id AND NOT easycars._is_admin()) THEN
        RAISE EXCEPTION 'this role may not sync dealership %', p_dealership_id
            USING ERRCODE = 'insufficient_privilege',
                  HINT = 'An administrator allows it with easycars.grant_dealership(role, dealership_id), or easycars.grant_all_dealerships(role) for a scheduler role.';
    END IF;
    -- SECURITY: the rest of this transaction acts for exactly this dealership, so RLS confines the run.
    PERFORM set_config('app.current_dealership_id', p_dealership_id::text, true);
    IF NOT EXISTS (SELECT 1 FROM easycars.dealership WHERE id = p_dealership_id) THEN
        RAISE EXCEPTION 'dealership % does not exist', p_dealership_id USING ERRCODE = 'foreign_key_violation';
    END IF;
    SELECT id INTO cred_id FROM easycars.credentials WHERE dealership_id = p_dealership_id AND is_active;
    IF cred_id IS NULL THEN
        RAISE EXCEPTION 'dealership % has no active EasyCars credentials', p_dealership_id
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = format('Store them with easycars.set_credentials(%s, ...).', p_dealership_id);
    END IF;

    INSERT INTO easycars.sync_log (dealership_id, credential_id, sync_type, sync_direction, status, request_payload)
    VALUES (p_dealership_id, cred_id, p_type, p_direction, 'InProgress', p_request)
    RETURNING * INTO log;

    -- Two runs of the same entity for one dealership never overlap.
    IF p_wait THEN
        PERFORM pg_advisory_xact_lock(easycars._sync_lock_key(p_type, p_direction), p_dealership_id);
    ELSIF NOT pg_try_advisory_xact_lock(easycars._sync_lock_key(p_type, p_direction), p_dealership_id) THEN
        UPDATE easycars.sync_log SET status = 'Skipped', completed_at = clock_timestamp(),
               error_message = 'another ' || lower(p_type) || ' ' || lower(p_direction) || ' sync of this dealership is running'
        WHERE dealership_id = p_dealership_id AND id = log.id
        RETURNING * INTO log;
        RAISE NOTICE 'easycars: % % sync of dealership % skipped: another one is running', p_type, p_direction, p_dealership_id;
        RETURN log;
    END IF;

    PERFORM easycars._ensure_remote(p_dealership_id);
    INSERT INTO easycars.sync_progress (dealership_id, sync_id, entity_type, job_id, metadata)
    VALUES (p_dealership_id, log.id::text, p_entity, easycars._cron_job_id(), jsonb_build_object('direction', p_direction));
    -- Who started it: run_due_syncs (pg_cron) marks its runs as scheduled; anything else is manual.
    INSERT INTO easycars.sync_activity_log (dealership_id, sync_id, entity_type, action, status)
    VALUES (p_dealership_id, log.id::text, p_entity,
            (CASE WHEN current_setting('easycars_run.origin', true) = 'scheduled' THEN 'scheduled_run' ELSE 'manual_trigger' END)::easycars.sync_action,
            'in_progress'::easycars.sync_status),
           (p_dealership_id, log.id::text, p_entity, 'sync_start'::easycars.sync_action, 'in_progress'::easycars.sync_status);
    PERFORM easycars._report(log, 'started');
    RETURN log;
END
$$;
CREATE OR REPLACE FUNCTION easycars._finish_run(p_log easycars.sync_log, p_entity easycars.sync_entity, p_status text,
                                     p_processed integer, p_created integer, p_updated integer, p_unchanged integer,
                                     p_removed integer, p_failed integer, p_summary jsonb,
                                     p_error text DEFAULT NULL, p_details text DEFAULT NULL)
RETURNS easycars.sync_log
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    log easycars.sync_log;
    total integer := greatest(p_processed, 0);
BEGIN
    UPDATE easycars.sync_log SET
        status = p_status, completed_at = clock_timestamp(),
        records_processed = p_processed, records_created = p_created, records_updated = p_updated,
        records_unchanged = p_unchanged, records_removed = p_removed, records_failed = p_failed,
        error_message = p_error, error_details = p_details, response_summary = p_summary
    WHERE dealership_id = p_log.dealership_id AND id = p_log.id
    RETURNING * INTO log;

    IF p_status = 'Failed' THEN
        -- Progress of a failed run is closed without claiming its items were processed; its
        -- completion trigger logs what happened: a cancel, a timeout (statement_timeout or an
        -- EasyCars deadline) or a failure.
        UPDATE easycars.sync_progress SET completed_at = clock_timestamp(),
               metadata = metadata || jsonb_build_object('status', 'Failed', 'error', left(p_error, 1000), 'outcome',
                   CASE WHEN p_summary->>'sqlstate' = '57014' AND p_error ILIKE '%statement timeout%' THEN 'timeout'
                        WHEN p_summary->>'sqlstate' = '57014' THEN 'cancelled'
                        WHEN p_error ~* '(timed out|deadline exceeded)' THEN 'timeout'
                        ELSE 'failed' END)
        WHERE dealership_id = log.dealership_id AND sync_id = log.id::text;
        INSERT INTO easycars.sync_state AS s (dealership_id, entity_type, direction, last_error, last_error_at)
        VALUES (log.dealership_id, p_entity, lower(log.sync_direction), p_error, clock_timestamp())
        ON CONFLICT (dealership_id, entity_type, direction) DO UPDATE SET last_error = EXCLUDED.last_error, last_error_at = EXCLUDED.last_error_at;
    ELSE
        -- Completing the progress row logs sync_complete through its trigger.
        UPDATE easycars.sync_progress SET total_items = total, current_item = total,
               processed_count = total - least(greatest(p_failed, 0), total), failed_count = least(greatest(p_failed, 0), total),
               completed_at = CASE WHEN total = 0 THEN clock_timestamp() END,
               metadata = metadata || jsonb_build_object('status', p_status)
        WHERE dealership_id = log.dealership_id AND sync_id = log.id::text;
        -- One row per direction (a lead push and a lead refresh are different syncs); times are the
        -- end of the run; records_synced is what the run stored or confirmed, not its failures or
        -- the Manual/Import vehicles it left alone.
        INSERT INTO easycars.sync_state AS s (dealership_id, entity_type, direction, last_full_sync, last_incremental_sync, records_synced)
        VALUES (log.dealership_id, p_entity, lower(log.sync_direction),
                CASE WHEN p_entity = 'stock' THEN log.completed_at END, CASE WHEN p_entity <> 'stock' THEN log.completed_at END,
                greatest(coalesce(p_created, 0) + coalesce(p_updated, 0) + coalesce(p_unchanged, 0), 0))
        ON CONFLICT (dealership_id, entity_type, direction) DO UPDATE SET
            last_full_sync = coalesce(EXCLUDED.last_full_sync, s.last_full_sync),
            last_incremental_sync = coalesce(EXCLUDED.last_incremental_sync, s.last_incremental_sync),
            records_synced = EXCLUDED.records_synced, last_error = NULL, last_error_at = NULL;
        UPDATE easycars.credentials SET last_synced_at = now() WHERE dealership_id = log.dealership_id;
        -- A success right after a failure of the same kind of run is the recovery from it.
        IF (SELECT l.status FROM easycars.sync_log l
            WHERE l.dealership_id = log.dealership_id AND l.sync_type = log.sync_type AND l.sync_direction = log.sync_direction
              AND l.id < log.id AND l.status IN ('Success', 'Warning', 'Failed')
            ORDER BY l.id DESC LIMIT 1) = 'Failed' THEN
            INSERT INTO easycars.sync_activity_log (dealership_id, sync_id, entity_type, action, status, record_count, duration_seconds, created_at)
            VALUES (log.dealership_id, log.id::text, p_entity, 'error_recovery', 'completed', total,
                    round(extract(epoch FROM log.completed_at - log.started_at), 2), clock_timestamp());
        END IF;
    END IF;
    PERFORM easycars._report(log, lower(p_status));
    PERFORM set_config('application_name', '', true);
    RETURN log;
END
$$;
CREATE OR REPLACE FUNCTION easycars._stock_feed_sql(p_dealership_id integer) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
SELECT format($f$
    SELECT s.stock_number,
           left(coalesce(nullif(btrim(s.make), ''), 'Unknown'), 100) AS make,
           left(coalesce(nullif(btrim(s.model), ''), 'Unknown'), 100) AS model,
           s.year_group AS year,
           s.price,
           CASE WHEN s.odometer BETWEEN 0 AND 2147483647 THEN s.odometer END AS mileage,
           CASE WHEN s.stock_status ILIKE 'sold' THEN 'sold' ELSE 'active' END AS status,
           CASE WHEN s.is_demo THEN 'demo' WHEN s.is_used THEN 'used' ELSE 'new' END AS condition,
           btrim(concat_ws(' ', s.year_group, btrim(s.make), btrim(s.model), nullif(btrim(s.badge), ''))) AS title,
           nullif(s.adv_description, '') AS description,
           coalesce(to_jsonb(s.image_urls_list), '[]') AS images,
           nullif(btrim(s.yard_code), '') AS easycars_yard_code,
           CASE WHEN upper(btrim(s.vin)) ~ '^[A-HJ-NPR-Z0-9]{1,17}$' THEN upper(btrim(s.vin)) END AS easycars_vin,
           s.raw AS easycars_raw_data,
           s.raw_md5 AS easycars_raw_md5,
           left(nullif(s.colour, ''), 50) AS exterior_color,
           left(nullif(s.interior_color, ''), 50) AS interior_color,
           left(nullif(s.body, ''), 50) AS body,
           left(nullif(s.fuel_type, ''), 50) AS fuel_type,
           left(nullif(s.gear_type, ''), 50) AS gear_type,
           left(coalesce(nullif(s.engine_capacity, ''), s.engine_size::text), 50) AS engine_capacity,
           CASE WHEN s.door_num BETWEEN 0 AND 9 THEN s.door_num END AS door_count,
           to_jsonb(coalesce(s.standard_features_list, '{}') || coalesce(s.optional_features_list, '{}')) AS features,
           nullif(s.yard_name, '') AS yard_name,
           nullif(btrim(s.badge), '') AS badge,
           nullif(btrim(s.series), '') AS series,
           left(nullif(btrim(s.rego_num), ''), 20) AS rego_number,
           left(nullif(btrim(s.rego_state), ''), 10) AS rego_state,
           s.rego_expiry,
           left(nullif(s.stock_status, ''), 50) AS stock_status,
           CASE WHEN s.stock_type IN ('A', 'B', 'C', 'H', 'M', 'T') THEN s.stock_type END AS stock_type,
           s.is_used, s.is_demo, s.is_special, s.is_drive_away,
           CASE WHEN s.adv_special_price >= 0 AND round(s.adv_special_price, 2) < 1e10 THEN s.adv_special_price END AS special_price,
           left(nullif(s.drive_train, ''), 50) AS drive_train,
           CASE WHEN s.seat_capacity BETWEEN 0 AND 100 THEN s.seat_capacity END AS seat_capacity,
           left(nullif(s.cylinder, ''), 20) AS cylinders,
           CASE WHEN s.engine_size BETWEEN 0 AND 100000 THEN round(s.engine_size)::integer END AS engine_size_cc,
           CASE WHEN abs(round(s.power_kw, 2)) < 1000000 THEN s.power_kw END AS power_kw,
           coalesce(s.is_miles, false) AS odometer_in_miles,
           nullif(s.video_link, '') AS video_url,
           -- A row EasyCars sent that cannot be a vehicle here is counted as failed, not stored:
           -- one bad item never fails the whole sync. Optional values that do not fit are dropped
           -- above; these are the ones a vehicle cannot do without or must not have wrong.
           coalesce(nullif(btrim(s.stock_number), '') IS NOT NULL AND length(s.stock_number) <= 100
                    AND s.year_group BETWEEN 1885 AND 2100
                    AND (s.price IS NULL OR (s.price >= 0 AND round(s.price, 2) < 1e10))
                    AND length(coalesce(btrim(s.yard_code), '')) <= 50, false) AS valid
    FROM easycars_remote.%I AS s
$f$, 'stock_d' || p_dealership_id)
$$;
CREATE OR REPLACE FUNCTION easycars.sync_stock(dealership_id integer, wait boolean DEFAULT false)
RETURNS easycars.sync_log
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    d integer := sync_stock.dealership_id;
    log easycars.sync_log;
    r record;
    msg text; state text; detail text; hint text; ctx text;
BEGIN
    log := easycars._begin_run(d, 'Stock', 'Inbound', 'stock', wait, jsonb_build_object('route', 'GetAdvertisementStocks'));
    IF log.status = 'Skipped' THEN
        RETURN log;
    END IF;
    BEGIN
        PERFORM easycars._report(log, 'fetching and upserting');
        -- One statement: one fetch, the upsert, and the removals, all from the same feed. If the
        -- fetch fails nothing is written; vehicles are marked removed only after a complete feed.
        -- The feed takes only the stock numbers todo lists; the wrapper applies that filter
        -- before building any row.
        SELECT * INTO r FROM easycars._run_stock_upsert(easycars._stock_keys_sql(d),
            easycars._stock_feed_sql(d) || ' WHERE s.stock_number = ANY ((SELECT stock_numbers FROM todo)::text[])', d);

        log := easycars._finish_run(log, 'stock', CASE WHEN r.failed > 0 THEN 'Warning' ELSE 'Success' END,
                   p_processed => r.fetched, p_created => r.created, p_updated => r.updated,
                   p_unchanged => r.fetched - r.created - r.updated - r.failed - r.blocked, p_removed => r.removed, p_failed => r.failed,
                   p_summary => jsonb_build_object('fetched', r.fetched, 'created', r.created, 'updated', r.updated, 'removed', r.removed,
                                                   'failed', r.failed, 'skipped_manual', r.blocked),
                   p_error => CASE WHEN r.failed > 0 THEN format('%s item(s) could not be stored (blank, over-long or repeated stock number, year outside 1885-2100, negative or over-large price, YardCode over 50 characters)', r.failed) END);
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        -- The data changes are rolled back with this block; the log row above survives as Failed.
        -- A cancel or statement_timeout ends the run the same way: stopped, rolled back, logged.
        GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, state = RETURNED_SQLSTATE, detail = PG_EXCEPTION_DETAIL,
                                hint = PG_EXCEPTION_HINT, ctx = PG_EXCEPTION_CONTEXT;
        log := easycars._finish_run(log, 'stock', 'Failed', p_processed => 0, p_created => 0, p_updated => 0, p_unchanged => 0,
                   p_removed => 0, p_failed => 0, p_summary => jsonb_build_object('sqlstate', state), p_error => msg,
                   p_details => concat_ws(E'\n', 'SQLSTATE ' || state, 'DETAIL: ' || detail, 'HINT: ' || hint, 'CONTEXT: ' || ctx));
    END;
    RETURN log;
END
$$;
CREATE OR REPLACE FUNCTION easycars.preview_stock_sync(dealership_id integer, ttl interval DEFAULT '1 hour')
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    d integer := preview_stock_sync.dealership_id;
    delta jsonb;
BEGIN
    IF d IS NULL THEN
        RAISE EXCEPTION 'dealership_id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF ttl IS NULL OR ttl <= interval '0' THEN
        RAISE EXCEPTION 'ttl must be a positive interval' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT easycars.may_act_for(d)
       OR (easycars.current_dealership_id() IS DISTINCT FROM d AND easycars.current_dealership_id() IS NOT NULL AND NOT easycars._is_admin()) THEN
        RAISE EXCEPTION 'this role may not preview dealership %', d USING ERRCODE = 'insufficient_privilege',
            HINT = 'An administrator allows it with easycars.grant_dealership(role, dealership_id).';
    END IF;
    PERFORM set_config('app.current_dealership_id', d::text, true);
    PERFORM easycars._ensure_remote(d);
    EXECUTE format($q$
        WITH feed AS MATERIALIZED (%s),
        local AS (SELECT * FROM easycars.vehicle WHERE dealership_id = $1)
        SELECT jsonb_build_object(
            'create', coalesce((SELECT jsonb_agg(f.stock_number ORDER BY f.stock_number) FROM feed f
                                WHERE f.valid AND NOT EXISTS (SELECT 1 FROM local v WHERE v.easycars_stock_number = f.stock_number
                                                              OR (v.data_source <> 'EasyCars' AND v.easycars_vin = f.easycars_vin))), '[]'),
            'update', coalesce((SELECT jsonb_agg(f.stock_number ORDER BY f.stock_number) FROM feed f JOIN local v ON v.easycars_stock_number = f.stock_number
                                WHERE f.valid AND v.data_source = 'EasyCars'
                                  AND (v.easycars_raw_data IS DISTINCT FROM f.easycars_raw_data OR v.status = 'removed')), '[]'),
            'remove', coalesce((SELECT jsonb_agg(v.easycars_stock_number ORDER BY v.easycars_stock_number) FROM local v
                                WHERE v.data_source = 'EasyCars' AND v.status <> 'removed'
                                  AND NOT EXISTS (SELECT 1 FROM feed f WHERE f.stock_number = v.easycars_stock_number)), '[]'),
            'skipped_manual', coalesce((SELECT jsonb_agg(f.stock_number ORDER BY f.stock_number) FROM feed f JOIN local v
                                ON v.data_source <> 'EasyCars' AND (v.easycars_stock_number = f.stock_number OR v.easycars_vin = f.easycars_vin)), '[]'),
            'invalid', coalesce((SELECT jsonb_agg(f.stock_number) FROM feed f WHERE NOT f.valid), '[]'),
            'fetched', (SELECT count(*) FROM feed))
    $q$, easycars._stock_feed_sql(d)) INTO delta USING d;
    delta := delta || jsonb_build_object('counts', jsonb_build_object(
        'create', jsonb_array_length(delta->'create'), 'update', jsonb_array_length(delta->'update'),
        'remove', jsonb_array_length(delta->'remove')));
    INSERT INTO easycars.sync_preview_cache AS c (dealership_id, entity_type, cache_key, delta_json, computed_at, expires_at)
    VALUES (d, 'stock', 'preview_stock_sync', delta, now(), now() + ttl)
    ON CONFLICT ON CONSTRAINT sync_preview_cache_key_key DO UPDATE SET delta_json = EXCLUDED.delta_json, computed_at = EXCLUDED.computed_at,
        expires_at = EXCLUDED.expires_at, computed_by = current_user;
    INSERT INTO easycars.sync_activity_log (dealership_id, entity_type, action, status, record_count)
    VALUES (d, 'stock', 'preview_delta', 'completed', (delta->>'fetched')::int);
    RETURN delta;
END
$$;
CREATE OR REPLACE FUNCTION easycars.push_leads(dealership_id integer, wait boolean DEFAULT false)
RETURNS easycars.sync_log
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    d integer := push_leads.dealership_id;
    log easycars.sync_log;
    todo bigint[];
    lead_id bigint;
    pushed record;
    n_created integer := 0; n_updated integer := 0; n_failed integer := 0;
    failures jsonb := '[]';
    msg text;
    cancelled text;
BEGIN
    log := easycars._begin_run(d, 'Lead', 'Outbound', 'lead', wait, jsonb_build_object('routes', ARRAY['CreateLead', 'UpdateLead']));
    IF log.status = 'Skipped' THEN
        RETURN log;
    END IF;
    todo := ARRAY(SELECT easycars._leads_to_push(d));
    PERFORM easycars._push_progress(log, cardinality(todo), 0, 0, 0);
    FOREACH lead_id IN ARRAY todo LOOP
        BEGIN
            SELECT * INTO pushed FROM easycars._push_one(log, lead_id);
        EXCEPTION WHEN query_canceled THEN
            -- Stop at once, but keep the numbers of the leads already created in EasyCars.
            GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
            cancelled := msg;
            EXIT;
        END;
        CASE pushed.outcome
            WHEN 'created' THEN n_created := n_created + 1;
            WHEN 'updated' THEN n_updated := n_updated + 1;
            ELSE n_failed := n_failed + 1;
                 failures := failures || jsonb_build_object('lead_id', lead_id, 'error', pushed.failure);
        END CASE;
        PERFORM easycars._push_progress(log, cardinality(todo), n_created, n_updated, n_failed);
    END LOOP;
    IF cancelled IS NOT NULL THEN
        RETURN easycars._finish_run(log, 'lead', 'Failed', p_processed => n_created + n_updated + n_failed, p_created => n_created,
                   p_updated => n_updated, p_unchanged => 0, p_removed => 0, p_failed => n_failed,
                   p_summary => jsonb_build_object('created', n_created, 'updated', n_updated, 'failed', n_failed, 'failures', failures, 'cancelled', true),
                   p_error => cancelled,
                   p_details => format('stopped after %s of %s lead(s); the pushed ones keep their EasyCars numbers', n_created + n_updated + n_failed, cardinality(todo)));
    END IF;
    RETURN easycars._finish_run(log, 'lead', CASE WHEN n_failed > 0 THEN 'Warning' ELSE 'Success' END,
               p_processed => n_created + n_updated + n_failed, p_created => n_created, p_updated => n_updated,
               p_unchanged => 0, p_removed => 0, p_failed => n_failed,
               p_summary => jsonb_build_object('created', n_created, 'updated', n_updated, 'failed', n_failed, 'failures', failures),
               p_error => CASE WHEN n_failed > 0 THEN format('%s lead(s) could not be pushed; see response_summary and lead.last_push_error', n_failed) END);
END
$$;
CREATE OR REPLACE FUNCTION easycars.sync_leads(dealership_id integer, wait boolean DEFAULT false)
RETURNS easycars.sync_log
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
DECLARE
    d integer := sync_leads.dealership_id;
    log easycars.sync_log;
    numbers text[];
    r record;
    msg text; state text;
BEGIN
    log := easycars._begin_run(d, 'Lead', 'Inbound', 'lead', wait, jsonb_build_object('route', 'GetLeadDetail'));
    IF log.status = 'Skipped' THEN
        RETURN log;
    END IF;
    SELECT coalesce(array_agg(easycars_lead_number ORDER BY easycars_lead_number), '{}') INTO numbers
    FROM easycars.lead WHERE easycars.lead.dealership_id = d AND easycars_lead_number IS NOT NULL;
    BEGIN
        PERFORM easycars._report(log, format('refreshing %s lead(s)', cardinality(numbers)));
        -- The numbers go in as a parameter, so lead_number = ANY($1) is pushed down and fetched concurrently.
        EXECUTE format($q$
            WITH remote AS MATERIALIZED (
                SELECT lead_number, customer_no, vehicle_interest_label, rating_label, finance_status, finance_status_label, raw
                FROM easycars_remote.%I WHERE lead_number = ANY($2)
            ),
            changed AS (
                UPDATE easycars.lead l SET
                    easycars_raw_data = r.raw, easycars_customer_no = coalesce(r.customer_no, l.easycars_customer_no),
                    vehicle_interest_type = coalesce(r.vehicle_interest_label, l.vehicle_interest_type),
                    rating = coalesce(r.rating_label, l.rating), finance_status = coalesce(r.finance_status_label, l.finance_status),
                    finance_interested = coalesce(r.finance_status = 1, l.finance_interested),
                    last_synced_from_easycars = now()
                FROM remote r
                WHERE l.dealership_id = $1 AND l.easycars_lead_number = r.lead_number
                  AND l.easycars_raw_data IS DISTINCT FROM r.raw
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM remote)::int AS fetched, (SELECT count(*) FROM changed)::int AS updated
        $q$, 'leads_d' || d) INTO r USING d, numbers;
        log := easycars._finish_run(log, 'lead', CASE WHEN r.fetched < cardinality(numbers) THEN 'Warning' ELSE 'Success' END,
                   p_processed => cardinality(numbers), p_created => 0, p_updated => r.updated, p_unchanged => r.fetched - r.updated,
                   p_removed => 0, p_failed => cardinality(numbers) - r.fetched,
                   p_summary => jsonb_build_object('requested', cardinality(numbers), 'found', r.fetched, 'updated', r.updated),
                   p_error => CASE WHEN r.fetched < cardinality(numbers) THEN format('%s lead number(s) were not found in EasyCars', cardinality(numbers) - r.fetched) END);
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, state = RETURNED_SQLSTATE;
        log := easycars._finish_run(log, 'lead', 'Failed', p_processed => 0, p_created => 0, p_updated => 0, p_unchanged => 0,
                   p_removed => 0, p_failed => 0, p_summary => jsonb_build_object('sqlstate', state), p_error => msg,
                   p_details => 'SQLSTATE ' || state);
    END;
    RETURN log;
END
$$;
CREATE OR REPLACE FUNCTION easycars._push_lead(p_dealership_id integer, p_lead_id bigint) RETURNS text
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    l record;
    tbl text := format('easycars_remote.%I', 'leads_d' || p_dealership_id);
    made record;
    found bigint;
BEGIN
    SELECT ld.*, v.make AS v_make, v.model AS v_model, v.year AS v_year, v.price AS v_price, v.condition AS v_condition,
           v.stock_type AS v_stock_type, v.easycars_stock_number AS v_stock_number
    INTO l
    FROM easycars.lead ld LEFT JOIN easycars.vehicle v ON v.dealership_id = ld.dealership_id AND v.id = ld.vehicle_id
    WHERE ld.dealership_id = p_dealership_id AND ld.id = p_lead_id
    FOR UPDATE OF ld;
    IF l.easycars_lead_number IS NULL THEN
        -- ExternalID is the local lead id, so a lead created twice can be recognised in EasyCars.
        EXECUTE format($q$INSERT INTO %s (stock_number, vehicle_make, vehicle_model, vehicle_price, vehicle_type, vehicle_year,
                               is_vehicle_new, vehicle_interest, notes, vehicle_source_page_url, finance_status, rating,
                               external_id, customer_no, customer_name, customer_email, customer_phone, customer_mobile,
                               customer_state, customer_postcode)
                           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)
                           RETURNING lead_number, customer_no$q$, tbl)
        INTO made
        USING l.v_stock_number, coalesce(l.v_make, l.vehicle_make), coalesce(l.v_model, l.vehicle_model),
              coalesce(l.v_price, l.vehicle_price),
              coalesce(easycars._enum_code('vehicle_type', l.vehicle_type),
                       CASE l.v_stock_type WHEN 'A' THEN 1 WHEN 'M' THEN 2 WHEN 'B' THEN 3 WHEN 'C' THEN 4 WHEN 'H' THEN 5 WHEN 'T' THEN 6 END, 1),
              coalesce(l.v_year, l.vehicle_year), coalesce(l.is_vehicle_new, l.v_condition = 'new'),
              coalesce(easycars._enum_code('interest', l.vehicle_interest_type), 1),
              l.message, l.source_page_url, easycars._enum_code('finance', l.finance_status), easycars._enum_code('rating', l.rating),
              l.id::text, l.easycars_customer_no, l.name, l.email, l.phone, l.mobile, l.customer_state, l.customer_postcode;
        IF made.lead_number IS NULL THEN
            RAISE EXCEPTION 'EasyCars did not return a lead number for lead %', l.id USING ERRCODE = 'external_routine_exception';
        END IF;
        UPDATE easycars.lead SET easycars_lead_number = made.lead_number, easycars_customer_no = made.customer_no,
               last_synced_to_easycars = now(), last_push_error = NULL, easycars_push_digest = easycars._lead_push_digest(lead)
        WHERE dealership_id = p_dealership_id AND id = l.id;
        RETURN 'created';
    END IF;
    EXECUTE format($q$UPDATE %s SET notes = $2, rating = $3, finance_status = $4, vehicle_interest = $5, lead_status = $6,
                          customer_no = $7, customer_name = $8, customer_email = $9, customer_phone = $10, customer_mobile = $11
                      WHERE lead_number = $1$q$, tbl)
    USING l.easycars_lead_number, l.message, easycars._enum_code('rating', l.rating), easycars._enum_code('finance', l.finance_status),
          easycars._enum_code('interest', l.vehicle_interest_type), easycars._lead_status_code(l.status),
          l.easycars_customer_no, l.name, l.email, l.phone, l.mobile;
    GET DIAGNOSTICS found = ROW_COUNT;
    IF found = 0 THEN
        RAISE EXCEPTION 'lead % (EasyCars %) was not found in EasyCars', l.id, l.easycars_lead_number
            USING ERRCODE = 'no_data_found', HINT = 'It may belong to another lead source; clear easycars_lead_number to create it again.';
    END IF;
    UPDATE easycars.lead SET last_synced_to_easycars = now(), last_push_error = NULL, easycars_push_digest = easycars._lead_push_digest(lead)
    WHERE dealership_id = p_dealership_id AND id = l.id;
    RETURN 'updated';
END
$$;
CREATE OR REPLACE FUNCTION easycars.unschedule_syncs() RETURNS integer
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n integer := 0;
    j record;
BEGIN
    IF to_regnamespace('cron') IS NULL THEN
        RAISE EXCEPTION 'pg_cron is not installed in this database' USING ERRCODE = 'undefined_object';
    END IF;
    FOR j IN SELECT jobname FROM cron.job
             WHERE jobname IN ('easycars-stock', 'easycars-leads', 'easycars-previews', 'easycars-partitions', 'easycars-archive')
                OR jobname ~ '^easycars-(stock|leads)-[0-9]+$' LOOP
        PERFORM cron.unschedule(j.jobname);
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;
-- Only runs of dealerships the reader may act for (the dealership is in application_name).
-- A run's counts ("... : 3 of 5 pushed, ...") are read from its phase: live, before it commits.
CREATE OR REPLACE VIEW easycars.running_syncs WITH (security_invoker = true, security_barrier = true) AS
SELECT r.pid, r.progress, r.running_for, r.state, r.wait_event_type, r.wait_event,
       r.processed, r.total,
       round(r.processed / nullif(extract(epoch FROM r.running_for), 0) * 60, 1) AS items_per_min,
       CASE WHEN r.processed > 0 THEN
           make_interval(secs => (r.total - r.processed) * extract(epoch FROM r.running_for) / r.processed) END AS eta
FROM (SELECT a.pid, a.application_name AS progress, now() - a.xact_start AS running_for, a.state,
             a.wait_event_type, a.wait_event,
             (pg_catalog.regexp_match(a.application_name, ': ([0-9]+) of ([0-9]+) '))[1]::bigint AS processed,
             (pg_catalog.regexp_match(a.application_name, ': ([0-9]+) of ([0-9]+) '))[2]::bigint AS total
      FROM pg_catalog.pg_stat_activity a
      WHERE a.application_name LIKE 'easycars %'
        AND easycars.may_act_for(pg_catalog.substring(a.application_name, ' d=([0-9]{1,9}) ')::integer)) AS r;
COMMENT ON VIEW easycars.running_syncs IS
    'Sync runs in progress right now, from any session, with their current phase (published as application_name, visible before the run commits) and, where the phase counts items (lead pushes: after every lead), processed, total, items per minute and an ETA.';
DROP FUNCTION easycars.schedule_syncs(text, text);
CREATE FUNCTION easycars.schedule_syncs(stock_cron text DEFAULT '*/15 * * * *', leads_cron text DEFAULT '5 * * * *',
                                        workers integer DEFAULT 1)
RETURNS TABLE (job_name text, schedule text, command text, jobid bigint)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF to_regnamespace('cron') IS NULL OR to_regprocedure('cron.schedule(text, text, text)') IS NULL THEN
        RAISE EXCEPTION 'pg_cron is not installed in this database'
            USING ERRCODE = 'undefined_object',
                  HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, restart, then CREATE EXTENSION pg_cron.';
    END IF;
    IF stock_cron IS NULL OR leads_cron IS NULL THEN
        RAISE EXCEPTION 'schedules must not be NULL' USING ERRCODE = 'null_value_not_allowed', HINT = 'Use easycars.unschedule_syncs() to stop syncing.';
    END IF;
    IF workers IS NULL OR workers NOT BETWEEN 1 AND 32 THEN
        RAISE EXCEPTION 'workers must be from 1 to 32' USING ERRCODE = 'invalid_parameter_value',
            HINT = 'Each worker is one pg_cron job (and one connection while it runs); they share one due queue.';
    END IF;
    -- Jobs of a previous, larger worker count go first.
    PERFORM cron.unschedule(j.jobname) FROM cron.job j
    WHERE j.jobname ~ '^easycars-(stock|leads)-[0-9]+$' AND substring(j.jobname FROM '[0-9]+$')::int > workers;
    -- Named jobs: scheduling again replaces them instead of adding duplicates. Worker 1 of each is
    -- easycars-stock / easycars-leads, the others easycars-stock-2, ...; they drain one due queue,
    -- never running the same dealership and kind twice. The maintenance the schema needs comes
    -- with the syncs: expired previews every 15 minutes, monthly partitions nightly, old logs
    -- archived weekly.
    RETURN QUERY
    SELECT j.name, j.sched, j.cmd, cron.schedule(j.name, j.sched, j.cmd)
    FROM (SELECT CASE WHEN w = 1 THEN 'easycars-stock' ELSE 'easycars-stock-' || w END, stock_cron, 'CALL easycars.run_due_syncs(''stock'')'
          FROM generate_series(1, workers) w
          UNION ALL
          SELECT CASE WHEN w = 1 THEN 'easycars-leads' ELSE 'easycars-leads-' || w END, leads_cron, 'CALL easycars.run_due_syncs(''leads'')'
          FROM generate_series(1, workers) w
          UNION ALL
          VALUES ('easycars-previews', '*/15 * * * *', 'SELECT easycars.cleanup_preview_cache()'),
                 ('easycars-partitions', '0 3 * * *', 'SELECT easycars.maintain_partitions()'),
                 ('easycars-archive', '30 3 * * 0', 'SELECT easycars.archive_sync_logs()')) AS j(name, sched, cmd);
END
$$;
COMMENT ON FUNCTION easycars.schedule_syncs(text, text, integer) IS
    'Schedules, in one call, the pg_cron sync workers (workers of each: easycars-stock, easycars-stock-2, ... running CALL easycars.run_due_syncs(''stock''), default every 15 minutes; easycars-leads, ... for leads, default hourly at :05), which drain one due queue in parallel without ever running the same dealership and kind twice, and the maintenance: easycars-previews (cleanup_preview_cache, every 15 minutes), easycars-partitions (maintain_partitions, daily 03:00) and easycars-archive (archive_sync_logs, Sundays 03:30). Re-running replaces them. Jobs run as the calling role. Errors clearly when pg_cron is not installed.';
REVOKE EXECUTE ON FUNCTION easycars.schedule_syncs(text, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION easycars.schedule_syncs(text, text, integer) TO easycars_admin;
COMMENT ON FUNCTION easycars.unschedule_syncs() IS 'Removes every pg_cron job made by easycars.schedule_syncs() (syncs and maintenance); returns how many were removed.';

-- SECURITY: every function of the extension resolves names in pg_catalog first and never in a
-- schema the caller controls: pg_cron runs them as whoever scheduled them (often a superuser), and
-- definer functions run as the owner. Functions written with their own SET clause keep it; the rest
-- get it here, so a function added later cannot be forgotten (the privilege test checks every one).
-- Procedures that COMMIT cannot carry a SET clause; they pin search_path in their body instead.
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid FROM pg_catalog.pg_proc p
             WHERE p.pronamespace = 'easycars'::regnamespace AND p.proconfig IS NULL
               AND p.oid <> 'easycars.run_due_syncs(text, interval, interval)'::regprocedure
    LOOP
        EXECUTE format('ALTER ROUTINE %s SET search_path = pg_catalog, pg_temp', f);
    END LOOP;
END
$$;

-- Grants of the new objects (as a fresh install makes them).
REVOKE ALL ON easycars.dealership_access FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON easycars.dealership_access TO easycars_admin;
REVOKE EXECUTE ON FUNCTION easycars.may_act_for(integer),
                           easycars.grant_dealership(regrole, integer), easycars.grant_all_dealerships(regrole),
                           easycars.revoke_dealership(regrole, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION easycars.may_act_for(integer) TO easycars_admin, easycars_sync, easycars_analyst;
GRANT EXECUTE ON FUNCTION easycars.grant_dealership(regrole, integer), easycars.grant_all_dealerships(regrole),
                          easycars.revoke_dealership(regrole, integer)
    TO easycars_admin;
REVOKE ALL ON easycars.credentials_input FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION easycars._credentials_input_store() FROM PUBLIC;
GRANT INSERT ON easycars.credentials_input TO easycars_admin;

-- Who may act for which dealership is user data: pg_dump keeps it.
SELECT pg_catalog.pg_extension_config_dump('easycars.dealership_access', '');
