-- The baseline of each frozen version holds exactly the transactions whose COMMIT is at
-- or before its FREEZE entry: recomputed here from the MUTATOR and COMMIT entries alone
-- (last write wins, deletes remove, only tables alive at the freeze), per tenant, as a row
-- count and an order-independent checksum (md5_number_lower of table, key and value,
-- summed modulo 2^64), and compared with what the FREEZE entry records.
-- Returns each (version, tenant) whose recorded and recomputed baselines differ.
WITH freezes AS (
    SELECT log_id AS freeze_log_id, CAST(payload ->> 'version' AS BIGINT) AS version, payload
    FROM commit_log
    WHERE kind = 'FREEZE'
),
recorded AS (
    SELECT f.version,
           CAST(b ->> 'tenant_id' AS BIGINT) AS tenant_id,
           CAST(b ->> 'rows' AS BIGINT) AS rows,
           CAST(b ->> 'checksum' AS UBIGINT) AS checksum
    FROM freezes f, unnest(CAST(f.payload -> 'baseline' AS JSON[])) AS u(b)
),
committed_cells AS (
    SELECT c.table_id, c.rowkey, c.value, c.log_id, c.cell_no, t.end_log_id AS commit_log_id
    FROM mutator_cells c
    JOIN transactions t USING (tx_id)
    WHERE t.outcome = 'committed'
),
-- Each row's versions, one per commit that wrote it (its last cell there wins), each
-- valid from its commit to the next commit of that row: a freeze sees the version whose
-- span holds it. One range join (freezes x versions live then), not freezes x every cell.
versions AS (
    SELECT table_id, rowkey, value, commit_log_id,
           coalesce(lead(commit_log_id) OVER (PARTITION BY table_id, rowkey ORDER BY commit_log_id),
                    9223372036854775807) AS until_log_id
    FROM (
        SELECT *, row_number() OVER (
                      PARTITION BY table_id, rowkey, commit_log_id ORDER BY log_id DESC, cell_no DESC
                  ) AS last_in_commit
        FROM committed_cells
    )
    WHERE last_in_commit = 1
),
latest AS (
    SELECT f.version, f.freeze_log_id, v.table_id, v.rowkey, v.value, 1 AS newest
    FROM freezes f
    JOIN versions v ON v.commit_log_id <= f.freeze_log_id AND v.until_log_id > f.freeze_log_id
),
alive AS (
    SELECT f.version, f.freeze_log_id, t.table_id, t.tenant_id, t.name
    FROM freezes f
    JOIN cluster_tables t
      ON t.created_log_id <= f.freeze_log_id
     AND (t.dropped_log_id IS NULL OR t.dropped_log_id > f.freeze_log_id)
),
computed AS (
    SELECT a.version, a.tenant_id,
           count(l.rowkey) AS rows,
           -- FILTER: a table with no rows adds nothing (concat_ws would hash its name alone)
           CAST(coalesce(sum(md5_number_lower(concat_ws(chr(31), a.name, l.rowkey, l.value)))
                             FILTER (WHERE l.rowkey IS NOT NULL), 0)
                % 18446744073709551616 AS UBIGINT) AS checksum
    FROM alive a
    LEFT JOIN latest l
      ON l.version = a.version AND l.table_id = a.table_id AND l.newest = 1 AND l.value IS NOT NULL
    GROUP BY a.version, a.tenant_id
)
SELECT coalesce(r.version, c.version) AS version,
       coalesce(r.tenant_id, c.tenant_id) AS tenant_id,
       r.rows AS recorded_rows, c.rows AS computed_rows,
       r.checksum AS recorded_checksum, c.checksum AS computed_checksum
FROM recorded r
FULL OUTER JOIN computed c ON r.version = c.version AND r.tenant_id = c.tenant_id
WHERE r.rows IS DISTINCT FROM c.rows OR r.checksum IS DISTINCT FROM c.checksum
ORDER BY 1, 2;
