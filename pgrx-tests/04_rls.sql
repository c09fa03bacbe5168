-- Row-level security: a dealership sees and writes only its own rows in every tenant table;
-- an unset or malformed tenant sees nothing; easycars_admin sees all.
BEGIN;
SELECT plan(51);
\ir _fixtures.psql

CREATE TEMP TABLE tenant_tables (t text) ON COMMIT DROP;
INSERT INTO tenant_tables VALUES ('credentials'), ('sync_log'), ('sync_log_archive'), ('vehicle'), ('lead'),
    ('sync_progress'), ('sync_activity_log'), ('sync_preview_cache'), ('sync_state');
GRANT SELECT ON tenant_tables TO PUBLIC;

CREATE FUNCTION pg_temp.visible(tbl text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text;
BEGIN
    EXECUTE format('SELECT coalesce(string_agg(DISTINCT dealership_id::text, '','' ORDER BY dealership_id::text), '''') FROM easycars.%I', tbl) INTO r;
    RETURN r;
END $$;
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
    EXECUTE sql;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n || ' rows';
EXCEPTION WHEN insufficient_privilege THEN RETURN 'denied: ' || SQLERRM;
END $$;

-- RLS is enabled and forced on every tenant table (so even the owner obeys it).
SELECT is(ARRAY(SELECT c.relname::text FROM pg_class c
                WHERE c.relnamespace = 'easycars'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
                  AND c.relname NOT IN ('credentials_input', 'lead_score_weight') AND NOT (c.relrowsecurity AND c.relforcerowsecurity) ORDER BY 1),
          '{}'::text[], 'every easycars table has RLS enabled and forced');

-- The sync role acting for dealership 101.
SET LOCAL ROLE ec_sync;
SET LOCAL app.current_dealership_id = '101';
SELECT is(pg_temp.visible(t), '101', 'sync role for 101 sees only 101 in ' || t) FROM tenant_tables WHERE t <> 'credentials';
SELECT is((SELECT string_agg(dealership_id::text, ',') FROM easycars.credentials), '101', 'sync role for 101 sees only 101''s credentials row');
SELECT is((SELECT string_agg(id::text, ',') FROM easycars.dealership), '101', 'sync role for 101 sees only dealership 101');
SELECT is(pg_temp.try('UPDATE easycars.vehicle SET price = 1 WHERE dealership_id = 102'), '0 rows', 'updating B''s vehicles touches nothing');
SELECT is(pg_temp.try('UPDATE easycars.lead SET message = ''x'' WHERE dealership_id = 102'), '0 rows', 'updating B''s leads touches nothing');
SELECT is(pg_temp.try('UPDATE easycars.sync_log SET status = ''Failed'' WHERE dealership_id = 102'), '0 rows', 'updating B''s sync log touches nothing');
SELECT is(pg_temp.try('UPDATE easycars.sync_progress SET current_item = 1 WHERE dealership_id = 102'), '0 rows', 'updating B''s progress touches nothing');
SELECT is(pg_temp.try('UPDATE easycars.sync_state SET records_synced = 1 WHERE dealership_id = 102'), '0 rows', 'updating B''s sync state touches nothing');
SELECT is(pg_temp.try('DELETE FROM easycars.sync_preview_cache WHERE dealership_id = 102'), '0 rows', 'deleting B''s previews touches nothing');
SELECT throws_ok($$INSERT INTO easycars.vehicle (dealership_id, make, model, year, title) VALUES (102, 'X', 'Y', 2020, 't')$$,
                 '42501', NULL, 'inserting a vehicle for B is refused');
SELECT throws_ok($$INSERT INTO easycars.lead (dealership_id, name, email) VALUES (102, 'X', 'x@y.z')$$, '42501', NULL, 'inserting a lead for B is refused');
SELECT throws_ok($$INSERT INTO easycars.sync_log (dealership_id, sync_type, sync_direction) VALUES (102, 'Stock', 'Inbound')$$, '42501', NULL, 'inserting a sync log for B is refused');
SELECT throws_ok($$INSERT INTO easycars.sync_progress (dealership_id, sync_id, entity_type) VALUES (102, 'evil', 'stock')$$, '42501', NULL, 'inserting progress for B is refused');
SELECT throws_ok($$INSERT INTO easycars.sync_activity_log (dealership_id, action, status) VALUES (102, 'sync_start', 'pending')$$, '42501', NULL, 'inserting activity for B is refused');
SELECT throws_ok($$INSERT INTO easycars.sync_preview_cache (dealership_id, entity_type) VALUES (102, 'stock')$$, '42501', NULL, 'inserting a preview for B is refused');
SELECT throws_ok($$INSERT INTO easycars.sync_state (dealership_id, entity_type) VALUES (102, 'lead')$$, '42501', NULL, 'inserting sync state for B is refused');
SELECT throws_ok($$UPDATE easycars.vehicle SET dealership_id = 102 WHERE dealership_id = 101$$, '42501', NULL, 'moving A''s vehicle to B is refused');
SELECT lives_ok($$INSERT INTO easycars.vehicle (dealership_id, make, model, year, title) VALUES (101, 'KIA', 'RIO', 2022, 'Rio')$$, 'writing its own dealership works');
SELECT throws_ok($$SELECT client_secret_encrypted FROM easycars.credentials$$, '42501', NULL, 'the sync role cannot read encrypted columns');
RESET ROLE;

-- The analyst of dealership 102.
SET LOCAL ROLE ec_analyst;
SET LOCAL app.current_dealership_id = '102';
SELECT is(pg_temp.visible(t), '102', 'analyst for 102 sees only 102 in ' || t) FROM tenant_tables WHERE t <> 'credentials';
SELECT throws_ok($$SELECT count(*) FROM easycars.credentials$$, '42501', NULL, 'analysts cannot read credentials at all');
SELECT throws_ok($$UPDATE easycars.vehicle SET price = 1$$, '42501', NULL, 'analysts cannot write vehicles');
SELECT throws_ok($$DELETE FROM easycars.lead$$, '42501', NULL, 'analysts cannot delete leads');

-- No tenant, or a malformed one: nothing.
SET LOCAL app.current_dealership_id = '';
SELECT is((SELECT count(*)::int FROM easycars.vehicle) + (SELECT count(*)::int FROM easycars.lead) + (SELECT count(*)::int FROM easycars.dealership), 0,
          'an empty tenant setting sees nothing');
SET LOCAL app.current_dealership_id = '101 OR true';
SELECT is((SELECT count(*)::int FROM easycars.vehicle), 0, 'a malformed tenant setting sees nothing');
RESET ROLE;
SET LOCAL ROLE ec_sync;
SET LOCAL app.current_dealership_id = '';
SELECT throws_ok($$INSERT INTO easycars.vehicle (dealership_id, make, model, year, title) VALUES (101, 'X', 'Y', 2020, 't')$$,
                 '42501', NULL, 'without a tenant nothing can be written');
RESET ROLE;

-- The administrator sees every dealership.
SET LOCAL ROLE ec_admin;
SET LOCAL app.current_dealership_id = '';
SELECT ok(pg_temp.visible(t) LIKE '%101,102%', 'admin sees every dealership in ' || t) FROM tenant_tables;
RESET ROLE;

-- A role without an easycars role cannot even reach the schema.
SET LOCAL ROLE ec_outsider;
SELECT throws_ok($$SELECT count(*) FROM easycars.vehicle$$, '42501', NULL, 'a role without grants is refused');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
