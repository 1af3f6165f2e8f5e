-- No frozen version is dropped while a running backup reads it: a backup pins the version
-- its PREPARING fixed from that event until its task ends (completed, failed or
-- cancelled), and no 'cluster.version_dropped' event for that version may fall between.
-- Returns each drop of a pinned version, with the backup task that pinned it.
WITH pins AS (
    SELECT CAST(p.payload ->> 'task_id' AS BIGINT) AS task_id,
           CAST(p.payload ->> 'frozen_version' AS BIGINT) AS version,
           p.seq AS pinned_from,
           coalesce(min(e.seq), 9223372036854775807) AS pinned_until
    FROM events p
    LEFT JOIN events e
      ON e.type IN ('backup.completed', 'backup.failed', 'backup.cancelled')
     AND CAST(e.payload ->> 'task_id' AS BIGINT) = CAST(p.payload ->> 'task_id' AS BIGINT)
    WHERE p.type = 'backup.prepared'
    GROUP BY 1, 2, 3
)
SELECT d.seq AS drop_seq, CAST(d.payload ->> 'version' AS BIGINT) AS version, p.task_id
FROM events d
JOIN pins p
  ON CAST(d.payload ->> 'version' AS BIGINT) = p.version
 AND d.seq > p.pinned_from
 AND d.seq < p.pinned_until
WHERE d.type = 'cluster.version_dropped'
ORDER BY d.seq;
