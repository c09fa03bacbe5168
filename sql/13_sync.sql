-- Syncs as SQL: stock in, leads out and in, previews, scheduling with pg_cron, monitoring views.

-- Internal home of the per-dealership foreign tables the syncs read and write.
CREATE SCHEMA easycars_remote;
COMMENT ON SCHEMA easycars_remote IS
    'Internal: the foreign tables (stock_d<N>, leads_d<N>) that easycars syncs use, one easycars_fdw server (easycars_d<N>) per dealership. Made by easycars._ensure_remote(); not for direct use.';

-- Creates (once) the server and foreign tables a dealership's syncs use. SECURITY DEFINER: the
-- callers (easycars_sync, easycars_admin) may use but not create servers.
CREATE FUNCTION easycars._ensure_remote(p_dealership_id integer) RETURNS void
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
COMMENT ON FUNCTION easycars._ensure_remote(integer) IS
    'Internal: creates the easycars_fdw server and foreign tables a dealership''s syncs use, if missing.';

-- The start of every run: checks, tenant, lock, log row, progress row.
CREATE FUNCTION easycars._begin_run(p_dealership_id integer, p_type text, p_direction text, p_entity easycars.sync_entity,
                                    p_wait boolean, p_request jsonb)
RETURNS easycars.sync_log
LANGUAGE plpgsql
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
        PERFORM pg_advisory_xact_lock(hashtext('easycars.sync.' || p_type || '.' || p_direction), p_dealership_id);
    ELSIF NOT pg_try_advisory_xact_lock(hashtext('easycars.sync.' || p_type || '.' || p_direction), p_dealership_id) THEN
        UPDATE easycars.sync_log SET status = 'Skipped', completed_at = clock_timestamp(),
               error_message = 'another ' || lower(p_type) || ' ' || lower(p_direction) || ' sync of this dealership is running'
        WHERE dealership_id = p_dealership_id AND id = log.id
        RETURNING * INTO log;
        RAISE NOTICE 'easycars: % % sync of dealership % skipped: another one is running', p_type, p_direction, p_dealership_id;
        RETURN log;
    END IF;

    PERFORM easycars._ensure_remote(p_dealership_id);
    INSERT INTO easycars.sync_progress (dealership_id, sync_id, entity_type, metadata)
    VALUES (p_dealership_id, log.id::text, p_entity, jsonb_build_object('direction', p_direction));
    INSERT INTO easycars.sync_activity_log (dealership_id, sync_id, entity_type, action, status)
    VALUES (p_dealership_id, log.id::text, p_entity, 'sync_start', 'in_progress');
    PERFORM easycars._report(log, 'started');
    RETURN log;
END
$$;
COMMENT ON FUNCTION easycars._begin_run(integer, text, text, easycars.sync_entity, boolean, jsonb) IS
    'Internal: checks and locks a sync run, confines the transaction to the dealership, and writes its InProgress log, progress and activity rows.';

-- Progress another session can see at once: application_name shows in pg_stat_activity without
-- waiting for this transaction to commit (see easycars.running_syncs).
CREATE FUNCTION easycars._report(p_log easycars.sync_log, p_phase text) RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM set_config('application_name',
        left(format('easycars %s %s d=%s run=%s: %s', lower(p_log.sync_type), lower(p_log.sync_direction),
                    p_log.dealership_id, p_log.id, p_phase), 63), true);
    RAISE NOTICE 'easycars: % % sync of dealership %: %', p_log.sync_type, p_log.sync_direction, p_log.dealership_id, p_phase;
END
$$;
COMMENT ON FUNCTION easycars._report(easycars.sync_log, text) IS
    'Internal: publishes a run''s phase as application_name (visible in easycars.running_syncs) and as a NOTICE.';

-- The end of every run: log, progress, activity, state, credentials.
CREATE FUNCTION easycars._finish_run(p_log easycars.sync_log, p_entity easycars.sync_entity, p_status text,
                                     p_processed integer, p_created integer, p_updated integer, p_unchanged integer,
                                     p_removed integer, p_failed integer, p_summary jsonb,
                                     p_error text DEFAULT NULL, p_details text DEFAULT NULL)
RETURNS easycars.sync_log
LANGUAGE plpgsql
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
        -- Progress of a failed run is closed without claiming its items were processed.
        UPDATE easycars.sync_progress SET completed_at = clock_timestamp(), metadata = metadata || jsonb_build_object('status', 'Failed')
        WHERE dealership_id = log.dealership_id AND sync_id = log.id::text;
        INSERT INTO easycars.sync_activity_log (dealership_id, sync_id, entity_type, action, status, duration_seconds, error_message)
        VALUES (log.dealership_id, log.id::text, p_entity, 'error_recovery', 'failed',
                round(extract(epoch FROM log.completed_at - log.started_at), 2), left(p_error, 1000));
        INSERT INTO easycars.sync_state AS s (dealership_id, entity_type, last_error, last_error_at)
        VALUES (log.dealership_id, p_entity, p_error, now())
        ON CONFLICT (dealership_id, entity_type) DO UPDATE SET last_error = EXCLUDED.last_error, last_error_at = EXCLUDED.last_error_at;
    ELSE
        -- Completing the progress row logs sync_complete through its trigger.
        UPDATE easycars.sync_progress SET total_items = total, current_item = total,
               processed_count = total - least(greatest(p_failed, 0), total), failed_count = least(greatest(p_failed, 0), total),
               completed_at = CASE WHEN total = 0 THEN clock_timestamp() END,
               metadata = metadata || jsonb_build_object('status', p_status)
        WHERE dealership_id = log.dealership_id AND sync_id = log.id::text;
        INSERT INTO easycars.sync_state AS s (dealership_id, entity_type, last_full_sync, last_incremental_sync, records_synced)
        VALUES (log.dealership_id, p_entity,
                CASE WHEN p_entity = 'stock' THEN now() END, CASE WHEN p_entity <> 'stock' THEN now() END, total)
        ON CONFLICT (dealership_id, entity_type) DO UPDATE SET
            last_full_sync = coalesce(EXCLUDED.last_full_sync, s.last_full_sync),
            last_incremental_sync = coalesce(EXCLUDED.last_incremental_sync, s.last_incremental_sync),
            records_synced = EXCLUDED.records_synced, last_error = NULL, last_error_at = NULL;
        UPDATE easycars.credentials SET last_synced_at = now() WHERE dealership_id = log.dealership_id;
    END IF;
    PERFORM easycars._report(log, lower(p_status));
    PERFORM set_config('application_name', '', true);
    RETURN log;
END
$$;
COMMENT ON FUNCTION easycars._finish_run(easycars.sync_log, easycars.sync_entity, text, integer, integer, integer, integer, integer, integer, jsonb, text, text) IS
    'Internal: records a run''s outcome in sync_log, sync_progress, sync_activity_log, sync_state and credentials.last_synced_at.';

-- The feed as vehicle rows: every mapping rule of the stock sync in one place (the sync and the
-- preview both read it).
CREATE FUNCTION easycars._stock_feed_sql(p_dealership_id integer) RETURNS text
LANGUAGE sql IMMUTABLE
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
COMMENT ON FUNCTION easycars._stock_feed_sql(integer) IS
    'Internal: the SELECT that maps a dealership''s EasyCars stock feed to vehicle columns (used by sync_stock and preview_stock_sync).';

-- The stock upsert statement over any feed query ($1 = dealership id); sync_stock runs it on the
-- foreign table, the benchmark on a local staging table to measure the floor.
-- The first pass of a stock sync: every item's key and digest, two columns built per item.
CREATE FUNCTION easycars._stock_keys_sql(p_dealership_id integer) RETURNS text
LANGUAGE sql IMMUTABLE
AS $$ SELECT format('SELECT s.stock_number, s.raw_md5 FROM easycars_remote.%I AS s', 'stock_d' || p_dealership_id) $$;
COMMENT ON FUNCTION easycars._stock_keys_sql(integer) IS
    'Internal: the SELECT of stock numbers and item digests that starts a stock sync.';

CREATE FUNCTION easycars._stock_upsert_sql(p_keys text, p_feed text) RETURNS text
LANGUAGE sql IMMUTABLE
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
                FROM (SELECT DISTINCT ON (stock_number) * FROM feed WHERE valid ORDER BY stock_number) f
                WHERE NOT EXISTS (SELECT 1 FROM blocked b WHERE b.stock_number = f.stock_number)
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
                WHERE v.dealership_id = $1 AND v.data_source = 'EasyCars' AND v.status <> 'removed'
                  AND NOT EXISTS (SELECT 1 FROM keys k WHERE k.stock_number = v.easycars_stock_number)
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
$q$, p_keys, p_feed)
$fn$;
COMMENT ON FUNCTION easycars._stock_upsert_sql(text, text) IS
    'Internal: the single statement of a stock sync (keys, upsert of new and changed items, removals, counts) over a keys query and a feed query, which may read the CTE todo (stock_numbers to build); $1 is the dealership id.';

-- Runs the stock upsert. Right after a large first sync the planner has no statistics yet and
-- would pick nested-loop anti joins (quadratic in the feed); hashing is always right here.
CREATE FUNCTION easycars._run_stock_upsert(p_keys text, p_feed text, p_dealership_id integer,
    OUT fetched integer, OUT failed integer, OUT blocked integer, OUT created integer, OUT updated integer, OUT removed integer)
LANGUAGE plpgsql
AS $$
DECLARE
    nestloop text := current_setting('enable_nestloop');
BEGIN
    PERFORM set_config('enable_nestloop', 'off', true);
    EXECUTE easycars._stock_upsert_sql(p_keys, p_feed) INTO fetched, failed, blocked, created, updated, removed USING p_dealership_id;
    PERFORM set_config('enable_nestloop', nestloop, true);
END
$$;
COMMENT ON FUNCTION easycars._run_stock_upsert(text, text, integer) IS
    'Internal: runs the stock sync statement over a keys and a feed query for a dealership (hash joins only) and returns its counts.';

CREATE FUNCTION easycars.sync_stock(dealership_id integer, wait boolean DEFAULT false)
RETURNS easycars.sync_log
LANGUAGE plpgsql
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
                   r.fetched, r.created, r.updated, r.fetched - r.created - r.updated - r.failed - r.blocked, r.removed, r.failed,
                   jsonb_build_object('fetched', r.fetched, 'created', r.created, 'updated', r.updated, 'removed', r.removed,
                                      'failed', r.failed, 'skipped_manual', r.blocked),
                   CASE WHEN r.failed > 0 THEN format('%s item(s) could not be stored (blank, over-long or repeated stock number, year outside 1885-2100, negative or over-large price, YardCode over 50 characters)', r.failed) END);
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        -- The data changes are rolled back with this block; the log row above survives as Failed.
        -- A cancel or statement_timeout ends the run the same way: stopped, rolled back, logged.
        GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, state = RETURNED_SQLSTATE, detail = PG_EXCEPTION_DETAIL,
                                hint = PG_EXCEPTION_HINT, ctx = PG_EXCEPTION_CONTEXT;
        log := easycars._finish_run(log, 'stock', 'Failed', 0, 0, 0, 0, 0, 0, jsonb_build_object('sqlstate', state), msg,
                   concat_ws(E'\n', 'SQLSTATE ' || state, 'DETAIL: ' || detail, 'HINT: ' || hint, 'CONTEXT: ' || ctx));
    END;
    RETURN log;
END
$$;
COMMENT ON FUNCTION easycars.sync_stock(integer, boolean) IS
    'Syncs a dealership''s EasyCars stock into easycars.vehicle in one INSERT ... SELECT ... ON CONFLICT from its foreign table: creates new vehicles, updates changed ones (unchanged ones are not written), marks vanished ones removed (and back if they return), never touches Manual or Import vehicles. Logged in sync_log (returned), sync_progress, sync_activity_log and sync_state; an API failure leaves vehicles as they were and a Failed log. A concurrent run returns at once as Skipped unless wait => true.';

-- Lead enums, EasyCars codes to our labels and back.
CREATE FUNCTION easycars._lead_status_code(p_status text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT CASE p_status WHEN 'new' THEN 10 WHEN 'in_progress' THEN 30 WHEN 'won' THEN 50 WHEN 'lost' THEN 60 WHEN 'deleted' THEN 90 END $$;
COMMENT ON FUNCTION easycars._lead_status_code(text) IS 'Internal: lead.status as EasyCars LeadStatus (new 10, in_progress 30, won 50, lost 60, deleted 90).';

CREATE FUNCTION easycars._enum_code(p_kind text, p_label text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
SELECT CASE p_kind
    WHEN 'interest' THEN array_position(ARRAY['Buy', 'Lease', 'Sell', 'TestDrive', 'Service'], p_label)
    WHEN 'rating' THEN array_position(ARRAY['Cold', 'Warm', 'Hot'], p_label)
    WHEN 'finance' THEN array_position(ARRAY['Yes', 'No', 'Maybe'], p_label)
    WHEN 'vehicle_type' THEN array_position(ARRAY['Car', 'MotorBike', 'Boat', 'Caravan', 'TruckOrBus', 'Trailer'], p_label)
END
$$;
COMMENT ON FUNCTION easycars._enum_code(text, text) IS
    'Internal: EasyCars code of a lead label (VehicleInterest Buy=1..Service=5, Rating Cold=1..Hot=3, FinanceStatus Yes=1/No=2/Maybe=3, VehicleType Car=1..Trailer=6).';

-- What a push sends that the dealer can change; a lead whose digest differs from the one last
-- pushed has local changes to push (content, not clocks: a refresh from EasyCars is no change).
CREATE FUNCTION easycars._lead_push_digest(l easycars.lead) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
    SELECT md5(jsonb_build_array(l.message, l.rating, l.finance_status, l.vehicle_interest_type, l.status,
                                 l.name, l.email, l.phone, l.mobile)::text)
$$;
COMMENT ON FUNCTION easycars._lead_push_digest(easycars.lead) IS
    'Internal: digest of the lead fields push_leads sends with UpdateLead; compared with lead.easycars_push_digest to find local changes.';

-- Pushes one local lead: CreateLead if it has no EasyCars number yet, else UpdateLead. Raises on failure.
CREATE FUNCTION easycars._push_lead(p_dealership_id integer, p_lead_id bigint) RETURNS text
LANGUAGE plpgsql
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
                           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)$q$, tbl)
        USING l.v_stock_number, coalesce(l.v_make, l.vehicle_make), coalesce(l.v_model, l.vehicle_model),
              coalesce(l.v_price, l.vehicle_price),
              coalesce(easycars._enum_code('vehicle_type', l.vehicle_type),
                       CASE l.v_stock_type WHEN 'A' THEN 1 WHEN 'M' THEN 2 WHEN 'B' THEN 3 WHEN 'C' THEN 4 WHEN 'H' THEN 5 WHEN 'T' THEN 6 END, 1),
              coalesce(l.v_year, l.vehicle_year), coalesce(l.is_vehicle_new, l.v_condition = 'new'),
              coalesce(easycars._enum_code('interest', l.vehicle_interest_type), 1),
              l.message, l.source_page_url, easycars._enum_code('finance', l.finance_status), easycars._enum_code('rating', l.rating),
              l.id::text, l.easycars_customer_no, l.name, l.email, l.phone, l.mobile, l.customer_state, l.customer_postcode;
        SELECT * INTO made FROM easycars.fdw_insert_results() r WHERE r.entity = 'leads' AND r.external_id = l.id::text ORDER BY r.created_at DESC LIMIT 1;
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
COMMENT ON FUNCTION easycars._push_lead(integer, bigint) IS
    'Internal: pushes one lead to EasyCars (CreateLead with ExternalID = the local id, storing the returned numbers at once; or UpdateLead) and raises on failure.';

CREATE FUNCTION easycars._leads_to_push(p_dealership_id integer) RETURNS SETOF bigint
LANGUAGE sql STABLE
AS $$
    SELECT l.id FROM easycars.lead l
    WHERE l.dealership_id = p_dealership_id
      AND ((l.easycars_lead_number IS NULL AND l.status <> 'deleted')
           OR (l.easycars_lead_number IS NOT NULL AND l.easycars_push_digest IS DISTINCT FROM easycars._lead_push_digest(l)))
    ORDER BY l.id
$$;
COMMENT ON FUNCTION easycars._leads_to_push(integer) IS
    'Internal: leads of a dealership that are not yet in EasyCars, or whose pushed fields changed since their last push.';

CREATE FUNCTION easycars.push_leads(dealership_id integer, wait boolean DEFAULT false)
RETURNS easycars.sync_log
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    d integer := push_leads.dealership_id;
    log easycars.sync_log;
    todo bigint[];
    lead_id bigint;
    outcome text;
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
    UPDATE easycars.sync_progress SET total_items = cardinality(todo)
    WHERE sync_progress.dealership_id = d AND sync_id = log.id::text;
    FOREACH lead_id IN ARRAY todo LOOP
        BEGIN
            outcome := easycars._push_lead(d, lead_id);
            IF outcome = 'created' THEN n_created := n_created + 1; ELSE n_updated := n_updated + 1; END IF;
        EXCEPTION WHEN query_canceled THEN
            -- Stop at once, but keep the numbers of the leads already created in EasyCars.
            GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
            cancelled := msg;
            EXIT;
        WHEN OTHERS THEN
            -- One lead's failure (e.g. a Code 7 validation) is recorded and does not stop the others.
            GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
            n_failed := n_failed + 1;
            failures := failures || jsonb_build_object('lead_id', lead_id, 'error', msg);
            UPDATE easycars.lead SET last_push_error = msg WHERE easycars.lead.dealership_id = d AND id = lead_id;
        END;
        UPDATE easycars.sync_progress SET current_item = n_created + n_updated + n_failed,
               processed_count = n_created + n_updated, failed_count = n_failed
        WHERE sync_progress.dealership_id = d AND sync_id = log.id::text;
        PERFORM easycars._report(log, format('%s pushed, %s failed', n_created + n_updated, n_failed));
    END LOOP;
    IF cancelled IS NOT NULL THEN
        RETURN easycars._finish_run(log, 'lead', 'Failed', n_created + n_updated + n_failed, n_created, n_updated, 0, 0, n_failed,
                   jsonb_build_object('created', n_created, 'updated', n_updated, 'failed', n_failed, 'failures', failures, 'cancelled', true),
                   cancelled, format('stopped after %s of %s lead(s); the pushed ones keep their EasyCars numbers', n_created + n_updated + n_failed, cardinality(todo)));
    END IF;
    RETURN easycars._finish_run(log, 'lead', CASE WHEN n_failed > 0 THEN 'Warning' ELSE 'Success' END,
               n_created + n_updated + n_failed, n_created, n_updated, 0, 0, n_failed,
               jsonb_build_object('created', n_created, 'updated', n_updated, 'failed', n_failed, 'failures', failures),
               CASE WHEN n_failed > 0 THEN format('%s lead(s) could not be pushed; see response_summary and lead.last_push_error', n_failed) END);
END
$$;
COMMENT ON FUNCTION easycars.push_leads(integer, boolean) IS
    'Pushes a dealership''s leads to EasyCars: CreateLead for leads without an EasyCars number (ExternalID = local id; the returned LeadNumber and CustomerNo are stored at once), UpdateLead for leads whose notes, rating, finance status, interest, status or contact details changed since their last push (last_synced_to_easycars). A failing lead is recorded in lead.last_push_error and the log (status Warning) and does not stop the others. In one transaction; run_due_syncs() commits after every lead instead.';

CREATE FUNCTION easycars.sync_leads(dealership_id integer, wait boolean DEFAULT false)
RETURNS easycars.sync_log
LANGUAGE plpgsql
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
                   cardinality(numbers), 0, r.updated, r.fetched - r.updated, 0, cardinality(numbers) - r.fetched,
                   jsonb_build_object('requested', cardinality(numbers), 'found', r.fetched, 'updated', r.updated),
                   CASE WHEN r.fetched < cardinality(numbers) THEN format('%s lead number(s) were not found in EasyCars', cardinality(numbers) - r.fetched) END);
    EXCEPTION WHEN OTHERS OR query_canceled THEN
        GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, state = RETURNED_SQLSTATE;
        log := easycars._finish_run(log, 'lead', 'Failed', 0, 0, 0, 0, 0, 0, jsonb_build_object('sqlstate', state), msg, 'SQLSTATE ' || state);
    END;
    RETURN log;
END
$$;
COMMENT ON FUNCTION easycars.sync_leads(integer, boolean) IS
    'Refreshes every local lead that has an EasyCars lead number from GetLeadDetail (fetched concurrently): raw data, customer number, interest, rating and finance status; local contact details and status are kept (they are pushed by push_leads). Logged like every sync.';

CREATE FUNCTION easycars.preview_stock_sync(dealership_id integer, ttl interval DEFAULT '1 hour')
RETURNS jsonb
LANGUAGE plpgsql
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
COMMENT ON FUNCTION easycars.preview_stock_sync(integer, interval) IS
    'What sync_stock would do now, without touching easycars.vehicle: stock numbers to create, update and remove, Manual/Import vehicles it would skip, invalid items, counts. Stored in sync_preview_cache (key preview_stock_sync) until ttl passes.';

CREATE PROCEDURE easycars.run_due_syncs(what pg_catalog.text DEFAULT 'all')
LANGUAGE plpgsql
AS $$
DECLARE
    -- SECURITY: a procedure that COMMITs cannot carry SET search_path, and pg_cron may run it as a
    -- superuser: every name here is qualified, and search_path is pinned for the whole call.
    d pg_catalog.int4;
    lead_id pg_catalog.int8;
    log easycars.sync_log;
    msg pg_catalog.text;
    caller_path pg_catalog.text := pg_catalog.current_setting('search_path');
BEGIN
    PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', false);
    IF what IS NULL OR what NOT IN ('all', 'stock', 'leads') THEN
        RAISE EXCEPTION 'what must be all, stock or leads' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- A replica cannot write; the primary runs the same schedule.
    IF pg_is_in_recovery() THEN
        RAISE NOTICE 'easycars.run_due_syncs: this server is a replica; nothing to do';
        PERFORM pg_catalog.set_config('search_path', caller_path, false);
        RETURN;
    END IF;
    -- This month's activity partition exists before the runs log into it; committed at once, so
    -- the DDL locks are not held across the syncs.
    PERFORM easycars._ensure_partitions();
    COMMIT;
    -- The dealerships with active credentials that this role may sync.
    FOR d IN SELECT x FROM easycars._syncable_dealerships() AS x LOOP
        -- Each dealership's work commits on its own: one dealership's failure never rolls back another's.
        IF what IN ('all', 'stock') THEN
            BEGIN
                PERFORM easycars.sync_stock(d);
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
                RAISE WARNING 'easycars: stock sync of dealership % failed: %', d, msg;
            END;
            COMMIT;
        END IF;
        IF what IN ('all', 'leads') THEN
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
                IF NOT pg_try_advisory_lock(hashtext('easycars.sync.Lead.Outbound'), d) THEN
                    PERFORM set_config('app.current_dealership_id', d::text, true);
                    UPDATE easycars.sync_log SET status = 'Skipped', completed_at = clock_timestamp(),
                           error_message = 'another lead outbound sync of this dealership is running'
                    WHERE dealership_id = d AND id = log.id;
                    UPDATE easycars.sync_progress SET completed_at = clock_timestamp() WHERE dealership_id = d AND sync_id = log.id::text;
                    COMMIT;
                    log := NULL;
                END IF;
            END IF;
            IF log.status = 'InProgress' THEN
                DECLARE
                    n_ok integer := 0; n_failed integer := 0;
                BEGIN
                    FOR lead_id IN SELECT easycars._leads_to_push(d) LOOP
                        BEGIN
                            PERFORM set_config('app.current_dealership_id', d::text, true);
                            PERFORM easycars._push_lead(d, lead_id);
                            n_ok := n_ok + 1;
                        EXCEPTION WHEN OTHERS THEN
                            GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
                            n_failed := n_failed + 1;
                            UPDATE easycars.lead SET last_push_error = msg WHERE dealership_id = d AND id = lead_id;
                        END;
                        COMMIT;
                    END LOOP;
                    PERFORM set_config('app.current_dealership_id', d::text, true);
                    PERFORM easycars._finish_run(log, 'lead', CASE WHEN n_failed > 0 THEN 'Warning' ELSE 'Success' END,
                        n_ok + n_failed, 0, n_ok, 0, 0, n_failed, jsonb_build_object('pushed', n_ok, 'failed', n_failed),
                        CASE WHEN n_failed > 0 THEN format('%s lead(s) could not be pushed; see lead.last_push_error', n_failed) END);
                    PERFORM pg_advisory_unlock(hashtext('easycars.sync.Lead.Outbound'), d);
                END;
            END IF;
            COMMIT;
            BEGIN
                PERFORM easycars.sync_leads(d);
            EXCEPTION WHEN OTHERS THEN
                GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT;
                RAISE WARNING 'easycars: lead refresh of dealership % failed: %', d, msg;
            END;
            COMMIT;
        END IF;
    END LOOP;
    PERFORM pg_catalog.set_config('search_path', caller_path, false);
END
$$;
COMMENT ON PROCEDURE easycars.run_due_syncs(text) IS
    'For pg_cron (CALL must be the job''s only command): makes sure this month''s activity partition exists, then syncs every dealership with active credentials in turn, each step in its own transaction (stock; leads pushed one per transaction; leads refreshed). what: all, stock or leads. A no-op on a replica.';

CREATE FUNCTION easycars.schedule_syncs(stock_cron text DEFAULT '*/15 * * * *', leads_cron text DEFAULT '5 * * * *')
RETURNS TABLE (job_name text, schedule text, command text, jobid bigint)
LANGUAGE plpgsql
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
    -- Named jobs: scheduling again replaces them instead of adding duplicates.
    RETURN QUERY
    SELECT j.name, j.sched, j.cmd, cron.schedule(j.name, j.sched, j.cmd)
    FROM (VALUES ('easycars-stock', stock_cron, 'CALL easycars.run_due_syncs(''stock'')'),
                 ('easycars-leads', leads_cron, 'CALL easycars.run_due_syncs(''leads'')')) AS j(name, sched, cmd);
END
$$;
COMMENT ON FUNCTION easycars.schedule_syncs(text, text) IS
    'Schedules the pg_cron jobs easycars-stock (CALL easycars.run_due_syncs(''stock''), default every 15 minutes) and easycars-leads (default hourly at :05); re-running replaces them. Jobs run as the calling role. Errors clearly when pg_cron is not installed.';

CREATE FUNCTION easycars.unschedule_syncs() RETURNS integer
LANGUAGE plpgsql
AS $$
DECLARE
    n integer := 0;
    j record;
BEGIN
    IF to_regnamespace('cron') IS NULL THEN
        RAISE EXCEPTION 'pg_cron is not installed in this database' USING ERRCODE = 'undefined_object';
    END IF;
    FOR j IN SELECT jobname FROM cron.job WHERE jobname IN ('easycars-stock', 'easycars-leads') LOOP
        PERFORM cron.unschedule(j.jobname);
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;
COMMENT ON FUNCTION easycars.unschedule_syncs() IS 'Removes the pg_cron jobs made by easycars.schedule_syncs(); returns how many were removed.';

-- Monitoring (security_invoker: RLS of the reader applies).
CREATE VIEW easycars.recent_failed_syncs WITH (security_invoker = true) AS
SELECT dealership_id, id AS sync_log_id, sync_type, sync_direction, started_at, completed_at, error_message,
       records_processed, records_failed
FROM easycars.sync_log
WHERE status = 'Failed' AND started_at >= now() - interval '24 hours'
ORDER BY started_at DESC;
COMMENT ON VIEW easycars.recent_failed_syncs IS 'Failed syncs of the last 24 hours, newest first (seed 000''s monitoring query).';

CREATE VIEW easycars.sync_performance_7d WITH (security_invoker = true) AS
SELECT date(started_at) AS sync_date, sync_type, sync_direction, count(*) AS total_syncs,
       count(*) FILTER (WHERE status = 'Success') AS successful,
       count(*) FILTER (WHERE status = 'Warning') AS warnings,
       count(*) FILTER (WHERE status = 'Failed') AS failed,
       count(*) FILTER (WHERE status = 'Skipped') AS skipped,
       sum(records_processed) AS total_records,
       round(avg(extract(epoch FROM completed_at - started_at)), 3) AS avg_duration_seconds
FROM easycars.sync_log
WHERE started_at >= now() - interval '7 days' AND completed_at IS NOT NULL
GROUP BY 1, 2, 3
ORDER BY 1 DESC, 2, 3;
COMMENT ON VIEW easycars.sync_performance_7d IS 'Syncs per day, type and direction over the last 7 days: counts by outcome, records, average duration (seed 000''s report).';

-- Only runs of dealerships the reader may act for (the dealership is in application_name).
CREATE VIEW easycars.running_syncs WITH (security_invoker = true, security_barrier = true) AS
SELECT a.pid, a.application_name AS progress, now() - a.xact_start AS running_for, a.state, a.wait_event_type, a.wait_event
FROM pg_catalog.pg_stat_activity a
WHERE a.application_name LIKE 'easycars %'
  AND easycars.may_act_for(pg_catalog.substring(a.application_name, ' d=([0-9]{1,9}) ')::integer);
COMMENT ON VIEW easycars.running_syncs IS
    'Sync runs in progress right now, from any session, with their current phase (published as application_name, visible before the run commits).';
