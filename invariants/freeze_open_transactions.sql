-- A transaction still open at a FREEZE entry (first MUTATOR before it, COMMIT or ABORT
-- after it, or never) is recorded by that entry as open, and is therefore not in that
-- version's baseline; no other transaction is recorded so.
-- Returns each (version, transaction) found in one list and not the other.
WITH freezes AS (
    SELECT log_id AS freeze_log_id, CAST(payload ->> 'version' AS BIGINT) AS version, payload
    FROM commit_log
    WHERE kind = 'FREEZE'
),
recorded AS (
    SELECT f.version, CAST(o ->> 'tx_id' AS BIGINT) AS tx_id
    FROM freezes f, unnest(CAST(f.payload -> 'open_transactions' AS JSON[])) AS u(o)
),
straddling AS (
    SELECT f.version, t.tx_id
    FROM freezes f
    JOIN transactions t
      ON t.first_log_id < f.freeze_log_id
     AND (t.end_log_id IS NULL OR t.end_log_id > f.freeze_log_id)
)
SELECT coalesce(r.version, s.version) AS version,
       coalesce(r.tx_id, s.tx_id) AS tx_id,
       CASE WHEN r.tx_id IS NULL THEN 'open at the freeze, not recorded'
            ELSE 'recorded, but not open at the freeze' END AS problem
FROM recorded r
FULL OUTER JOIN straddling s ON r.version = s.version AND r.tx_id = s.tx_id
WHERE r.tx_id IS NULL OR s.tx_id IS NULL
ORDER BY 1, 2;
