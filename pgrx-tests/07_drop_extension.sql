-- DROP EXTENSION easycars removes everything it created (roles, being cluster-wide, stay).
BEGIN;
SELECT plan(5);
CREATE TEMP TABLE later_partitions AS SELECT * FROM easycars.maintain_partitions(2, '12 months', now() + interval '1 year');
DROP EXTENSION easycars;
SELECT hasnt_schema('easycars', 'the easycars schema is gone');
SELECT is((SELECT count(*)::int FROM pg_class WHERE relname LIKE 'sync_activity_log%' OR relname IN ('vehicle', 'lead', 'credentials', 'dealership')), 0,
          'no table, partition or sequence is left, including partitions made after install');
SELECT is((SELECT count(*)::int FROM pg_type WHERE typname IN ('sync_entity', 'sync_action', 'sync_status')), 0, 'the enum types are gone');
SELECT is((SELECT count(*)::int FROM pg_proc WHERE proname IN ('maintain_partitions', 'current_dealership_id', 'archive_sync_logs')), 0, 'the functions are gone');
SELECT has_role('easycars_admin', 'roles stay: they are cluster-wide and may be in use by other databases');
SELECT * FROM finish();
ROLLBACK;
