-- Backup tasks only move forward through the seed's phases: every backup event of a task
-- is one its phase allows (INIT -> PREPARING -> DOING -> VERIFYING -> COMPLETED, FAILED
-- from PREPARING, DOING or VERIFYING, CANCELLED from any running phase), and nothing
-- follows a final event. Phases are replayed here from the event types alone.
-- Returns each backup event that its task's phase at that point does not allow.
WITH RECURSIVE ev AS (
    SELECT seq, type, CAST(payload ->> 'task_id' AS BIGINT) AS task_id,
           row_number() OVER (PARTITION BY CAST(payload ->> 'task_id' AS BIGINT) ORDER BY seq) AS n
    FROM events
    WHERE type LIKE 'backup.%'
),
allowed(phase, type, next_phase) AS (
    VALUES ('NONE', 'backup.started', 'INIT'),
           ('INIT', 'backup.preparing', 'PREPARING'),
           ('PREPARING', 'backup.prepared', 'DOING'),
           ('DOING', 'backup.tablet_copied', 'DOING'),
           ('DOING', 'backup.copied', 'VERIFYING'),
           ('VERIFYING', 'backup.completed', 'COMPLETED'),
           ('PREPARING', 'backup.failed', 'FAILED'),
           ('DOING', 'backup.failed', 'FAILED'),
           ('VERIFYING', 'backup.failed', 'FAILED'),
           ('INIT', 'backup.cancelled', 'CANCELLED'),
           ('PREPARING', 'backup.cancelled', 'CANCELLED'),
           ('DOING', 'backup.cancelled', 'CANCELLED'),
           ('VERIFYING', 'backup.cancelled', 'CANCELLED')
),
walk(task_id, n, seq, type, phase) AS (
    SELECT e.task_id, e.n, e.seq, e.type, coalesce(a.next_phase, 'ILLEGAL')
    FROM ev e LEFT JOIN allowed a ON a.phase = 'NONE' AND a.type = e.type
    WHERE e.n = 1
    UNION ALL
    SELECT e.task_id, e.n, e.seq, e.type, coalesce(a.next_phase, 'ILLEGAL')
    FROM walk w
    JOIN ev e ON e.task_id = w.task_id AND e.n = w.n + 1
    LEFT JOIN allowed a ON a.phase = w.phase AND a.type = e.type
    WHERE w.phase <> 'ILLEGAL'
)
SELECT task_id, seq, type AS event
FROM walk
WHERE phase = 'ILLEGAL'
ORDER BY task_id, seq;
