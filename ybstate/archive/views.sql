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

-- name: create_archive_coverage_view
-- The log each archiving run covers: from where the run started (an archive.started, or
-- an archive.resumed after recycled log) to the furthest entry a sealed piece or a
-- checkpoint of that run reached (only runs that reached past their start), with the
-- archived-up-to timestamp there.
CREATE OR REPLACE VIEW tenant_archive_coverage AS
WITH runs AS (
    SELECT tenant_id, seq,
           CAST(payload ->> 'run' AS BIGINT) AS run,
           CAST(payload ->> 'start_log_id' AS BIGINT) AS start_log_id,
           coalesce(lead(seq) OVER (PARTITION BY tenant_id ORDER BY seq), 9223372036854775807) AS next_start_seq
    FROM events WHERE type IN ('archive.started', 'archive.resumed')
),
reached AS (
    SELECT r.tenant_id, r.run, r.start_log_id, max(CAST(p.payload ->> 'last_log_id' AS BIGINT)) AS through
    FROM runs r
    JOIN events p
      ON p.tenant_id = r.tenant_id AND p.seq > r.seq AND p.seq < r.next_start_seq
     AND p.type IN ('archive.piece_sealed', 'archive.checkpoint')
    GROUP BY r.tenant_id, r.run, r.start_log_id
)
SELECT x.tenant_id, x.run, x.start_log_id AS first_log_id, x.through AS last_log_id, l.ts AS until_ts
FROM reached x
JOIN commit_log l ON l.log_id = x.through
WHERE x.through >= x.start_log_id
ORDER BY x.tenant_id, x.run;

-- name: create_archive_segments_view
-- Covered runs that meet (one starts right after the other ends: a resumption that lost
-- nothing) joined into segments of the archive without a hole, each up to the
-- archived-up-to timestamp of its last run.
CREATE OR REPLACE VIEW tenant_archive_segments AS
WITH starts AS (
    SELECT *,
           CASE WHEN first_log_id = lag(last_log_id) OVER (PARTITION BY tenant_id ORDER BY run) + 1
                THEN 0 ELSE 1 END AS new_segment
    FROM tenant_archive_coverage
),
numbered AS (
    SELECT *, sum(new_segment) OVER (PARTITION BY tenant_id ORDER BY run) AS segment
    FROM starts
)
SELECT tenant_id, segment, min(first_log_id) AS first_log_id, max(last_log_id) AS last_log_id,
       arg_max(until_ts, last_log_id) AS until_ts
FROM numbered
GROUP BY tenant_id, segment
ORDER BY tenant_id, segment;

-- name: create_archive_holes_view
-- Holes in a tenant's archived log, each with its reason, as recorded when it arose:
-- 'stopped' (archiving was stopped and started again further on: archive.started),
-- 'crash before a seal' (read, lost in an archiver crash, and recycled before a re-read)
-- and 'recycled log' (recycled before the archiver read it: business-first tenants only;
-- both from archive.resumed). Adjacent holes of one reason are joined.
CREATE OR REPLACE VIEW tenant_archive_holes AS
WITH recorded AS (
    SELECT tenant_id, CAST(payload ->> 'hole_first' AS BIGINT) AS first_log_id,
           CAST(payload ->> 'hole_last' AS BIGINT) AS last_log_id, 'stopped' AS reason
    FROM events WHERE type = 'archive.started' AND CAST(payload ->> 'hole_first' AS BIGINT) > 0
    UNION ALL
    SELECT tenant_id, CAST(payload ->> 'lost_first' AS BIGINT),
           CAST(payload ->> 'lost_last' AS BIGINT), 'crash before a seal'
    FROM events WHERE type = 'archive.resumed' AND CAST(payload ->> 'lost_first' AS BIGINT) > 0
    UNION ALL
    SELECT tenant_id, CAST(payload ->> 'recycled_first' AS BIGINT),
           CAST(payload ->> 'recycled_last' AS BIGINT), 'recycled log'
    FROM events WHERE type = 'archive.resumed' AND CAST(payload ->> 'recycled_first' AS BIGINT) > 0
),
starts AS (
    SELECT *,
           CASE WHEN first_log_id = lag(last_log_id) OVER w + 1 AND reason = lag(reason) OVER w
                THEN 0 ELSE 1 END AS new_hole
    FROM recorded
    WINDOW w AS (PARTITION BY tenant_id ORDER BY first_log_id)
),
numbered AS (
    SELECT *, sum(new_hole) OVER (PARTITION BY tenant_id ORDER BY first_log_id) AS hole
    FROM starts
)
SELECT tenant_id, min(first_log_id) AS first_log_id, max(last_log_id) AS last_log_id, any_value(reason) AS reason
FROM numbered
GROUP BY tenant_id, hole
ORDER BY tenant_id, first_log_id;

-- name: create_log_retention_view
-- How far the transaction server has recycled its commit log, after each recycling: log
-- ids 1 .. recycled_through are gone from it (the archive is the only copy).
CREATE OR REPLACE VIEW log_retention AS
SELECT seq, time, CAST(payload ->> 'through' AS BIGINT) AS recycled_through
FROM events WHERE type = 'cluster.log_recycled'
ORDER BY seq;

-- name: create_restorable_window_view
-- The restorable window of each tenant (DESIGN 3.3): for each completed backup set, every
-- T in [from_ts, to_ts] is restorable, where from_ts is the set's snapshot and to_ts the
-- archived-up-to time of the archive segment that covers the log from the set's
-- start_replay_log_id through its freeze entry without a hole.
CREATE OR REPLACE VIEW tenant_restorable_window AS
WITH sets AS (
    SELECT s.backup_set_id, s.tenant_id, s.snapshot_ts, s.start_replay_log_id, f.log_id AS freeze_log_id
    FROM __all_tenant_backup_set s
    JOIN commit_log f ON f.kind = 'FREEZE' AND CAST(f.payload ->> 'version' AS BIGINT) = s.frozen_version
    WHERE s.status = 1
)
SELECT s.tenant_id, s.snapshot_ts AS from_ts, c.until_ts AS to_ts, s.backup_set_id
FROM sets s
JOIN tenant_archive_segments c
  ON c.tenant_id = s.tenant_id
 AND c.first_log_id <= s.start_replay_log_id
 AND c.last_log_id >= s.freeze_log_id
 AND c.until_ts >= s.snapshot_ts
ORDER BY s.tenant_id, s.backup_set_id;

-- name: create_archive_lag_view
-- The recovery point objective as a run went: one row per archive progress of a tenant
-- (a piece sealed, a checkpoint persisted). At `time` the archive reached `archived_up_to`
-- (the ts of the newest entry it holds). lag_before_us: how far the archive was behind the
-- clock just before, the most a primary lost at that moment would have lost (NULL for a
-- tenant's first progress); lag_after_us: just after. `SELECT tenant_id,
-- max(lag_before_us) FROM archive_lag GROUP BY ALL` is each tenant's worst RPO.
CREATE OR REPLACE VIEW archive_lag AS
WITH progress AS (
    SELECT seq, time, tenant_id,
           max(CAST(payload ->> 'last_log_id' AS BIGINT))
               OVER (PARTITION BY tenant_id ORDER BY seq) AS through_log_id
    FROM events WHERE type IN ('archive.piece_sealed', 'archive.checkpoint')
),
stamped AS (
    SELECT p.*, l.ts AS archived_up_to,
           lag(l.ts) OVER (PARTITION BY p.tenant_id ORDER BY p.seq) AS previous
    FROM progress p JOIN commit_log l ON l.log_id = p.through_log_id
)
SELECT tenant_id, seq, time, through_log_id, archived_up_to,
       time - previous AS lag_before_us,
       time - archived_up_to AS lag_after_us,
       make_timestamp(time) AS at,
       make_timestamp(archived_up_to) AS archived_up_to_at
FROM stamped
ORDER BY tenant_id, seq;
