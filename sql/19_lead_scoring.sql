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
