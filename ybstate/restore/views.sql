-- name: create_restore_task_view
-- __all_tenant_restore_task (the seed's columns, then ybstate's until_ts and
-- target_name): one row per restore task. status: 0 init, 1 prepare, 2 baseline,
-- 3 incremental, 4 verify, 5 success, 6 failed, 7 canceled, from the task's last event
-- that moved it to a new phase (events within a phase need no entry here).
-- dest_tenant_id is 0 until PREPARING created the standby; restore_timestamp is 0 for a
-- restore asked for "latest", else T (until_ts is T as resolved); backup_dest is the
-- backup set's destination (its backup's); end_time 0 while the task runs. baseline_progress: tablets loaded / tablets in percent (0 before PREPARING ended;
-- an empty set: 100 from then on); incremental_progress: entries applied / entries
-- to replay in percent, 100 from VERIFYING on; restored_log_id: the log id of the last
-- entry the applier handled (the first entry past T does not count; an entry skipped
-- under skip_failed_apply does); error_msg: why the task failed (restore.failed, or
-- restore.entry_apply_failed: the applier failed on an entry) or was cancelled.
CREATE OR REPLACE VIEW __all_tenant_restore_task AS
WITH ev AS (
    SELECT seq, time, type, payload, CAST(payload ->> 'task_id' AS BIGINT) AS task_id,
           -- the status an event moves its task to; NULL for events within a phase
           CASE type
               WHEN 'restore.started' THEN 0
               WHEN 'restore.preparing' THEN 1
               WHEN 'restore.prepared' THEN 2
               WHEN 'restore.incremental_started' THEN 3
               WHEN 'restore.verifying' THEN 4
               WHEN 'restore.completed' THEN 5
               WHEN 'restore.failed' THEN 6
               WHEN 'restore.entry_apply_failed' THEN 6
               WHEN 'restore.cancelled' THEN 7
           END AS entered
    FROM events
    WHERE type LIKE 'restore.%'
),
started AS (
    SELECT task_id, time AS start_time,
           CAST(payload ->> 'source_tenant_id' AS BIGINT) AS src_tenant_id,
           CAST(payload ->> 'set_id' AS BIGINT) AS backup_set_id,
           CAST(payload ->> 'until_ts' AS BIGINT) AS until_ts,
           CAST(payload ->> 'latest' AS BOOLEAN) AS latest,
           payload ->> 'target_name' AS target_name
    FROM ev WHERE type = 'restore.started'
),
progress AS (
    SELECT task_id,
           arg_max(entered, seq) FILTER (WHERE entered IS NOT NULL) AS status,
           max(CAST(payload ->> 'target_tenant_id' AS BIGINT)) FILTER (WHERE type = 'restore.prepared')
               AS dest_tenant_id,
           max(CAST(payload ->> 'tablets' AS BIGINT)) FILTER (WHERE type = 'restore.prepared') AS tablets,
           count(*) FILTER (WHERE type = 'restore.tablet_restored') AS loaded,
           max(CAST(payload ->> 'entries' AS BIGINT)) FILTER (WHERE type = 'restore.incremental_started')
               AS entries,
           arg_max(CAST(payload ->> 'entry_seq' AS BIGINT), seq) FILTER (WHERE type = 'restore.entry_applied')
               AS applied,
           arg_max(CAST(payload ->> 'log_id' AS BIGINT), seq)
               FILTER (WHERE type = 'restore.entry_applied' AND payload ->> 'outcome' <> 'past T')
               AS restored_log_id,
           max(time) FILTER (
               WHERE type IN ('restore.completed', 'restore.failed', 'restore.entry_apply_failed',
                              'restore.cancelled')
           ) AS end_time,
           arg_max(payload ->> 'reason', seq) FILTER (
               WHERE type IN ('restore.failed', 'restore.entry_apply_failed', 'restore.cancelled')
           ) AS error_msg
    FROM ev
    GROUP BY task_id
)
SELECT s.task_id,
       s.src_tenant_id,
       coalesce(c.dest_tenant_id, 0) AS dest_tenant_id,
       s.backup_set_id,
       CASE WHEN s.latest THEN 0 ELSE s.until_ts END AS restore_timestamp,
       c.status,
       b.backup_dest,
       s.start_time,
       coalesce(c.end_time, 0) AS end_time,
       CASE
           WHEN c.tablets IS NULL THEN 0
           WHEN c.tablets = 0 THEN 100
           ELSE CAST(100 * c.loaded // c.tablets AS BIGINT)
       END AS baseline_progress,
       CASE
           WHEN c.status IN (4, 5) THEN 100
           WHEN coalesce(c.entries, 0) = 0 THEN 0
           ELSE CAST(100 * coalesce(c.applied, 0) // c.entries AS BIGINT)
       END AS incremental_progress,
       coalesce(c.restored_log_id, 0) AS restored_log_id,
       coalesce(c.error_msg, '') AS error_msg,
       s.until_ts,
       s.target_name
FROM started s
JOIN progress c USING (task_id)
LEFT JOIN (
    SELECT CAST(payload ->> 'set_id' AS BIGINT) AS backup_set_id, payload ->> 'destination' AS backup_dest
    FROM events WHERE type = 'backup.started'
) b USING (backup_set_id)
ORDER BY s.task_id;

-- name: create_schema_mapping_view
-- __all_tenant_schema_mapping (ybstate's): one row per standby table a restore created,
-- with the source table it holds the rows of. The tables of the backup set's schema come
-- from restore.prepared's mapping; a replayed CREATE TABLE (a restore.entry_applied with
-- outcome 'table created') adds the source table of that log entry and its standby
-- table, at the schema version the standby's CREATE TABLE takes (one past the newest DDL
-- before it); dropped is true once the applier replayed the source table's drop ('table
-- dropped' on that standby table).
CREATE OR REPLACE VIEW __all_tenant_schema_mapping AS
WITH started AS (
    SELECT CAST(payload ->> 'task_id' AS BIGINT) AS task_id,
           CAST(payload ->> 'source_tenant_id' AS BIGINT) AS src_tenant_id
    FROM events WHERE type = 'restore.started'
),
prepared AS (
    SELECT CAST(payload ->> 'task_id' AS BIGINT) AS task_id,
           CAST(payload ->> 'target_tenant_id' AS BIGINT) AS dest_tenant_id,
           payload
    FROM events WHERE type = 'restore.prepared'
),
applied AS (
    SELECT seq, CAST(payload ->> 'task_id' AS BIGINT) AS task_id,
           payload ->> 'outcome' AS outcome,
           CAST(payload ->> 'log_id' AS BIGINT) AS log_id,
           CAST(payload ->> 'target_table_id' AS BIGINT) AS dest_table_id
    FROM events
    WHERE type = 'restore.entry_applied' AND payload ->> 'outcome' IN ('table created', 'table dropped')
),
mapped AS (
    SELECT p.task_id,
           CAST(m ->> 'source_table_id' AS BIGINT) AS src_table_id,
           CAST(m ->> 'target_table_id' AS BIGINT) AS dest_table_id,
           m ->> 'name' AS table_name,
           CAST(m ->> 'schema_version' AS BIGINT) AS dest_schema_version
    FROM prepared p
    CROSS JOIN LATERAL (SELECT m FROM unnest(CAST(p.payload -> 'mapping' AS JSON[])) AS u(m)) AS entries
    UNION ALL
    SELECT a.task_id,
           CAST(src.payload ->> 'table_id' AS BIGINT),
           a.dest_table_id,
           src.payload ->> 'name',
           coalesce((
               SELECT max(CAST(d.payload ->> 'schema_version' AS BIGINT)) FROM events d
               WHERE d.type IN ('log.ddl_create_table', 'log.ddl_drop_table') AND d.seq < a.seq
           ), 0) + 1
    FROM applied a
    JOIN commit_log src ON src.log_id = a.log_id
    WHERE a.outcome = 'table created'
)
SELECT m.task_id,
       s.src_tenant_id,
       p.dest_tenant_id,
       m.src_table_id,
       m.dest_table_id,
       m.table_name,
       m.dest_schema_version,
       EXISTS (
           SELECT 1 FROM applied d
           WHERE d.task_id = m.task_id AND d.outcome = 'table dropped' AND d.dest_table_id = m.dest_table_id
       ) AS dropped
FROM mapped m
JOIN started s USING (task_id)
JOIN prepared p USING (task_id)
ORDER BY m.task_id, m.dest_table_id;
