-- Leads out (CreateLead, UpdateLead) and in (GetLeadDetail).

-- Lead enums: easycars._enum_code(), _lead_status_code() and _enum_labels() are written in Rust
-- (src/lead_enums.rs) from the one definition the wrapper uses too.
COMMENT ON FUNCTION easycars._lead_status_code(text) IS 'Internal: lead.status as EasyCars LeadStatus (new 10, in_progress 30, won 50, lost 60, deleted 90).';
COMMENT ON FUNCTION easycars._enum_code(text, text) IS
    'Internal: EasyCars code of a lead label (VehicleInterest Buy=1..Service=5, Rating Cold=1..Hot=3, FinanceStatus Yes=1/No=2/Maybe=3, VehicleType Car=1..Trailer=6).';
COMMENT ON FUNCTION easycars._enum_labels(text) IS
    'Internal: the labels of a lead enum in code order (interest, rating, finance, vehicle_type, status), as the lead table''s CHECK constraints list them.';

-- What a push sends that the dealer can change; a lead whose digest differs from the one last
-- pushed has local changes to push (content, not clocks: a refresh from EasyCars is no change).
CREATE FUNCTION easycars._lead_push_digest(l easycars.lead) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT md5(jsonb_build_array(l.message, l.rating, l.finance_status, l.vehicle_interest_type, l.status,
                                 l.name, l.email, l.phone, l.mobile)::text)
$$;
COMMENT ON FUNCTION easycars._lead_push_digest(easycars.lead) IS
    'Internal: digest of the lead fields push_leads sends with UpdateLead; compared with lead.easycars_push_digest to find local changes.';

-- Pushes one local lead: CreateLead if it has no EasyCars number yet, else UpdateLead. Raises on failure.
CREATE FUNCTION easycars._push_lead(p_dealership_id integer, p_lead_id bigint) RETURNS text
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
COMMENT ON FUNCTION easycars._push_lead(integer, bigint) IS
    'Internal: pushes one lead to EasyCars (CreateLead with ExternalID = the local id, storing the returned numbers at once; or UpdateLead) and raises on failure.';

CREATE FUNCTION easycars._leads_to_push(p_dealership_id integer) RETURNS SETOF bigint
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT l.id FROM easycars.lead l
    WHERE l.dealership_id = p_dealership_id
      AND ((l.easycars_lead_number IS NULL AND l.status <> 'deleted')
           OR (l.easycars_lead_number IS NOT NULL AND l.easycars_push_digest IS DISTINCT FROM easycars._lead_push_digest(l)))
    ORDER BY l.id
$$;
COMMENT ON FUNCTION easycars._leads_to_push(integer) IS
    'Internal: leads of a dealership that are not yet in EasyCars, or whose pushed fields changed since their last push.';

-- One lead pushed the way every push path does it: the outcome (created, updated or failed), and a
-- failure recorded on the lead without stopping the caller. A cancel is not caught: it stops the run.
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

-- A push run's counts as progress another session can read (after commit) and as its phase now.
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

CREATE FUNCTION easycars.push_leads(dealership_id integer, wait boolean DEFAULT false)
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
COMMENT ON FUNCTION easycars.push_leads(integer, boolean) IS
    'Pushes a dealership''s leads to EasyCars: CreateLead for leads without an EasyCars number (ExternalID = local id; the returned LeadNumber and CustomerNo are stored at once), UpdateLead for leads whose notes, rating, finance status, interest, status or contact details changed since their last push (last_synced_to_easycars). A failing lead is recorded in lead.last_push_error and the log (status Warning) and does not stop the others. In one transaction; run_due_syncs() commits after every lead instead.';

CREATE FUNCTION easycars.sync_leads(dealership_id integer, wait boolean DEFAULT false)
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
COMMENT ON FUNCTION easycars.sync_leads(integer, boolean) IS
    'Refreshes every local lead that has an EasyCars lead number from GetLeadDetail (fetched concurrently): raw data, customer number, interest, rating and finance status; local contact details and status are kept (they are pushed by push_leads). Logged like every sync.';
