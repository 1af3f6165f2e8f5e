-- name: create_backup_task_view
-- __all_tenant_backup_task (the seed's columns): one row per full-backup task. status:
-- 0 init, 1 running (preparing, doing, verifying), 2 success, 3 failed, 4 canceled;
-- task_type 0 (baseline); progress is the percentage of tablets copied, 100 once every
-- tablet is copied; end_time 0 while the task runs; start_log_id and end_log_id are 0
-- (they concern incremental tasks).
CREATE OR REPLACE VIEW __all_tenant_backup_task AS
WITH ev AS (
    SELECT seq, time, type, tenant_id, payload, CAST(payload ->> 'task_id' AS BIGINT) AS task_id
    FROM events
    WHERE type LIKE 'backup.%'
),
started AS (
    SELECT task_id, tenant_id, time AS start_time, payload ->> 'destination' AS backup_dest,
           CAST(payload ->> 'set_id' AS BIGINT) AS backup_set_id
    FROM ev WHERE type = 'backup.started'
),
progress AS (
    SELECT task_id,
           arg_max(type, seq) FILTER (WHERE type <> 'backup.tablet_copied') AS last_type,
           max(time) FILTER (WHERE type IN ('backup.completed', 'backup.failed', 'backup.cancelled')) AS end_time,
           arg_max(payload ->> 'reason', seq) FILTER (WHERE type IN ('backup.failed', 'backup.cancelled')) AS error_msg,
           count(*) FILTER (WHERE type = 'backup.tablet_copied') AS copied,
           max(json_array_length(payload -> 'tablets')) FILTER (WHERE type = 'backup.prepared') AS tablets
    FROM ev
    GROUP BY task_id
)
SELECT s.task_id,
       s.tenant_id,
       0 AS task_type,
       CASE p.last_type
           WHEN 'backup.started' THEN 0
           WHEN 'backup.completed' THEN 2
           WHEN 'backup.failed' THEN 3
           WHEN 'backup.cancelled' THEN 4
           ELSE 1
       END AS status,
       s.backup_dest,
       s.start_time,
       coalesce(p.end_time, 0) AS end_time,
       s.backup_set_id,
       0 AS start_log_id,
       0 AS end_log_id,
       CASE
           WHEN p.last_type IN ('backup.copied', 'backup.completed') THEN 100
           WHEN coalesce(p.tablets, 0) = 0 THEN 0
           ELSE CAST(100 * p.copied // p.tablets AS INTEGER)
       END AS progress,
       coalesce(p.error_msg, '') AS error_msg
FROM started s
JOIN progress p USING (task_id)
ORDER BY s.task_id;

-- name: create_backup_set_view
-- __all_tenant_backup_set (the seed's columns, then ybstate's start_replay_log_id and
-- snapshot_ts): one row per backup set registered in backup storage. status: 0 creating
-- (from PREPARING), 1 available (completed), 3 deleted (its backup failed or was
-- cancelled); backup_type 0 (full); end_time and data_size are 0 until it completes.
CREATE OR REPLACE VIEW __all_tenant_backup_set AS
WITH ev AS (
    SELECT seq, time, type, tenant_id, payload, CAST(payload ->> 'task_id' AS BIGINT) AS task_id
    FROM events
    WHERE type LIKE 'backup.%'
),
started AS (
    SELECT task_id, time AS start_time, payload ->> 'destination' AS backup_dest,
           CAST(payload ->> 'set_id' AS BIGINT) AS backup_set_id
    FROM ev WHERE type = 'backup.started'
),
prepared AS (
    SELECT task_id, tenant_id,
           CAST(payload ->> 'frozen_version' AS BIGINT) AS frozen_version,
           CAST(payload ->> 'schema_version' AS BIGINT) AS schema_version,
           CAST(json_array_length(payload -> 'tablets') AS INTEGER) AS tablet_count,
           payload ->> 'manifest_path' AS manifest_path,
           CAST(payload ->> 'start_replay_log_id' AS BIGINT) AS start_replay_log_id,
           CAST(payload ->> 'snapshot_ts' AS BIGINT) AS snapshot_ts
    FROM ev WHERE type = 'backup.prepared'
),
ended AS (
    SELECT task_id, type AS end_type, time AS end_time, CAST(payload ->> 'data_size' AS BIGINT) AS data_size
    FROM ev WHERE type IN ('backup.completed', 'backup.failed', 'backup.cancelled')
)
SELECT s.backup_set_id,
       p.tenant_id,
       0 AS backup_type,
       CASE e.end_type WHEN 'backup.completed' THEN 1 WHEN 'backup.failed' THEN 3 WHEN 'backup.cancelled' THEN 3 ELSE 0 END
           AS status,
       s.backup_dest,
       s.start_time,
       CASE WHEN e.end_type = 'backup.completed' THEN e.end_time ELSE 0 END AS end_time,
       p.frozen_version,
       p.schema_version,
       CASE WHEN e.end_type = 'backup.completed' THEN e.data_size ELSE 0 END AS data_size,
       p.tablet_count,
       p.manifest_path,
       p.start_replay_log_id,
       p.snapshot_ts
FROM started s
JOIN prepared p USING (task_id)
LEFT JOIN ended e USING (task_id)
ORDER BY s.backup_set_id;

-- name: create_backup_tablet_view
-- __all_tenant_backup_tablet (the seed's columns): one row per tablet held in backup
-- storage, i.e. copied by a backup that has not failed or been cancelled (those sets are
-- deleted with their tablets). start_key and end_key are the tablet's key-hash range
-- bounds as hex text; backup_time is when the tablet was stored.
CREATE OR REPLACE VIEW __all_tenant_backup_tablet AS
SELECT CAST(c.payload ->> 'set_id' AS BIGINT) AS backup_set_id,
       CAST(c.payload ->> 'tablet_id' AS BIGINT) AS tablet_id,
       c.tenant_id,
       CAST(c.payload ->> 'table_id' AS BIGINT) AS table_id,
       lower(printf('%08x', CAST(t ->> 'start' AS BIGINT))) AS start_key,
       lower(printf('%08x', CAST(t ->> 'end' AS BIGINT))) AS end_key,
       CAST(c.payload ->> 'row_count' AS BIGINT) AS row_count,
       CAST(c.payload ->> 'data_size' AS BIGINT) AS data_size,
       CAST(c.payload ->> 'checksum' AS UBIGINT) AS checksum,
       c.payload ->> 'path' AS sstable_path,
       c.time AS backup_time
FROM events c
JOIN events p
  ON p.type = 'backup.prepared'
 AND CAST(p.payload ->> 'task_id' AS BIGINT) = CAST(c.payload ->> 'task_id' AS BIGINT)
CROSS JOIN LATERAL (
    SELECT t FROM unnest(CAST(p.payload -> 'tablets' AS JSON[])) AS u(t)
    WHERE CAST(t ->> 'tablet_id' AS BIGINT) = CAST(c.payload ->> 'tablet_id' AS BIGINT)
) AS range_of
WHERE c.type = 'backup.tablet_copied'
  AND NOT EXISTS (
      SELECT 1 FROM events e
      WHERE e.type IN ('backup.failed', 'backup.cancelled')
        AND CAST(e.payload ->> 'task_id' AS BIGINT) = CAST(c.payload ->> 'task_id' AS BIGINT)
  )
ORDER BY backup_set_id, tablet_id;
