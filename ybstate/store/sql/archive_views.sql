-- name: create_incremental_checkpoint_view
-- __all_tenant_incremental_checkpoint (the seed's columns): one row per tenant whose log
-- has ever been archived. checkpoint_log_id: every entry up to it is read and every
-- tenant entry among them is in a sealed piece (checkpoints never move back, so it is the
-- largest ever persisted); checkpoint_time: the archived-up-to timestamp (that entry's
-- ts, 0 before the first checkpoint); archive_dest: the newest run's destination;
-- archive_file_id: pieces sealed so far; archived_log_count and archived_data_size: the
-- entries and bytes those pieces hold.
CREATE OR REPLACE VIEW __all_tenant_incremental_checkpoint AS
WITH started AS (
    SELECT tenant_id, arg_max(payload ->> 'destination', seq) AS archive_dest
    FROM events WHERE type = 'archive.started'
    GROUP BY tenant_id
),
progress AS (
    SELECT tenant_id, max(CAST(payload ->> 'last_log_id' AS BIGINT)) AS checkpoint_log_id
    FROM events WHERE type IN ('archive.piece_sealed', 'archive.checkpoint')
    GROUP BY tenant_id
),
pieces AS (
    SELECT tenant_id,
           max(CAST(payload ->> 'piece_no' AS BIGINT)) AS archive_file_id,
           sum(CAST(payload ->> 'entry_count' AS BIGINT)) AS archived_log_count,
           sum(CAST(payload ->> 'data_size' AS BIGINT)) AS archived_data_size
    FROM events WHERE type = 'archive.piece_sealed'
    GROUP BY tenant_id
)
SELECT s.tenant_id,
       coalesce(p.checkpoint_log_id, 0) AS checkpoint_log_id,
       coalesce(l.ts, 0) AS checkpoint_time,
       s.archive_dest,
       coalesce(x.archive_file_id, 0) AS archive_file_id,
       CAST(coalesce(x.archived_log_count, 0) AS BIGINT) AS archived_log_count,
       CAST(coalesce(x.archived_data_size, 0) AS BIGINT) AS archived_data_size
FROM started s
LEFT JOIN progress p USING (tenant_id)
LEFT JOIN commit_log l ON l.log_id = p.checkpoint_log_id
LEFT JOIN pieces x USING (tenant_id)
ORDER BY s.tenant_id;
