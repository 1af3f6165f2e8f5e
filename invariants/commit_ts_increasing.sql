-- Timestamps increase strictly with log id (the transaction server assigns both under one
-- lock), so commit timestamps increase with the commit's log id.
-- Returns each entry, and each COMMIT, whose timestamp is not after its predecessor's.
SELECT 'entry' AS scope, log_id, kind, ts, previous_ts
FROM (
    SELECT log_id, kind, ts, lag(ts) OVER (ORDER BY log_id) AS previous_ts FROM commit_log
)
WHERE ts <= previous_ts
UNION ALL
SELECT 'commit' AS scope, log_id, kind, ts, previous_ts
FROM (
    SELECT log_id, kind, ts, lag(ts) OVER (ORDER BY log_id) AS previous_ts
    FROM commit_log
    WHERE kind = 'COMMIT'
)
WHERE ts <= previous_ts
ORDER BY log_id;
