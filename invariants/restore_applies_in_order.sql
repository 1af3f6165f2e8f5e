-- A restore's incremental pipeline hands the archived entries to its applier strictly in
-- order, whatever order its rewrite workers finish in: per restore task, the entry_seq
-- of the restore.entry_applied events are exactly 1, 2, 3, ... in event order (no gap,
-- no repeat), each applied entry was read (restore.entry_read) and rewritten
-- (restore.entry_rewritten) by earlier events of the task, and the reader numbers the
-- entries it reads 1, 2, 3, ... in event order too.
-- Returns each restore.entry_applied or restore.entry_read event that breaks one of
-- these: the task, the event's seq and type, its entry_seq, the entry_seq expected
-- there (its rank among the task's events of that type) and the problem.
WITH ev AS (
    SELECT seq, type, CAST(payload ->> 'task_id' AS BIGINT) AS task_id,
           CAST(payload ->> 'entry_seq' AS BIGINT) AS entry_seq,
           row_number() OVER (PARTITION BY CAST(payload ->> 'task_id' AS BIGINT), type ORDER BY seq) AS n
    FROM events
    WHERE type IN ('restore.entry_read', 'restore.entry_rewritten', 'restore.entry_applied')
),
applied AS (
    SELECT * FROM ev WHERE type = 'restore.entry_applied'
)
SELECT task_id, seq, type AS event, entry_seq, n AS expected_entry_seq, 'applied out of order' AS problem
FROM applied
WHERE entry_seq IS DISTINCT FROM n
UNION ALL
SELECT a.task_id, a.seq, a.type, a.entry_seq, a.n, 'applied before it was read'
FROM applied a
WHERE NOT EXISTS (
    SELECT 1 FROM ev r
    WHERE r.type = 'restore.entry_read' AND r.task_id = a.task_id AND r.entry_seq = a.entry_seq AND r.seq < a.seq
)
UNION ALL
SELECT a.task_id, a.seq, a.type, a.entry_seq, a.n, 'applied before it was rewritten'
FROM applied a
WHERE NOT EXISTS (
    SELECT 1 FROM ev w
    WHERE w.type = 'restore.entry_rewritten' AND w.task_id = a.task_id AND w.entry_seq = a.entry_seq
      AND w.seq < a.seq
)
UNION ALL
SELECT task_id, seq, type, entry_seq, n, 'read out of order'
FROM ev
WHERE type = 'restore.entry_read' AND entry_seq IS DISTINCT FROM n
ORDER BY task_id, seq, problem;
