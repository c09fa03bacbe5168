-- Stock in: the feed mapping, the one-statement upsert, the sync and its preview.

-- The feed as vehicle rows: every mapping rule of the stock sync in one place (the sync and the
-- preview both read it).
CREATE FUNCTION easycars._stock_feed_sql(p_dealership_id integer) RETURNS text
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
COMMENT ON FUNCTION easycars._stock_feed_sql(integer) IS
    'Internal: the SELECT that maps a dealership''s EasyCars stock feed to vehicle columns (used by sync_stock and preview_stock_sync).';

-- The stock upsert statement over any feed query ($1 = dealership id); sync_stock runs it on the
-- foreign table, the benchmark on a local staging table to measure the floor.
-- The first pass of a stock sync: every item's key and digest, two columns built per item.
CREATE FUNCTION easycars._stock_keys_sql(p_dealership_id integer) RETURNS text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT format('SELECT s.stock_number, s.raw_md5 FROM easycars_remote.%I AS s', 'stock_d' || p_dealership_id) $$;
COMMENT ON FUNCTION easycars._stock_keys_sql(integer) IS
    'Internal: the SELECT of stock numbers and item digests that starts a stock sync.';

-- What a stock sync changes, computed once: sync_stock writes exactly these rows and
-- preview_stock_sync reports exactly these rows, so a preview is what the sync then does.
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

-- The stock upsert statement over any feed query ($1 = dealership id); sync_stock runs it on the
-- foreign table, the benchmark on a local staging table to measure the floor.
CREATE FUNCTION easycars._stock_upsert_sql(p_keys text, p_feed text) RETURNS text
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

-- Runs the stock upsert. Right after a large first sync the planner has no statistics yet and
-- would pick nested-loop anti joins (quadratic in the feed); hashing is always right here, so the
-- function turns nested loops off for its own statements (and preview_stock_sync does the same).
CREATE FUNCTION easycars._run_stock_upsert(p_keys text, p_feed text, p_dealership_id integer,
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

CREATE FUNCTION easycars.sync_stock(dealership_id integer, wait boolean DEFAULT false)
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
COMMENT ON FUNCTION easycars.sync_stock(integer, boolean) IS
    'Syncs a dealership''s EasyCars stock into easycars.vehicle in one INSERT ... SELECT ... ON CONFLICT from its foreign table: creates new vehicles, updates changed ones (unchanged ones are not written), marks vanished ones removed (and back if they return), never touches Manual or Import vehicles. Logged in sync_log (returned), sync_progress, sync_activity_log and sync_state; an API failure leaves vehicles as they were and a Failed log. A concurrent run returns at once as Skipped unless wait => true.';


CREATE FUNCTION easycars.preview_stock_sync(dealership_id integer, ttl interval DEFAULT '1 hour')
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
