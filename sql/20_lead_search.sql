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
