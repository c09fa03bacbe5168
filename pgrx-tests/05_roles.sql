-- Roles and grants: each role can do exactly what its job needs, PUBLIC nothing.
BEGIN;
SELECT plan(57);

SELECT has_role(r) FROM unnest(ARRAY['easycars_admin', 'easycars_sync', 'easycars_analyst']) AS r;
SELECT is((SELECT rolcanlogin FROM pg_roles WHERE rolname = r), false, r || ' is a group role (NOLOGIN)')
FROM unnest(ARRAY['easycars_admin', 'easycars_sync', 'easycars_analyst']) AS r;

SELECT schema_privs_are('easycars', 'public', ARRAY[]::text[], 'PUBLIC has no privilege on the schema');
SELECT schema_privs_are('easycars', r, ARRAY['USAGE'], r || ' may use the schema')
FROM unnest(ARRAY['easycars_admin', 'easycars_sync', 'easycars_analyst']) AS r;

-- The privilege matrix, table by table.
SELECT table_privs_are('easycars', t, 'easycars_admin', ARRAY['DELETE', 'INSERT', 'SELECT', 'TRUNCATE', 'UPDATE'],
                       'admin has full DML on ' || t)
FROM unnest(ARRAY['dealership', 'vehicle', 'lead', 'sync_log', 'sync_log_archive', 'sync_state']) AS t;
SELECT table_privs_are('easycars', 'credentials', 'easycars_admin', ARRAY['DELETE'], 'admin may only delete credentials table-wide');
SELECT is(ARRAY(SELECT attname::text FROM pg_attribute
                WHERE attrelid = 'easycars.credentials'::regclass AND attnum > 0
                  AND has_column_privilege('easycars_admin', attrelid, attname, 'SELECT') AND attname LIKE '%encrypted'),
          '{}'::text[], 'not even admin can select an encrypted column');
SELECT ok(NOT has_column_privilege('easycars_admin', 'easycars.credentials', 'client_secret_encrypted', 'UPDATE'), 'admin cannot write ciphertext directly');
SELECT ok(has_column_privilege('easycars_admin', 'easycars.credentials', 'is_active', 'UPDATE'), 'admin may deactivate credentials');
SELECT table_privs_are('easycars', 'credentials_safe', r, ARRAY['SELECT'], r || ' reads credentials_safe')
FROM unnest(ARRAY['easycars_admin', 'easycars_sync', 'easycars_analyst']) AS r;
SELECT ok(has_function_privilege('easycars_admin', 'easycars.set_credentials(integer, text, text, text, text, text, text, text)', 'EXECUTE'), 'admin sets credentials');
SELECT ok(NOT has_function_privilege(r, 'easycars.set_credentials(integer, text, text, text, text, text, text, text)', 'EXECUTE'), r || ' cannot set credentials')
FROM unnest(ARRAY['easycars_sync', 'easycars_analyst']) AS r;
SELECT ok(NOT has_function_privilege(r, 'easycars.rotate_encryption_key()', 'EXECUTE'), r || ' cannot rotate keys')
FROM unnest(ARRAY['easycars_sync', 'easycars_analyst']) AS r;
SELECT table_privs_are('easycars', t, 'easycars_analyst', ARRAY['SELECT'], 'analyst only reads ' || t)
FROM unnest(ARRAY['dealership', 'vehicle', 'lead', 'sync_log', 'sync_log_archive', 'sync_progress',
                  'sync_activity_log', 'sync_preview_cache', 'sync_state']) AS t;
SELECT table_privs_are('easycars', 'credentials', 'easycars_analyst', ARRAY[]::text[], 'analyst has no access to credentials');
SELECT table_privs_are('easycars', t, 'easycars_sync', ARRAY['INSERT', 'SELECT', 'UPDATE'], 'sync reads and writes ' || t)
FROM unnest(ARRAY['vehicle', 'lead', 'sync_log', 'sync_progress', 'sync_state']) AS t;
SELECT table_privs_are('easycars', 'sync_activity_log', 'easycars_sync', ARRAY['INSERT', 'SELECT'], 'sync appends to the activity log');
SELECT table_privs_are('easycars', 'dealership', 'easycars_sync', ARRAY['SELECT'], 'sync only reads dealerships');
SELECT table_privs_are('easycars', 'sync_log_archive', 'easycars_sync', ARRAY['SELECT'], 'sync only reads the archive');
SELECT table_privs_are('easycars', 'credentials', 'easycars_sync', ARRAY[]::text[], 'sync has no table-wide credentials privilege');
SELECT is(ARRAY(SELECT attname::text FROM pg_attribute
                WHERE attrelid = 'easycars.credentials'::regclass AND attnum > 0
                  AND has_column_privilege('easycars_sync', attrelid, attname, 'SELECT') AND attname LIKE '%encrypted'),
          '{}'::text[], 'sync cannot select any encrypted column');
SELECT ok(has_column_privilege('easycars_sync', 'easycars.credentials', 'last_synced_at', 'UPDATE'), 'sync may stamp last_synced_at');
SELECT ok(NOT has_column_privilege('easycars_sync', 'easycars.credentials', 'is_active', 'UPDATE'), 'sync may not (de)activate credentials');

SELECT is(ARRAY(SELECT c.relname::text FROM pg_class c
                WHERE c.relnamespace = 'easycars'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'S')
                  AND (has_table_privilege('public', c.oid, 'SELECT') OR has_table_privilege('public', c.oid, 'INSERT')
                       OR has_table_privilege('public', c.oid, 'UPDATE') OR has_table_privilege('public', c.oid, 'DELETE'))),
          '{}'::text[], 'PUBLIC has no privilege on any easycars relation');
SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p
                WHERE p.pronamespace = 'easycars'::regnamespace AND has_function_privilege('public', p.oid, 'EXECUTE')),
          '{}'::text[], 'PUBLIC may execute no easycars function');
SELECT function_privs_are('easycars', f, ARRAY['interval', 'interval'], 'easycars_analyst', ARRAY[]::text[], 'analyst cannot archive logs')
FROM (VALUES ('archive_sync_logs')) AS t(f);
SELECT ok(has_function_privilege('easycars_admin', 'easycars.maintain_partitions(integer, interval, timestamptz)', 'EXECUTE'), 'admin maintains partitions');
SELECT ok(NOT has_function_privilege('easycars_sync', 'easycars.maintain_partitions(integer, interval, timestamptz)', 'EXECUTE'), 'sync does not maintain partitions');
SELECT ok(has_function_privilege('easycars_sync', 'easycars.cleanup_preview_cache()', 'EXECUTE'), 'sync may clean the preview cache');

-- SECURITY DEFINER functions pin their search_path.
SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p
                WHERE p.pronamespace = 'easycars'::regnamespace AND p.prosecdef
                  AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)),
          '{}'::text[], 'every SECURITY DEFINER function sets search_path = pg_catalog, pg_temp');

SELECT * FROM finish();
ROLLBACK;
