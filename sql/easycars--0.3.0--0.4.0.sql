-- easycars 0.3.0 -> 0.4.0: lead scores and search (pg_trgm is now required: CREATE EXTENSION
-- pg_trgm first), E.164 phones, GIN indexes on the raw EasyCars data, hand-made activity
-- partitions indexed, lead scores refreshed nightly.
\echo Use "ALTER EXTENSION easycars UPDATE TO '0.4.0'" to load this file. \quit

-- Derived columns can be left out of "did the row change".
CREATE OR REPLACE FUNCTION easycars._touch_updated_at() RETURNS trigger
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

-- Leads: phones in E.164, internal notes, score, update count, search vector.
CREATE FUNCTION easycars.au_phone_e164(phone text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        -- dialled internationally from Australia (0011 + country code)
        WHEN NOT plus AND d ~ '^0011[1-9][0-9]{6,14}$' THEN '+' || substr(d, 5)
        -- Australian, written internationally: +61 4.., 61 2.., +61 (0)4..
        WHEN (plus OR d ~ '^61') AND d ~ '^610?[2-478][0-9]{8}$' THEN '+61' || right(d, 9)
        WHEN (plus OR d ~ '^61') AND d ~ '^610?1[38]00[0-9]{6}$' THEN '+61' || right(d, 10)
        -- another country's number, already international
        WHEN plus AND d ~ '^[1-9][0-9]{7,14}$' AND d !~ '^61' THEN '+' || d
        -- Australian, written nationally: (02) 9876 5432, 0412 345 678, 1300 123 456, 13 12 34
        WHEN NOT plus AND d ~ '^0[2-478][0-9]{8}$' THEN '+61' || substr(d, 2)
        WHEN NOT plus AND d ~ '^1[38]00[0-9]{6}$' THEN '+61' || d
        WHEN NOT plus AND d ~ '^13[0-9]{4}$' THEN '+61' || d
        -- a mobile typed without its leading 0
        WHEN NOT plus AND d ~ '^4[0-9]{8}$' THEN '+61' || d
    END
    FROM (SELECT btrim(phone) ~ '^\+' AS plus, regexp_replace(phone, '[^0-9]', '', 'g') AS d) n
$$;
COMMENT ON FUNCTION easycars.au_phone_e164(text) IS
    'A phone number in E.164 (+61412345678), read the Australian way: national (0412 345 678, (02) 9876 5432, 1300/1800/13 numbers), international (+61 ..., 61 ..., +61 (0) ..., 0011 ...) or a mobile missing its leading 0; other countries'' numbers only when written with +. NULL when it is not a whole phone number.';

ALTER TABLE easycars.lead
    ADD COLUMN internal_notes text,
    ADD COLUMN update_count integer NOT NULL DEFAULT 0,
    ADD COLUMN score smallint NOT NULL DEFAULT 0,
    ADD COLUMN phone_e164 text GENERATED ALWAYS AS (easycars.au_phone_e164(phone)) STORED,
    ADD COLUMN mobile_e164 text GENERATED ALWAYS AS (easycars.au_phone_e164(mobile)) STORED,
    ADD COLUMN search tsvector GENERATED ALWAYS AS (
        setweight(to_tsvector('simple'::regconfig,
            coalesce(name, '') || ' ' || coalesce(email, '') || ' ' || coalesce(phone, '') || ' ' || coalesce(mobile, '')), 'A') ||
        setweight(to_tsvector('english'::regconfig, coalesce(message, '') || ' ' || coalesce(internal_notes, '')), 'B')
    ) STORED,
    ADD CONSTRAINT lead_score_chk CHECK (score BETWEEN 0 AND 100),
    ADD CONSTRAINT lead_update_count_chk CHECK (update_count >= 0);
COMMENT ON COLUMN easycars.lead.internal_notes IS 'The dealership''s own notes on the lead (calls, visits); searched by easycars.search_leads(), never sent to EasyCars.';
COMMENT ON COLUMN easycars.lead.update_count IS 'How many times the lead''s content (contact details, message, notes, status, rating, finance, interest, vehicle) has changed; counted by a trigger, part of the score.';
COMMENT ON COLUMN easycars.lead.score IS 'Priority 0-100, computed by the database from rating, interest, finance status, recency, linked vehicle, complete contact details and update count with the weights in easycars.lead_score_weights; 0 for won, lost and deleted leads. Kept current by a trigger and refreshed nightly for recency (easycars.refresh_lead_scores()).';
COMMENT ON COLUMN easycars.lead.phone_e164 IS 'phone in E.164 (easycars.au_phone_e164), NULL when it is not a whole phone number.';
COMMENT ON COLUMN easycars.lead.mobile_e164 IS 'mobile in E.164 (easycars.au_phone_e164), NULL when it is not a whole phone number.';
COMMENT ON COLUMN easycars.lead.search IS 'Full-text search vector: name, email and phones (simple, weight A), message and internal notes (English, weight B).';

-- Priority first: a dealership's best leads, and everyone's for administrators.
CREATE INDEX lead_dealership_score_idx ON easycars.lead (dealership_id, score DESC, id);
CREATE INDEX lead_score_idx ON easycars.lead (score DESC, id);
-- Search (easycars.search_leads): words, fuzzy names and emails, phones by number or digits.
CREATE INDEX lead_search_idx ON easycars.lead USING gin (search);
-- The operator class is pg_trgm's, named by the schema the DBA installed pg_trgm in.
DO $$
BEGIN
    EXECUTE format('CREATE INDEX lead_fuzzy_idx ON easycars.lead USING gin '
                   '(name %1$I.gin_trgm_ops, lower(email) %1$I.gin_trgm_ops, phone_e164 %1$I.gin_trgm_ops, mobile_e164 %1$I.gin_trgm_ops)',
                   (SELECT n.nspname FROM pg_catalog.pg_extension e JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace
                    WHERE e.extname = 'pg_trgm'));
END
$$;
CREATE INDEX lead_phone_e164_idx ON easycars.lead (phone_e164) WHERE phone_e164 IS NOT NULL;
CREATE INDEX lead_mobile_e164_idx ON easycars.lead (mobile_e164) WHERE mobile_e164 IS NOT NULL;
-- Containment searches over what EasyCars sent (easycars_raw_data @> '{"Rating": 3}').
CREATE INDEX lead_raw_data_idx ON easycars.lead USING gin (easycars_raw_data jsonb_path_ops);

DROP TRIGGER lead_touch_updated_at ON easycars.lead;
-- A rescore (score only) is no edit: updated_at stays. The E.164 columns are generated, so not
-- computed yet when the trigger compares.
CREATE TRIGGER lead_touch_updated_at BEFORE UPDATE ON easycars.lead
    FOR EACH ROW EXECUTE FUNCTION easycars._touch_updated_at('score', 'phone_e164', 'mobile_e164');

-- Containment searches over what EasyCars sent (easycars_raw_data @> '{"Make": "Toyota"}'); the
-- cost of keeping it on a sync is measured in bench/RESULTS.md.
CREATE INDEX vehicle_raw_data_idx ON easycars.vehicle USING gin (easycars_raw_data jsonb_path_ops);

-- Activity partitions made by hand get their key and indexes.
CREATE OR REPLACE FUNCTION easycars._index_activity_partition(p_partition regclass) RETURNS void
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

CREATE OR REPLACE FUNCTION easycars.maintain_partitions(
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

-- The nightly lead rescore is scheduled with the rest.
CREATE OR REPLACE FUNCTION easycars.schedule_syncs(stock_cron text DEFAULT '*/15 * * * *', leads_cron text DEFAULT '5 * * * *',
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
    -- with the syncs: expired previews every 15 minutes, monthly partitions and lead scores
    -- (their recency) nightly, old logs archived weekly.
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
                 ('easycars-archive', '30 3 * * 0', 'SELECT easycars.archive_sync_logs()'),
                 ('easycars-lead-scores', '15 3 * * *', 'SELECT easycars.refresh_lead_scores()')) AS j(name, sched, cmd);
END
$$;
COMMENT ON FUNCTION easycars.schedule_syncs(text, text, integer) IS
    'Schedules, in one call, the pg_cron sync workers (workers of each: easycars-stock, easycars-stock-2, ... running CALL easycars.run_due_syncs(''stock''), default every 15 minutes; easycars-leads, ... for leads, default hourly at :05), which drain one due queue in parallel without ever running the same dealership and kind twice, and the maintenance: easycars-previews (cleanup_preview_cache, every 15 minutes), easycars-partitions (maintain_partitions, daily 03:00), easycars-lead-scores (refresh_lead_scores, daily 03:15) and easycars-archive (archive_sync_logs, Sundays 03:30). Re-running replaces them. Jobs run as the calling role. Errors clearly when pg_cron is not installed.';
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
             WHERE jobname IN ('easycars-stock', 'easycars-leads', 'easycars-previews', 'easycars-partitions', 'easycars-archive',
                               'easycars-lead-scores')
                OR jobname ~ '^easycars-(stock|leads)-[0-9]+$' LOOP
        PERFORM cron.unschedule(j.jobname);
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION easycars.unschedule_syncs() IS 'Removes every pg_cron job made by easycars.schedule_syncs() (syncs and maintenance); returns how many were removed.';

COMMENT ON TABLE easycars.audit_log IS
    'Administrative actions on dealerships, dealership access, credentials, sync pauses and lead score weights: who (role and login), when, what, and the row before and after, without any secret. Written by triggers; append-only for everyone but superusers; purged with the sync log archive by easycars.archive_sync_logs().';
COMMENT ON COLUMN easycars.audit_log.object IS 'The table changed: dealership, dealership_access, credentials, sync_schedule (pause and resume) or lead_score_weight.';
COMMENT ON FUNCTION easycars._audit() IS
    'Internal trigger: appends an audit_log row for each change to dealership, dealership_access, credentials, sync_schedule pauses and lead_score_weight (secrets left out; sync timestamps ignored).';

-- Lead priority: a score from 0 to 100 computed in the database from what is known about a lead,
-- so "who do we call first" is one indexed query. The points per factor are data: built-in
-- defaults, overridden per factor by administrators in easycars.lead_score_weight.

CREATE FUNCTION easycars._lead_score_defaults()
RETURNS TABLE (factor text, points integer, description text)
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    VALUES ('rating_hot', 35, 'EasyCars rating Hot'),
           ('rating_warm', 20, 'EasyCars rating Warm'),
           ('rating_cold', 5, 'EasyCars rating Cold'),
           ('interest_test_drive', 20, 'wants a test drive'),
           ('interest_buy', 15, 'wants to buy'),
           ('interest_lease', 10, 'wants to lease'),
           ('interest_sell', 10, 'wants to sell (a trade-in)'),
           ('interest_service', 0, 'wants a service'),
           ('finance_yes', 10, 'finance status Yes'),
           ('finance_maybe', 5, 'finance status Maybe'),
           ('finance_no', 0, 'finance status No'),
           ('vehicle_linked', 10, 'about a vehicle in stock (vehicle_id set)'),
           ('contact_complete', 10, 'has an email and a phone or mobile'),
           ('recent_1d', 15, 'created within the last day'),
           ('recent_7d', 10, 'created within the last 7 days (and not the last day)'),
           ('recent_30d', 5, 'created within the last 30 days (and not the last 7)'),
           ('per_update', 2, 'per change of the lead''s content (update_count), counting up to 5 changes')
$$;
COMMENT ON FUNCTION easycars._lead_score_defaults() IS
    'Internal: the built-in points of each lead score factor (see easycars.lead_score_weights).';

-- Only overrides are stored: the defaults live in code above, so pg_dump can keep the table's rows
-- without colliding with rows CREATE EXTENSION would insert.
CREATE TABLE easycars.lead_score_weight (
    factor     text        PRIMARY KEY,
    points     integer     NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now(),
    changed_by text        NOT NULL DEFAULT current_user,
    CONSTRAINT lead_score_weight_factor_chk CHECK (factor IN (
        'rating_hot', 'rating_warm', 'rating_cold', 'interest_test_drive', 'interest_buy', 'interest_lease',
        'interest_sell', 'interest_service', 'finance_yes', 'finance_maybe', 'finance_no', 'vehicle_linked',
        'contact_complete', 'recent_1d', 'recent_7d', 'recent_30d', 'per_update')),
    CONSTRAINT lead_score_weight_points_chk CHECK (points BETWEEN -100 AND 100)
);
COMMENT ON TABLE easycars.lead_score_weight IS
    'Administrators'' overrides of the lead score points, one row per factor (INSERT ... ON CONFLICT (factor) DO UPDATE, or DELETE to go back to the default). Every change rescores all leads. easycars.lead_score_weights shows what is in effect.';
COMMENT ON COLUMN easycars.lead_score_weight.factor IS 'The factor overridden (see easycars.lead_score_weights for the list).';
COMMENT ON COLUMN easycars.lead_score_weight.points IS 'Points the factor adds (or, negative, takes away), from -100 to 100.';
COMMENT ON COLUMN easycars.lead_score_weight.changed_at IS 'When the override was last set.';
COMMENT ON COLUMN easycars.lead_score_weight.changed_by IS 'Role that last set the override.';

CREATE VIEW easycars.lead_score_weights WITH (security_invoker = true) AS
SELECT d.factor, coalesce(w.points, d.points) AS points, d.points AS default_points, w.factor IS NOT NULL AS overridden,
       d.description, w.changed_at, w.changed_by
FROM easycars._lead_score_defaults() d
LEFT JOIN easycars.lead_score_weight w ON w.factor OPERATOR(pg_catalog.=) d.factor;
COMMENT ON VIEW easycars.lead_score_weights IS
    'The lead score factors in effect: points (the override if any, else the default), the default, and who changed it when. A lead''s score is the sum of the points of its factors, clamped to 0-100; won, lost and deleted leads score 0.';

-- The formula. Reads the weights once per call; leads are written one by one at human rates and
-- in syncs of thousands, where this costs microseconds per row.
CREATE FUNCTION easycars.lead_score(l easycars.lead) RETURNS smallint
LANGUAGE sql STABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN l.status IN ('won', 'lost', 'deleted') THEN 0
           ELSE greatest(0, least(100, coalesce(sum(w.points * CASE w.factor
                WHEN 'rating_hot' THEN (l.rating = 'Hot')::int
                WHEN 'rating_warm' THEN (l.rating = 'Warm')::int
                WHEN 'rating_cold' THEN (l.rating = 'Cold')::int
                WHEN 'interest_test_drive' THEN (l.vehicle_interest_type = 'TestDrive')::int
                WHEN 'interest_buy' THEN (l.vehicle_interest_type = 'Buy')::int
                WHEN 'interest_lease' THEN (l.vehicle_interest_type = 'Lease')::int
                WHEN 'interest_sell' THEN (l.vehicle_interest_type = 'Sell')::int
                WHEN 'interest_service' THEN (l.vehicle_interest_type = 'Service')::int
                WHEN 'finance_yes' THEN (l.finance_status = 'Yes')::int
                WHEN 'finance_maybe' THEN (l.finance_status = 'Maybe')::int
                WHEN 'finance_no' THEN (l.finance_status = 'No')::int
                WHEN 'vehicle_linked' THEN (l.vehicle_id IS NOT NULL)::int
                WHEN 'contact_complete' THEN (l.email IS NOT NULL AND (l.phone IS NOT NULL OR l.mobile IS NOT NULL))::int
                WHEN 'recent_1d' THEN (l.created_at > now() - interval '1 day')::int
                WHEN 'recent_7d' THEN (l.created_at <= now() - interval '1 day' AND l.created_at > now() - interval '7 days')::int
                WHEN 'recent_30d' THEN (l.created_at <= now() - interval '7 days' AND l.created_at > now() - interval '30 days')::int
                WHEN 'per_update' THEN least(l.update_count, 5)
                END), 0)))
           END::smallint
    FROM easycars.lead_score_weights w
$$;
COMMENT ON FUNCTION easycars.lead_score(easycars.lead) IS
    'A lead''s priority from 0 to 100: the sum of the points (easycars.lead_score_weights) of each factor that holds (rating, interest, finance status, linked vehicle, complete contact details, age bands, up to 5 content changes), clamped; 0 for won, lost and deleted leads. Recency makes it depend on the time of the call.';

CREATE FUNCTION easycars._lead_score_row() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND
       (NEW.name, NEW.email, NEW.phone, NEW.mobile, NEW.message, NEW.internal_notes, NEW.status, NEW.rating,
        NEW.finance_status, NEW.vehicle_interest_type, NEW.vehicle_id)
       IS DISTINCT FROM
       (OLD.name, OLD.email, OLD.phone, OLD.mobile, OLD.message, OLD.internal_notes, OLD.status, OLD.rating,
        OLD.finance_status, OLD.vehicle_interest_type, OLD.vehicle_id) THEN
        NEW.update_count := OLD.update_count + 1;
    END IF;
    NEW.score := easycars.lead_score(NEW);
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION easycars._lead_score_row() IS
    'Internal trigger: counts content changes of a lead (update_count) and sets its score.';

CREATE TRIGGER lead_score BEFORE INSERT OR UPDATE ON easycars.lead
    FOR EACH ROW EXECUTE FUNCTION easycars._lead_score_row();

CREATE FUNCTION easycars.refresh_lead_scores() RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    n bigint;
BEGIN
    -- Only rows whose score moved are written; the touch trigger leaves updated_at alone.
    UPDATE easycars.lead l SET score = easycars.lead_score(l)
    WHERE l.score IS DISTINCT FROM easycars.lead_score(l);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
COMMENT ON FUNCTION easycars.refresh_lead_scores() IS
    'Recomputes the score of every lead the caller may see (all for administrators) and returns how many changed. Scores follow each write at once; this catches up with time (the recency bands) and is scheduled nightly by easycars.schedule_syncs() as easycars-lead-scores.';

CREATE FUNCTION easycars._rescore_after_weights() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM easycars.refresh_lead_scores();
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION easycars._rescore_after_weights() IS
    'Internal trigger: rescores the leads after the score weights change.';

CREATE TRIGGER lead_score_weight_rescore AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON easycars.lead_score_weight
    FOR EACH STATEMENT EXECUTE FUNCTION easycars._rescore_after_weights();

CREATE TRIGGER lead_score_weight_audit AFTER INSERT OR UPDATE OR DELETE ON easycars.lead_score_weight
    FOR EACH ROW EXECUTE FUNCTION easycars._audit();

-- Finding leads the way staff ask for them: a name half remembered ("john citizen" for Jon
-- Citizen), part of an email, a phone number in any format, or words from the message or notes.
-- Trigram matching comes from pg_trgm (shipped with PostgreSQL, required by this extension).

CREATE FUNCTION easycars.search_leads(query text, max_results integer DEFAULT 20)
RETURNS TABLE (lead_id bigint, dealership_id integer, name text, email text, phone text, mobile text,
               status text, score smallint, rank real, matched_on text)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    trgm text;
    digits text := ltrim(regexp_replace(query, '[^0-9]', '', 'g'), '0');
BEGIN
    IF query IS NULL OR btrim(query) = '' THEN
        RAISE EXCEPTION 'search_leads needs something to look for'
            USING ERRCODE = 'invalid_parameter_value', HINT = 'Pass a name, email, phone number or words from the message.';
    END IF;
    IF max_results IS NULL OR max_results NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'max_results must be from 1 to 1000' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- pg_trgm's operators are called by their schema, wherever the DBA installed it.
    SELECT quote_ident(n.nspname) INTO trgm
    FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm';
    IF trgm IS NULL THEN
        RAISE EXCEPTION 'pg_trgm is not installed in this database'
            USING ERRCODE = 'undefined_object', HINT = 'CREATE EXTENSION pg_trgm;';
    END IF;
    -- Rows come through the caller's row-level security: only the dealership it acts for. The
    -- search values are parameters of a one-shot plan, so each OR branch can use its index.
    RETURN QUERY EXECUTE format($q$
        SELECT l.id, l.dealership_id, l.name::text, l.email::text, l.phone::text, l.mobile::text, l.status::text, l.score,
               m.rank, m.matched_on
        FROM easycars.lead l,
        LATERAL (SELECT r.rank, r.matched_on FROM (VALUES
                    (CASE WHEN $3 IN (l.phone_e164, l.mobile_e164) THEN 1.0::real END, 'phone'),
                    (CASE WHEN l.phone_e164 LIKE $4 OR l.mobile_e164 LIKE $4 THEN 0.9::real END, 'phone digits'),
                    (%1$s.similarity(l.name, $1), 'name'),
                    (%1$s.similarity(lower(l.email), $2), 'email'),
                    (ts_rank(l.search, $5), 'words')) r(rank, matched_on)
                 WHERE r.rank IS NOT NULL ORDER BY r.rank DESC LIMIT 1) m
        WHERE l.phone_e164 = $3 OR l.mobile_e164 = $3
           OR l.phone_e164 LIKE $4 OR l.mobile_e164 LIKE $4
           OR l.name OPERATOR(%1$s.%%) $1
           OR lower(l.email) OPERATOR(%1$s.%%) $2
           OR l.search @@ $5
        ORDER BY m.rank DESC, l.score DESC, l.id
        LIMIT $6 $q$, trgm)
    USING btrim(query), lower(btrim(query)), easycars.au_phone_e164(query),
          -- 6+ digits anywhere in a number; a leading 0 is the national prefix E.164 drops
          CASE WHEN length(digits) >= 6 THEN '%' || digits || '%' END,
          websearch_to_tsquery('simple', query) || websearch_to_tsquery('english', query),
          max_results;
END
$$;
COMMENT ON FUNCTION easycars.search_leads(text, integer) IS
    'Finds the leads of the dealership the session acts for (all for administrators) by phone number in any Australian format (exact, or 6+ digits anywhere in it), fuzzy name or email (pg_trgm similarity, so ''john citizen'' finds Jon Citizen), or words in the name, message and internal notes (full text); best match first, then by score. rank is the best match''s strength (1 for the same phone number), matched_on says which. Uses the indexes lead_fuzzy_idx, lead_search_idx and lead_*_e164_idx.';

-- Privileges of the new objects, as a fresh install has them.
REVOKE EXECUTE ON FUNCTION easycars.au_phone_e164(text), easycars._lead_score_defaults(), easycars.lead_score(easycars.lead),
                           easycars._lead_score_row(), easycars.refresh_lead_scores(), easycars._rescore_after_weights(),
                           easycars.search_leads(text, integer), easycars._index_new_activity_partition()
    FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON easycars.lead_score_weight TO easycars_admin;
-- Lead scores: everyone reads the weights (a score is computed with the writer's rights), only
-- administrators change them; search runs with the caller's rights and row-level security.
REVOKE ALL ON easycars.lead_score_weights FROM easycars_admin;
GRANT SELECT ON easycars.lead_score_weight, easycars.lead_score_weights TO easycars_admin, easycars_analyst, easycars_sync;
GRANT EXECUTE ON FUNCTION easycars.lead_score(easycars.lead), easycars._lead_score_defaults(),
                          easycars.search_leads(text, integer), easycars.au_phone_e164(text)
    TO easycars_admin, easycars_sync, easycars_analyst;
GRANT EXECUTE ON FUNCTION easycars.refresh_lead_scores() TO easycars_admin, easycars_sync;
SELECT pg_catalog.pg_extension_config_dump('easycars.lead_score_weight', '');

-- Every sync run has one total deadline for its EasyCars calls (easycars.sync_deadline).
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

    -- The run's total deadline: every EasyCars call it makes ends by then, retries included, so
    -- a hung account costs one run (and one worker) at most easycars.sync_deadline.
    PERFORM set_config('easycars_run.deadline_at',
        extract(epoch FROM clock_timestamp()
                + coalesce(nullif(current_setting('easycars.sync_deadline', true), ''), '5 minutes')::interval)::text, true);
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
COMMENT ON FUNCTION easycars._begin_run(integer, text, text, easycars.sync_entity, boolean, jsonb) IS
    'Internal: checks and locks a sync run, confines the transaction to the dealership, sets the run''s deadline (easycars.sync_deadline from now) for its EasyCars calls, and writes its InProgress log, progress and activity rows.';
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
    -- Calls after the run (in the same transaction) are no longer bound by its deadline.
    PERFORM set_config('easycars_run.deadline_at', '', true);
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
    -- Nor are later scans counted as its progress.
    PERFORM set_config('easycars_run.label', '', true);
    RETURN log;
END
$$;
COMMENT ON FUNCTION easycars._finish_run(easycars.sync_log, easycars.sync_entity, text, integer, integer, integer, integer, integer, integer, jsonb, text, text) IS
    'Internal: records a run''s outcome in sync_log, sync_progress, sync_activity_log, sync_state and credentials.last_synced_at.';

-- What a stock sync changes is computed once (_stock_delta_sql), for the sync and its preview.
CREATE FUNCTION easycars._stock_delta_sql(p_keys text, p_feed text) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
SELECT format($q$
            -- Every item's key and digest (one fetch, two columns), then full rows only for what is
            -- new, changed, back from removal, or not storable; the wrapper filters on stock_number
            -- before building rows and reuses the statement's answer.
            WITH keys AS MATERIALIZED (%1$s),
            todo AS MATERIALIZED (
                SELECT coalesce(array_agg(k.stock_number), '{}') AS stock_numbers FROM keys k
                WHERE NOT EXISTS (SELECT 1 FROM easycars.vehicle v
                                  WHERE v.dealership_id = $1 AND v.data_source = 'EasyCars' AND v.status <> 'removed'
                                    AND v.easycars_stock_number = k.stock_number AND v.easycars_raw_md5 = k.raw_md5)
            ),
            feed AS MATERIALIZED (%2$s),
            -- Manual and Import vehicles are never overwritten: not by stock number, not by VIN.
            -- (Both lookups are hashed, so this stays linear in the size of the feed.)
            manual AS MATERIALIZED (
                SELECT easycars_stock_number, easycars_vin FROM easycars.vehicle
                WHERE dealership_id = $1 AND data_source <> 'EasyCars'
            ),
            blocked AS (
                SELECT f.stock_number FROM feed f
                WHERE f.stock_number IN (SELECT easycars_stock_number FROM manual WHERE easycars_stock_number IS NOT NULL)
                   OR f.easycars_vin IN (SELECT easycars_vin FROM manual WHERE easycars_vin IS NOT NULL)
            ),
            -- The vehicles to write (create, or update: changed, or back from removal): every valid
            -- item todo listed, the first of a repeated stock number, none that is blocked.
            changes AS (
                SELECT f.* FROM (SELECT DISTINCT ON (stock_number) * FROM feed WHERE valid ORDER BY stock_number) f
                WHERE NOT EXISTS (SELECT 1 FROM blocked b WHERE b.stock_number = f.stock_number)
            ),
            -- The vehicles to mark removed: EasyCars ones no longer in the feed.
            vanished AS (
                SELECT v.id, v.easycars_stock_number FROM easycars.vehicle v
                WHERE v.dealership_id = $1 AND v.data_source = 'EasyCars' AND v.status <> 'removed'
                  AND NOT EXISTS (SELECT 1 FROM keys k WHERE k.stock_number = v.easycars_stock_number)
            )
$q$, p_keys, p_feed)
$fn$;
COMMENT ON FUNCTION easycars._stock_delta_sql(text, text) IS
    'Internal: the WITH clause both sync_stock and preview_stock_sync build on: keys, todo, feed, blocked (Manual/Import vehicles), changes (the vehicles a sync writes) and vanished (those it marks removed), over a keys query and a feed query that may read todo; $1 is the dealership id.';
CREATE OR REPLACE FUNCTION easycars._stock_upsert_sql(p_keys text, p_feed text) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $fn$
SELECT easycars._stock_delta_sql(p_keys, p_feed) || $q$,
            upserted AS (
                INSERT INTO easycars.vehicle AS v (
                    dealership_id, make, model, year, price, mileage, status, condition, title, description, images,
                    easycars_stock_number, easycars_yard_code, easycars_vin, easycars_raw_data, easycars_raw_md5, data_source,
                    last_synced_from_easycars, exterior_color, interior_color, body, fuel_type, gear_type, engine_capacity,
                    door_count, features, yard_name, badge, series, rego_number, rego_state, rego_expiry, stock_status,
                    stock_type, is_used, is_demo, is_special, is_drive_away, special_price, drive_train, seat_capacity,
                    cylinders, engine_size_cc, power_kw, odometer_in_miles, video_url)
                SELECT $1, make, model, year, price, mileage, status, condition, title, description, images,
                       stock_number, easycars_yard_code, easycars_vin, easycars_raw_data, easycars_raw_md5, 'EasyCars',
                       now(), exterior_color, interior_color, body, fuel_type, gear_type, engine_capacity,
                       door_count, features, yard_name, badge, series, rego_number, rego_state, rego_expiry, stock_status,
                       stock_type, is_used, is_demo, is_special, is_drive_away, special_price, drive_train, seat_capacity,
                       cylinders, engine_size_cc, power_kw, odometer_in_miles, video_url
                FROM changes
                ON CONFLICT (dealership_id, easycars_stock_number) DO UPDATE SET
                    make = EXCLUDED.make, model = EXCLUDED.model, year = EXCLUDED.year, price = EXCLUDED.price,
                    mileage = EXCLUDED.mileage,
                    -- EasyCars may say sold; a local draft/pending status stays; a removed vehicle is back.
                    status = CASE WHEN EXCLUDED.status = 'sold' THEN 'sold' WHEN v.status = 'removed' THEN 'active' ELSE v.status END,
                    condition = EXCLUDED.condition, title = EXCLUDED.title, description = EXCLUDED.description,
                    images = EXCLUDED.images, easycars_yard_code = EXCLUDED.easycars_yard_code, easycars_vin = EXCLUDED.easycars_vin,
                    easycars_raw_data = EXCLUDED.easycars_raw_data, easycars_raw_md5 = EXCLUDED.easycars_raw_md5,
                    last_synced_from_easycars = EXCLUDED.last_synced_from_easycars,
                    exterior_color = EXCLUDED.exterior_color, interior_color = EXCLUDED.interior_color, body = EXCLUDED.body,
                    fuel_type = EXCLUDED.fuel_type, gear_type = EXCLUDED.gear_type, engine_capacity = EXCLUDED.engine_capacity,
                    door_count = EXCLUDED.door_count, features = EXCLUDED.features, yard_name = EXCLUDED.yard_name,
                    badge = EXCLUDED.badge, series = EXCLUDED.series, rego_number = EXCLUDED.rego_number,
                    rego_state = EXCLUDED.rego_state, rego_expiry = EXCLUDED.rego_expiry, stock_status = EXCLUDED.stock_status,
                    stock_type = EXCLUDED.stock_type, is_used = EXCLUDED.is_used, is_demo = EXCLUDED.is_demo,
                    is_special = EXCLUDED.is_special, is_drive_away = EXCLUDED.is_drive_away, special_price = EXCLUDED.special_price,
                    drive_train = EXCLUDED.drive_train, seat_capacity = EXCLUDED.seat_capacity, cylinders = EXCLUDED.cylinders,
                    engine_size_cc = EXCLUDED.engine_size_cc, power_kw = EXCLUDED.power_kw,
                    odometer_in_miles = EXCLUDED.odometer_in_miles, video_url = EXCLUDED.video_url,
                    removed_from_easycars_at = NULL
                -- An unchanged item writes nothing: no new tuple, no updated_at bump.
                WHERE v.data_source = 'EasyCars'
                  AND (v.easycars_raw_md5 IS DISTINCT FROM EXCLUDED.easycars_raw_md5 OR v.status = 'removed')
                RETURNING (v.xmax = 0) AS created
            ),
            removed AS (
                UPDATE easycars.vehicle v SET status = 'removed', removed_from_easycars_at = now()
                WHERE v.dealership_id = $1 AND v.id IN (SELECT id FROM vanished)
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM keys)::int AS fetched,
                   -- Invalid items, and repeats of a stock number after its first, are failed.
                   ((SELECT count(*) FROM feed WHERE NOT valid)
                    + (SELECT count(*) - count(DISTINCT stock_number) FROM feed WHERE valid))::int AS failed,
                   (SELECT count(*) FROM blocked)::int AS blocked,
                   (SELECT count(*) FILTER (WHERE created) FROM upserted)::int AS created,
                   (SELECT count(*) FILTER (WHERE NOT created) FROM upserted)::int AS updated,
                   (SELECT count(*) FROM removed)::int AS removed
$q$
$fn$;
COMMENT ON FUNCTION easycars._stock_upsert_sql(text, text) IS
    'Internal: the single statement of a stock sync over _stock_delta_sql: upserts changes, marks vanished removed, returns the counts; $1 is the dealership id.';
CREATE OR REPLACE FUNCTION easycars.preview_stock_sync(dealership_id integer, ttl interval DEFAULT '1 hour')
RETURNS jsonb
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET enable_nestloop = off
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
    -- The same delta the sync computes (_stock_delta_sql), over the same two passes: keys first,
    -- full rows only for what todo lists. Hash joins only (the function's SET), as in the sync.
    EXECUTE easycars._stock_delta_sql(easycars._stock_keys_sql(d),
                easycars._stock_feed_sql(d) || ' WHERE s.stock_number = ANY ((SELECT stock_numbers FROM todo)::text[])') || $q$
        SELECT jsonb_build_object(
            'create', coalesce((SELECT jsonb_agg(c.stock_number ORDER BY c.stock_number) FROM changes c
                                WHERE NOT EXISTS (SELECT 1 FROM easycars.vehicle v
                                                  WHERE v.dealership_id = $1 AND v.easycars_stock_number = c.stock_number)), '[]'),
            'update', coalesce((SELECT jsonb_agg(c.stock_number ORDER BY c.stock_number) FROM changes c
                                WHERE EXISTS (SELECT 1 FROM easycars.vehicle v
                                              WHERE v.dealership_id = $1 AND v.easycars_stock_number = c.stock_number)), '[]'),
            'remove', coalesce((SELECT jsonb_agg(easycars_stock_number ORDER BY easycars_stock_number) FROM vanished), '[]'),
            'skipped_manual', coalesce((SELECT jsonb_agg(stock_number ORDER BY stock_number) FROM blocked), '[]'),
            'invalid', coalesce((SELECT jsonb_agg(stock_number ORDER BY stock_number) FROM feed WHERE NOT valid), '[]'),
            'fetched', (SELECT count(*) FROM keys))
    $q$ INTO delta USING d;
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
COMMENT ON FUNCTION easycars.preview_stock_sync(integer, interval) IS
    'What sync_stock would do now, without touching easycars.vehicle, computed by the sync''s own delta (_stock_delta_sql): stock numbers to create, update and remove, Manual/Import vehicles it would skip, invalid items, counts. Stored in sync_preview_cache (key preview_stock_sync) until ttl passes.';
REVOKE EXECUTE ON FUNCTION easycars._stock_delta_sql(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION easycars._stock_delta_sql(text, text) TO easycars_admin, easycars_sync;

-- A run's foreign scans publish live counts under its label.
CREATE OR REPLACE FUNCTION easycars._report(p_log easycars.sync_log, p_phase text) RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    PERFORM set_config('application_name',
        left(format('easycars %s %s d=%s run=%s: %s', lower(p_log.sync_type), lower(p_log.sync_direction),
                    p_log.dealership_id, p_log.id, p_phase), 63), true);
    -- The run's foreign scans publish their live counts under this label (short, so that the
    -- counts fit in application_name's 63 bytes).
    PERFORM set_config('easycars_run.label',
        format('easycars %s d=%s run=%s', lower(p_log.sync_type), p_log.dealership_id, p_log.id), true);
    RAISE NOTICE 'easycars: % % sync of dealership %: %', p_log.sync_type, p_log.sync_direction, p_log.dealership_id, p_phase;
END
$$;
COMMENT ON FUNCTION easycars._report(easycars.sync_log, text) IS
    'Internal: publishes a run''s phase as application_name (visible in easycars.running_syncs) and as a NOTICE, and labels the run for the live counts its foreign scans publish.';

-- The stock upsert turns nested loops off with a SET clause, as the preview does.
CREATE OR REPLACE FUNCTION easycars._run_stock_upsert(p_keys text, p_feed text, p_dealership_id integer,
    OUT fetched integer, OUT failed integer, OUT blocked integer, OUT created integer, OUT updated integer, OUT removed integer)
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
SET enable_nestloop = off
AS $$
BEGIN
    EXECUTE easycars._stock_upsert_sql(p_keys, p_feed) INTO fetched, failed, blocked, created, updated, removed USING p_dealership_id;
END
$$;
COMMENT ON FUNCTION easycars._run_stock_upsert(text, text, integer) IS
    'Internal: runs the stock sync statement over a keys and a feed query for a dealership (hash joins only) and returns its counts.';

-- Existing leads get their score now.
SELECT easycars.refresh_lead_scores();
