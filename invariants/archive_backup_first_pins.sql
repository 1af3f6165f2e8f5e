-- Backup first: while a backup-first tenant's archiver runs, the transaction server never
-- recycles log it has not sealed into a piece (a crash would restart it there), so such a
-- tenant's archive has no hole but where archiving was stopped. For each recycling, the
-- running run of each backup-first tenant is the newest archive.started or
-- archive.resumed before it with no archive.stopped after; its sealed position is the
-- last log id of its newest piece (its start - 1 before any).
-- Returns each recycling that went past a backup-first archiver's sealed position, and
-- each backup-first tenant whose archiving resumed past recycled log.
WITH backup_first AS (
    SELECT tenant_id FROM tenants WHERE log_retention = 'backup_first'
),
recycled AS (
    SELECT seq, CAST(payload ->> 'through' AS BIGINT) AS through
    FROM events WHERE type = 'cluster.log_recycled'
),
runs AS (
    SELECT tenant_id, seq, type, CAST(payload ->> 'start_log_id' AS BIGINT) AS start_log_id
    FROM events WHERE type IN ('archive.started', 'archive.resumed', 'archive.stopped')
),
running AS (
    SELECT c.seq AS recycle_seq, c.through, b.tenant_id,
           arg_max(r.type, r.seq) AS last_type, max(r.seq) AS run_seq,
           arg_max(r.start_log_id, r.seq) AS start_log_id
    FROM recycled c
    CROSS JOIN backup_first b
    JOIN runs r ON r.tenant_id = b.tenant_id AND r.seq < c.seq
    GROUP BY c.seq, c.through, b.tenant_id
),
sealed AS (
    SELECT u.*,
           coalesce((SELECT max(CAST(p.payload ->> 'last_log_id' AS BIGINT)) FROM events p
                     WHERE p.type = 'archive.piece_sealed' AND p.tenant_id = u.tenant_id
                       AND p.seq > u.run_seq AND p.seq < u.recycle_seq),
                    u.start_log_id - 1) AS sealed_through
    FROM running u
    WHERE u.last_type <> 'archive.stopped'
)
SELECT tenant_id, recycle_seq AS seq, 'recycled past the sealed log' AS problem, through, sealed_through
FROM sealed WHERE through > sealed_through
UNION ALL
SELECT e.tenant_id, e.seq, 'resumed past recycled log', CAST(e.payload ->> 'start_log_id' AS BIGINT) - 1, NULL
FROM events e JOIN backup_first b USING (tenant_id)
WHERE e.type = 'archive.resumed'
ORDER BY seq;
