-- Log ids are dense and increasing: the n-th commit-log entry of the history (in event
-- order) has log id n, for every entry kind (DDL, MUTATOR, COMMIT, ABORT, FREEZE, HEARTBEAT).
-- Returns each entry whose log id is not the one expected.
SELECT seq, kind, log_id, expected_log_id
FROM (
    SELECT seq, kind, log_id, row_number() OVER (ORDER BY seq) AS expected_log_id
    FROM commit_log
)
WHERE log_id IS DISTINCT FROM expected_log_id
ORDER BY seq;
