-- Privilege review: every object the extension creates is walked and compared with the intended
-- design, so a new table, view or function cannot slip in unprotected. When you add an object,
-- add its intended grants to the list below, on purpose.
BEGIN;
SELECT plan(12);

CREATE TEMP TABLE objects AS
SELECT c.oid AS objid, 'pg_class'::regclass AS classid, format('%s %s', CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'table'
         WHEN 'v' THEN 'view' WHEN 'S' THEN 'sequence' WHEN 'f' THEN 'foreign table' ELSE c.relkind::text END, c.oid::regclass) AS name,
       c.relowner AS owner, c.relacl AS acl, c.relnamespace::regnamespace::text AS schema
FROM pg_class c
WHERE c.relnamespace IN ('easycars'::regnamespace, 'easycars_remote'::regnamespace) AND c.relkind IN ('r', 'p', 'v', 'S', 'f', 'm')
  AND NOT c.relispartition
UNION ALL
SELECT p.oid, 'pg_proc'::regclass, format('%s %s', CASE p.prokind WHEN 'p' THEN 'procedure' ELSE 'function' END, p.oid::regprocedure),
       p.proowner, p.proacl, p.pronamespace::regnamespace::text
FROM pg_proc p WHERE p.pronamespace = 'easycars'::regnamespace;

SELECT is(ARRAY(SELECT name FROM objects o
                WHERE NOT EXISTS (SELECT 1 FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
                                  WHERE e.extname = 'easycars' AND d.deptype = 'e' AND d.classid = o.classid AND d.objid = o.objid)
                  AND name NOT LIKE 'sequence %' ORDER BY 1),
          '{}'::text[], 'every table, view and function in schema easycars belongs to the extension');
SELECT is(ARRAY(SELECT name FROM objects WHERE owner <> (SELECT extowner FROM pg_extension WHERE extname = 'easycars') ORDER BY 1),
          '{}'::text[], 'the extension owner owns every object');

-- The intended grants (besides the owner's), one row per object, grantee and privilege set.
CREATE TEMP TABLE intended (name text, grantee text, privileges text);
INSERT INTO intended VALUES
    ('table easycars.dealership', 'easycars_admin', 'DELETE,INSERT,SELECT,TRUNCATE,UPDATE'),
    ('table easycars.dealership', 'easycars_analyst', 'SELECT'),
    ('table easycars.dealership', 'easycars_sync', 'SELECT'),
    ('table easycars.credentials', 'easycars_admin', 'DELETE'),
    ('table easycars.dealership_access', 'easycars_admin', 'DELETE,INSERT,SELECT,TRUNCATE,UPDATE'),
    ('table easycars.credentials_input', 'easycars_admin', 'INSERT'),
    ('table easycars.lead_score_weight', 'easycars_admin', 'DELETE,INSERT,SELECT,TRUNCATE,UPDATE'),
    ('table easycars.lead_score_weight', 'easycars_analyst', 'SELECT'),
    ('table easycars.lead_score_weight', 'easycars_sync', 'SELECT'),
    ('view easycars.lead_score_weights', 'easycars_admin', 'SELECT'),
    ('view easycars.lead_score_weights', 'easycars_analyst', 'SELECT'),
    ('view easycars.lead_score_weights', 'easycars_sync', 'SELECT'),
    ('function easycars.lead_score(easycars.lead)', 'easycars_admin', 'EXECUTE'),
    ('function easycars.lead_score(easycars.lead)', 'easycars_analyst', 'EXECUTE'),
    ('function easycars.lead_score(easycars.lead)', 'easycars_sync', 'EXECUTE'),
    ('function easycars._lead_score_defaults()', 'easycars_admin', 'EXECUTE'),
    ('function easycars._lead_score_defaults()', 'easycars_analyst', 'EXECUTE'),
    ('function easycars._lead_score_defaults()', 'easycars_sync', 'EXECUTE'),
    ('function easycars.search_leads(text,integer)', 'easycars_admin', 'EXECUTE'),
    ('function easycars.search_leads(text,integer)', 'easycars_analyst', 'EXECUTE'),
    ('function easycars.search_leads(text,integer)', 'easycars_sync', 'EXECUTE'),
    ('function easycars.au_phone_e164(text)', 'easycars_admin', 'EXECUTE'),
    ('function easycars.au_phone_e164(text)', 'easycars_analyst', 'EXECUTE'),
    ('function easycars.au_phone_e164(text)', 'easycars_sync', 'EXECUTE'),
    ('function easycars.refresh_lead_scores()', 'easycars_admin', 'EXECUTE'),
    ('function easycars.refresh_lead_scores()', 'easycars_sync', 'EXECUTE'),
    ('table easycars.audit_log', 'easycars_admin', 'INSERT,SELECT'),
    ('table easycars.vehicle', 'easycars_admin', 'DELETE,INSERT,SELECT,TRUNCATE,UPDATE'),
    ('table easycars.vehicle', 'easycars_analyst', 'SELECT'),
    ('table easycars.vehicle', 'easycars_sync', 'INSERT,SELECT,UPDATE'),
    ('table easycars.lead', 'easycars_admin', 'DELETE,INSERT,SELECT,TRUNCATE,UPDATE'),
    ('table easycars.lead', 'easycars_analyst', 'SELECT'),
    ('table easycars.lead', 'easycars_sync', 'INSERT,SELECT,UPDATE'),
    ('table easycars.sync_log', 'easycars_admin', 'DELETE,INSERT,SELECT,TRUNCATE,UPDATE'),
    ('table easycars.sync_log', 'easycars_analyst', 'SELECT'),
    ('table easycars.sync_log', 'easycars_sync', 'INSERT,SELECT,UPDATE'),
    ('table easycars.sync_log_archive', 'easycars_admin', 'DELETE,INSERT,SELECT,TRUNCATE,UPDATE'),
    ('table easycars.sync_log_archive', 'easycars_analyst', 'SELECT'),
    ('table easycars.sync_log_archive', 'easycars_sync', 'SELECT'),
    ('table easycars.sync_progress', 'easycars_admin', 'DELETE,INSERT,SELECT,TRUNCATE,UPDATE'),
    ('table easycars.sync_progress', 'easycars_analyst', 'SELECT'),
    ('table easycars.sync_progress', 'easycars_sync', 'INSERT,SELECT,UPDATE'),
    ('table easycars.sync_activity_log', 'easycars_admin', 'DELETE,INSERT,SELECT,TRUNCATE,UPDATE'),
    ('table easycars.sync_activity_log', 'easycars_analyst', 'SELECT'),
    ('table easycars.sync_activity_log', 'easycars_sync', 'INSERT,SELECT'),
    ('table easycars.sync_preview_cache', 'easycars_admin', 'DELETE,INSERT,SELECT,TRUNCATE,UPDATE'),
    ('table easycars.sync_preview_cache', 'easycars_analyst', 'SELECT'),
    ('table easycars.sync_preview_cache', 'easycars_sync', 'DELETE,INSERT,SELECT,UPDATE'),
    ('table easycars.sync_state', 'easycars_admin', 'DELETE,INSERT,SELECT,TRUNCATE,UPDATE'),
    ('table easycars.sync_state', 'easycars_analyst', 'SELECT'),
    ('table easycars.sync_state', 'easycars_sync', 'INSERT,SELECT,UPDATE'),
    ('table easycars.sync_schedule', 'easycars_admin', 'DELETE,INSERT,SELECT,TRUNCATE,UPDATE'),
    ('table easycars.sync_schedule', 'easycars_analyst', 'SELECT'),
    ('table easycars.sync_schedule', 'easycars_sync', 'SELECT'),
    ('view easycars.sync_queue', 'easycars_admin', 'SELECT'),
    ('view easycars.sync_queue', 'easycars_analyst', 'SELECT'),
    ('view easycars.sync_queue', 'easycars_sync', 'SELECT'),
    ('view easycars.credentials_safe', 'easycars_admin', 'SELECT'),
    ('view easycars.credentials_safe', 'easycars_analyst', 'SELECT'),
    ('view easycars.credentials_safe', 'easycars_sync', 'SELECT'),
    ('view easycars.recent_failed_syncs', 'easycars_admin', 'SELECT'),
    ('view easycars.recent_failed_syncs', 'easycars_analyst', 'SELECT'),
    ('view easycars.recent_failed_syncs', 'easycars_sync', 'SELECT'),
    ('view easycars.sync_performance_7d', 'easycars_admin', 'SELECT'),
    ('view easycars.sync_performance_7d', 'easycars_analyst', 'SELECT'),
    ('view easycars.sync_performance_7d', 'easycars_sync', 'SELECT'),
    ('view easycars.running_syncs', 'easycars_admin', 'SELECT'),
    ('view easycars.running_syncs', 'easycars_analyst', 'SELECT'),
    ('view easycars.running_syncs', 'easycars_sync', 'SELECT');
-- Functions: who may execute what.
INSERT INTO intended
SELECT f, r, 'EXECUTE' FROM unnest(ARRAY['function easycars.current_dealership_id()', 'function easycars._is_admin()', 'function easycars.may_act_for(integer)',
    'function easycars.fdw_insert_results()', 'function easycars.clear_fdw_insert_results()', 'function easycars.easycars_fdw_meta()']) f,
    unnest(ARRAY['easycars_admin', 'easycars_analyst', 'easycars_sync']) r
UNION ALL
SELECT f, r, 'EXECUTE' FROM unnest(ARRAY['function easycars.sync_stock(integer,boolean)', 'function easycars.push_leads(integer,boolean)',
    'function easycars.sync_leads(integer,boolean)', 'function easycars.preview_stock_sync(integer,interval)', 'procedure easycars.run_due_syncs(text,interval,interval)',
    'function easycars.cleanup_preview_cache()', 'function easycars._ensure_remote(integer)', 'function easycars._ensure_partitions()',
    'function easycars._begin_run(integer,text,text,easycars.sync_entity,boolean,jsonb)',
    'function easycars._finish_run(easycars.sync_log,easycars.sync_entity,text,integer,integer,integer,integer,integer,integer,jsonb,text,text)',
    'function easycars._report(easycars.sync_log,text)', 'function easycars._stock_feed_sql(integer)', 'function easycars._stock_keys_sql(integer)', 'function easycars._stock_delta_sql(text,text)', 'function easycars._stock_upsert_sql(text,text)', 'function easycars._run_stock_upsert(text,text,integer)',
    'function easycars._push_lead(integer,bigint)', 'function easycars._leads_to_push(integer)', 'function easycars._enum_code(text,text)',
    'function easycars._lead_status_code(text)', 'function easycars._lead_push_digest(easycars.lead)',
    'function easycars._foreign_table_ddl(text,text,text,text)', 'function easycars._ensure_schedule()',
    'function easycars._push_one(easycars.sync_log,bigint)', 'function easycars._push_progress(easycars.sync_log,integer,integer,integer,integer)',
    'function easycars._sync_lock_key(text,text)', 'function easycars._cron_job_id()', 'function easycars._claim_due(text[],interval)',
    'function easycars._settle_due(integer,text,text,timestamp with time zone,text)', 'function easycars._close_abandoned_runs()',
    'function easycars._prefetch_stock(integer)', 'function easycars._prefetch_next(integer[],integer)', 'function easycars._prefetch_forget(integer)']) f,
    unnest(ARRAY['easycars_admin', 'easycars_sync']) r
UNION ALL
SELECT f, 'easycars_admin', 'EXECUTE' FROM unnest(ARRAY['function easycars.set_credentials(integer,text,text,text,text,text,text,text)',
    'function easycars.rotate_encryption_key()', 'function easycars.verify_credentials(integer)',
    'function easycars.archive_sync_logs(interval,interval)', 'function easycars.maintain_partitions(integer,interval,timestamp with time zone)',
    'function easycars.schedule_syncs(text,text,integer)', 'function easycars.unschedule_syncs()',
    'function easycars.grant_dealership(regrole,integer)', 'function easycars.grant_all_dealerships(regrole)',
    'function easycars.revoke_dealership(regrole,integer)', 'function easycars.pause_syncs(integer,text)',
    'function easycars.resume_syncs(integer,text)', 'function easycars.sync_now(integer,text)',
    'function easycars._set_schedule(integer,text,text)']) f;

CREATE TEMP TABLE actual AS
SELECT o.name, CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE a.grantee::regrole::text END AS grantee,
       string_agg(a.privilege_type, ',' ORDER BY a.privilege_type) AS privileges
FROM objects o, aclexplode(o.acl) a
WHERE a.grantee <> o.owner AND o.schema = 'easycars'
GROUP BY 1, 2;
SELECT set_eq('SELECT name, grantee, privileges FROM actual', 'SELECT name, grantee, privileges FROM intended',
              'every grant on every easycars table, view and function is the intended one');
SELECT is(ARRAY(SELECT name FROM objects WHERE acl IS NULL AND schema = 'easycars' AND name NOT LIKE 'function easycars._sync_progress%'
                  AND name NOT LIKE 'function easycars._touch_updated_at%' AND name NOT LIKE 'sequence %'
                  AND name NOT IN ('function easycars.easycars_fdw_handler()', 'function easycars.easycars_fdw_validator(text[],oid)')),
          '{}'::text[], 'no object is left with default (PUBLIC) privileges, other than trigger functions and the FDW handler');
SELECT is(ARRAY(SELECT name FROM objects o WHERE o.acl IS NULL AND o.classid = 'pg_proc'::regclass
                  AND has_function_privilege('public', o.objid, 'EXECUTE') AND name NOT IN ('function easycars.easycars_fdw_handler()', 'function easycars.easycars_fdw_validator(text[],oid)')
                  AND name NOT LIKE 'function easycars._sync_progress%' AND name NOT LIKE 'function easycars._touch_updated_at%'),
          '{}'::text[], 'PUBLIC executes nothing but trigger functions and the FDW handler and validator');

-- RLS on every table: an admin policy for easycars_admin only, and on tenant tables one tenant
-- policy for everyone that compares dealership_id with the session's dealership (nothing else).
SELECT is(ARRAY(SELECT c.relname::text FROM pg_class c
                WHERE c.relnamespace = 'easycars'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
                  -- COPY refuses tables with RLS; this one never holds a row and only admins may insert.
                  AND c.relname <> 'credentials_input'
                  -- Global settings, not a tenant's: grants alone decide (all read, admins write).
                  AND c.relname <> 'lead_score_weight'
                  AND (NOT c.relrowsecurity OR NOT c.relforcerowsecurity
                       OR NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = c.relname || '_admin_policy'
                                        AND p.polroles = ARRAY['easycars_admin'::regrole::oid])
                       OR (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid)
                          <> CASE WHEN c.relname IN ('dealership_access', 'audit_log') THEN 1 ELSE 2 END)
                ORDER BY 1), '{}'::text[], 'every table has RLS enabled, forced, an easycars_admin policy and (tenant tables) one tenant policy');
SELECT is(ARRAY(SELECT p.polrelid::regclass::text FROM pg_policy p
                WHERE p.polname LIKE '%\_tenant\_policy'
                  AND (p.polroles <> ARRAY[0::oid]
                       OR pg_get_expr(p.polqual, p.polrelid) !~ '^\((dealership_id|id) = \( SELECT (easycars\.)?current_dealership_id\(\) AS current_dealership_id\)\)$')
                ORDER BY 1), '{}'::text[], 'every tenant policy is one comparison with the session''s dealership, for everyone');

-- The SECURITY DEFINER functions are exactly the reviewed ones, each with a pinned search_path.
SELECT set_eq($$SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = 'easycars'::regnamespace AND p.prosecdef
                AND p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp']$$,
              ARRAY['easycars.set_credentials(integer,text,text,text,text,text,text,text)', 'easycars.rotate_encryption_key()',
                    'easycars.verify_credentials(integer)', 'easycars.cleanup_preview_cache()', 'easycars.archive_sync_logs(interval,interval)',
                    'easycars.maintain_partitions(integer,interval,timestamp with time zone)', 'easycars._ensure_remote(integer)',
                    'easycars._ensure_partitions()', 'easycars._credentials_input_store()', 'easycars._close_abandoned_runs()'],
              'the SECURITY DEFINER functions are the reviewed ten, all with search_path = pg_catalog, pg_temp');

-- Views: monitoring views run with the reader's rights; credentials_safe filters by tenant itself.
SELECT is(ARRAY(SELECT c.relname::text FROM pg_class c WHERE c.relnamespace = 'easycars'::regnamespace AND c.relkind = 'v'
                  AND NOT coalesce(c.reloptions @> ARRAY['security_invoker=true'], false) ORDER BY 1),
          ARRAY['credentials_safe'], 'every view but credentials_safe is security_invoker');
SELECT ok((SELECT reloptions @> ARRAY['security_barrier=true'] FROM pg_class WHERE oid = 'easycars.credentials_safe'::regclass),
          'credentials_safe, which reads with its owner''s rights, is a security_barrier view');

-- Every function resolves names in pg_catalog first, whoever runs it (pg_cron runs them as the
-- scheduler); the one procedure that commits pins search_path in its body instead.
SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = 'easycars'::regnamespace
                  AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false) ORDER BY 1),
          ARRAY['easycars.run_due_syncs(text,interval,interval)'], 'every function has SET search_path = pg_catalog, pg_temp');
SELECT ok((SELECT prosrc ~ 'pg_catalog\.set_config\(''search_path'', ''pg_catalog, pg_temp'', false\)' FROM pg_proc
           WHERE oid = 'easycars.run_due_syncs(text,interval,interval)'::regprocedure), 'run_due_syncs pins search_path first thing');

SELECT * FROM finish();
ROLLBACK;
