-- An archiver reads only log the transaction server still has: every read, and every
-- start or resumption of archiving, begins after the furthest log id recycled before it.
-- Returns each read or (re)start that begins at a recycled log id, with the recycling
-- point it missed.
WITH recycled AS (
    SELECT seq, CAST(payload ->> 'through' AS BIGINT) AS through
    FROM events WHERE type = 'cluster.log_recycled'
),
reads AS (
    SELECT tenant_id, seq, type,
           CAST(coalesce(payload ->> 'first_log_id', payload ->> 'start_log_id') AS BIGINT) AS first_log_id
    FROM events WHERE type IN ('archive.entries_read', 'archive.started', 'archive.resumed')
)
SELECT r.tenant_id, r.seq, r.type, r.first_log_id, max(c.through) AS recycled_through
FROM reads r
JOIN recycled c ON c.seq < r.seq
GROUP BY r.tenant_id, r.seq, r.type, r.first_log_id
HAVING r.first_log_id <= max(c.through)
ORDER BY r.seq;
