-- name: create_promotion_history_view
-- __all_tenant_promotion_history (the seed's columns, then ybstate's status, catch_up,
-- started_time, fence_log_id, failures, error_msg, lost_transactions and
-- caught_up_transactions): one row per promotion, from its promotion.* events.
-- promotion_time is the time writes were enabled (promotion.writes_enabled), 0 unless
-- the promotion completed; verification_passed and the three matches are true once the
-- VERIFY step passed (promotion.verified; false when verify was not asked or failed);
-- downtime_ms is the time from the fence (promotion.fenced) to writes enabled, in
-- milliseconds (microseconds // 1000), 0 unless completed. status: 'COMPLETED' once writes
-- are enabled, 'ROLLED_BACK' after a step failure that rolled it back, 'STOPPED' after a
-- failure the seed's protocol did not roll back (promotion.stopped, DESIGN 14
-- no_promotion_rollback), else 'RUNNING'.
-- fence_log_id: where the old primary's commits end (0 before the fence; kept after a
-- rollback); failures: failed step attempts (promotion.step_failed, promotion.stopped); error_msg: the reason
-- of the last one ('' if none); lost_transactions: the old primary's committed
-- transactions the new primary does not hold, as writes_enabled reported them (empty
-- until then); caught_up_transactions: how many of its transactions the catch-up applied.
CREATE OR REPLACE VIEW __all_tenant_promotion_history AS
WITH ev AS (
    SELECT seq, time, type, payload, CAST(payload ->> 'promotion_id' AS BIGINT) AS promotion_id
    FROM events
    WHERE type LIKE 'promotion.%'
),
started AS (
    SELECT promotion_id,
           time AS started_time,
           CAST(payload ->> 'standby_id' AS BIGINT) AS standby_tenant_id,
           CAST(payload ->> 'primary_id' AS BIGINT) AS old_primary_tenant_id,
           CAST(payload ->> 'catch_up' AS BOOLEAN) AS catch_up
    FROM ev WHERE type = 'promotion.started'
),
progress AS (
    SELECT promotion_id,
           count(*) FILTER (WHERE type = 'promotion.verified') > 0 AS verified,
           max(time) FILTER (WHERE type = 'promotion.fenced') AS fenced_time,
           max(CAST(payload ->> 'fence_log_id' AS BIGINT)) FILTER (WHERE type = 'promotion.fenced')
               AS fence_log_id,
           max(time) FILTER (WHERE type = 'promotion.writes_enabled') AS enabled_time,
           any_value(CAST(payload -> 'lost' AS BIGINT[])) FILTER (WHERE type = 'promotion.writes_enabled')
               AS lost,
           max(CAST(json_array_length(payload -> 'applied') AS BIGINT))
               FILTER (WHERE type = 'promotion.caught_up') AS caught_up,
           count(*) FILTER (WHERE type IN ('promotion.step_failed', 'promotion.stopped')) AS failures,
           count(*) FILTER (WHERE type = 'promotion.stopped') > 0 AS stopped,
           count(*) FILTER (
               WHERE type = 'promotion.step_failed' AND CAST(payload ->> 'rolled_back' AS BOOLEAN)
           ) > 0 AS rolled_back,
           arg_max(payload ->> 'reason', seq)
               FILTER (WHERE type IN ('promotion.step_failed', 'promotion.stopped')) AS error_msg
    FROM ev
    GROUP BY promotion_id
)
SELECT s.promotion_id,
       s.standby_tenant_id,
       s.old_primary_tenant_id,
       coalesce(p.enabled_time, 0) AS promotion_time,
       p.verified AS verification_passed,
       p.verified AS row_count_match,
       p.verified AS checksum_match,
       p.verified AS sample_match,
       CASE
           WHEN p.enabled_time IS NULL THEN 0
           ELSE CAST((p.enabled_time - p.fenced_time) // 1000 AS BIGINT)
       END AS downtime_ms,
       CASE
           WHEN p.enabled_time IS NOT NULL THEN 'COMPLETED'
           WHEN p.rolled_back THEN 'ROLLED_BACK'
           WHEN p.stopped THEN 'STOPPED'
           ELSE 'RUNNING'
       END AS status,
       s.catch_up,
       s.started_time,
       coalesce(p.fence_log_id, 0) AS fence_log_id,
       p.failures,
       coalesce(p.error_msg, '') AS error_msg,
       coalesce(p.lost, CAST([] AS BIGINT[])) AS lost_transactions,
       coalesce(p.caught_up, 0) AS caught_up_transactions
FROM started s
JOIN progress p USING (promotion_id)
ORDER BY s.promotion_id;

-- name: create_event_tenants_view
-- event_tenants: every event with the tenant it concerns, resolved where the stored row
-- has none: a restore's events and its baseline DAG's are the source tenant's (and the
-- standby's, in standby_tenant_id, when PREPARING made one); a backup's DAG is its
-- tenant's; a promotion's events are the old primary's (and the standby's). Cluster-wide
-- events (the start, a freeze, a heartbeat, a mark) concern no tenant: NULL.
CREATE OR REPLACE VIEW event_tenants AS
WITH restores AS (
    SELECT CAST(payload ->> 'task_id' AS BIGINT) AS task_id,
           CAST(payload ->> 'source_tenant_id' AS BIGINT) AS tenant_id
    FROM events WHERE type = 'restore.started'
),
standbys AS (
    SELECT CAST(payload ->> 'task_id' AS BIGINT) AS task_id,
           max(CAST(payload ->> 'target_tenant_id' AS BIGINT)) AS standby_tenant_id
    FROM events WHERE type = 'restore.prepared' GROUP BY 1
),
backups AS (
    SELECT CAST(payload ->> 'task_id' AS BIGINT) AS task_id, tenant_id
    FROM events WHERE type = 'backup.started'
),
dags AS (
    SELECT CAST(d.payload ->> 'dag_id' AS BIGINT) AS dag_id,
           coalesce(b.tenant_id, r.tenant_id) AS tenant_id,
           s.standby_tenant_id
    FROM events d
    LEFT JOIN backups b ON d.payload ->> 'owner' = 'backup:' || b.task_id
    LEFT JOIN restores r ON d.payload ->> 'owner' = 'restore:' || r.task_id
    LEFT JOIN standbys s ON d.payload ->> 'owner' = 'restore:' || s.task_id
    WHERE d.type = 'dag.submitted'
),
promotions AS (
    SELECT CAST(payload ->> 'promotion_id' AS BIGINT) AS promotion_id,
           CAST(payload ->> 'primary_id' AS BIGINT) AS tenant_id,
           CAST(payload ->> 'standby_id' AS BIGINT) AS standby_tenant_id
    FROM events WHERE type = 'promotion.started'
)
SELECT e.seq, e.time, e.type,
       coalesce(e.tenant_id, r.tenant_id, g.tenant_id, p.tenant_id) AS tenant_id,
       coalesce(s.standby_tenant_id, g.standby_tenant_id, p.standby_tenant_id) AS standby_tenant_id
FROM events e
LEFT JOIN restores r
       ON e.type LIKE 'restore.%' AND CAST(e.payload ->> 'task_id' AS BIGINT) = r.task_id
LEFT JOIN standbys s
       ON e.type LIKE 'restore.%' AND CAST(e.payload ->> 'task_id' AS BIGINT) = s.task_id
LEFT JOIN dags g
       ON e.type LIKE 'dag.%' AND CAST(e.payload ->> 'dag_id' AS BIGINT) = g.dag_id
LEFT JOIN promotions p
       ON e.type LIKE 'promotion.%' AND CAST(e.payload ->> 'promotion_id' AS BIGINT) = p.promotion_id;

-- name: create_readable_views
-- Readable companions of the seed's tables (which keep the seed's columns as they are):
-- each adds a TIMESTAMP beside every time in microseconds (0 is "not yet": NULL) and a
-- status name beside every status code, so the four tables read alike: backup_tasks,
-- backup_sets, restore_tasks, promotions (promotions gives its text status a code too:
-- 0 running, 1 completed, 2 rolled back, 3 stopped), incremental_checkpoints. Tasks that
-- ended give their duration_s (seconds of the logical clock; the cost table sets them);
-- a completed promotion its downtime_s, from the fence to writes enabled.
CREATE OR REPLACE MACRO ybstate_at(micros) AS
    CASE WHEN micros IS NULL OR micros = 0 THEN NULL ELSE make_timestamp(micros) END;
CREATE OR REPLACE MACRO ybstate_seconds(started, ended) AS
    CASE WHEN started IS NULL OR started = 0 OR ended IS NULL OR ended = 0 THEN NULL
         ELSE (ended - started) / 1e6 END;
CREATE OR REPLACE VIEW backup_tasks AS
SELECT *,
       ['INIT', 'RUNNING', 'SUCCESS', 'FAILED', 'CANCELED'][status + 1] AS status_name,
       ybstate_at(start_time) AS started_at,
       ybstate_at(end_time) AS ended_at,
       ybstate_seconds(start_time, end_time) AS duration_s
FROM __all_tenant_backup_task;
CREATE OR REPLACE VIEW backup_sets AS
SELECT *,
       ['CREATING', 'AVAILABLE', NULL, 'DELETED'][status + 1] AS status_name,
       ybstate_at(start_time) AS started_at,
       ybstate_at(end_time) AS ended_at,
       ybstate_at(snapshot_ts) AS snapshot_at
FROM __all_tenant_backup_set;
CREATE OR REPLACE VIEW restore_tasks AS
SELECT *,
       ['INIT', 'PREPARING', 'RESTORING_BASELINE', 'RESTORING_INCREMENTAL', 'VERIFYING', 'COMPLETED',
        'FAILED', 'CANCELLED'][status + 1] AS status_name,
       ybstate_at(until_ts) AS restore_point_at,
       ybstate_at(start_time) AS started_at,
       ybstate_at(end_time) AS ended_at,
       ybstate_seconds(start_time, end_time) AS duration_s
FROM __all_tenant_restore_task;
CREATE OR REPLACE VIEW promotions AS
SELECT *,
       CASE status WHEN 'RUNNING' THEN 0 WHEN 'COMPLETED' THEN 1 WHEN 'ROLLED_BACK' THEN 2
                   WHEN 'STOPPED' THEN 3 END AS status_code,
       status AS status_name,
       ybstate_at(started_time) AS started_at,
       ybstate_at(promotion_time) AS promoted_at,
       ybstate_seconds(started_time, promotion_time) AS duration_s,
       CASE WHEN promotion_time = 0 THEN NULL ELSE downtime_ms / 1e3 END AS downtime_s
FROM __all_tenant_promotion_history;
CREATE OR REPLACE VIEW incremental_checkpoints AS
SELECT *, ybstate_at(checkpoint_time) AS archived_up_to_at
FROM __all_tenant_incremental_checkpoint;
