-- Monitoring views (security_invoker: the reader's row-level security applies).

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
-- A run's counts ("... : 3 of 5 pushed, ...") are read from its phase: live, before it commits.
CREATE VIEW easycars.running_syncs WITH (security_invoker = true, security_barrier = true) AS
SELECT r.pid, r.progress, r.running_for, r.state, r.wait_event_type, r.wait_event,
       r.processed, r.total,
       round(r.processed / nullif(extract(epoch FROM r.running_for), 0) * 60, 1) AS items_per_min,
       CASE WHEN r.processed > 0 THEN
           make_interval(secs => (r.total - r.processed) * extract(epoch FROM r.running_for) / r.processed) END AS eta
FROM (SELECT a.pid, a.application_name AS progress, now() - a.xact_start AS running_for, a.state,
             a.wait_event_type, a.wait_event,
             (pg_catalog.regexp_match(a.application_name, ': ([0-9]+) of ([0-9]+) '))[1]::bigint AS processed,
             (pg_catalog.regexp_match(a.application_name, ': ([0-9]+) of ([0-9]+) '))[2]::bigint AS total
      FROM pg_catalog.pg_stat_activity a
      WHERE a.application_name LIKE 'easycars %'
        AND easycars.may_act_for(pg_catalog.substring(a.application_name, ' d=([0-9]{1,9}) ')::integer)) AS r;
COMMENT ON VIEW easycars.running_syncs IS
    'Sync runs in progress right now, from any session, with their current phase (published as application_name, visible before the run commits) and, where the phase counts items (lead pushes: after every lead), processed, total, items per minute and an ETA.';

-- The due queue as a DBA reads it (security_invoker: the reader's row-level security applies).
CREATE VIEW easycars.sync_queue WITH (security_invoker = true) AS
SELECT s.dealership_id, s.kind,
       coalesce(s.every, pg_catalog.current_setting('easycars.sync_interval')::interval) AS every,
       s.next_due_at,
       greatest(now() - s.next_due_at, interval '0') AS overdue_by,
       s.paused_at,
       CASE WHEN s.failures > 0 THEN s.last_finished_at END AS backing_off_since,
       s.failures, s.backoff_reason,
       s.last_outcome, s.last_finished_at - s.last_started_at AS last_duration,
       s.claimed_until > now() AS running, s.claimed_by
FROM easycars.sync_schedule s
ORDER BY s.next_due_at;
COMMENT ON VIEW easycars.sync_queue IS
    'For each dealership and kind (stock, lead_push, lead_refresh): its interval, when it is next due and how overdue, whether it is paused, backing off since when and why, the last outcome and duration, and whether a worker is running it now.';
