-- A completed backup set holds exactly its tenant's baseline at its frozen version: the
-- rows stored by its tablet copies, per table name, equal the rows recomputed from the
-- MUTATOR and COMMIT entries committed at or before that version's FREEZE entry (last
-- write wins, deletes remove, tables alive at the freeze), and it holds no other
-- tenant's table.
-- Returns each (set, table, key) found on one side only or with different values.
WITH sets AS (
    SELECT CAST(p.payload ->> 'task_id' AS BIGINT) AS task_id,
           CAST(s.payload ->> 'set_id' AS BIGINT) AS set_id,
           p.tenant_id,
           CAST(p.payload ->> 'frozen_version' AS BIGINT) AS frozen_version
    FROM events p
    JOIN events s ON s.type = 'backup.started'
     AND CAST(s.payload ->> 'task_id' AS BIGINT) = CAST(p.payload ->> 'task_id' AS BIGINT)
    JOIN events c ON c.type = 'backup.completed'
     AND CAST(c.payload ->> 'task_id' AS BIGINT) = CAST(p.payload ->> 'task_id' AS BIGINT)
    WHERE p.type = 'backup.prepared'
),
freezes AS (
    SELECT log_id AS freeze_log_id, CAST(payload ->> 'version' AS BIGINT) AS version
    FROM commit_log WHERE kind = 'FREEZE'
),
stored AS (
    SELECT CAST(e.payload ->> 'set_id' AS BIGINT) AS set_id,
           e.payload ->> 'table_name' AS table_name,
           CAST(e.payload ->> 'table_id' AS BIGINT) AS table_id,
           r ->> 0 AS rowkey, r ->> 1 AS value
    FROM events e, unnest(CAST(e.payload -> 'rows' AS JSON[])) AS u(r)
    WHERE e.type = 'backup.tablet_copied'
),
committed_cells AS (
    SELECT c.table_id, c.rowkey, c.value, c.log_id, c.cell_no, t.end_log_id AS commit_log_id
    FROM mutator_cells c JOIN transactions t USING (tx_id)
    WHERE t.outcome = 'committed'
),
expected AS (
    SELECT s.set_id, t.name AS table_name, c.rowkey, c.value,
           row_number() OVER (PARTITION BY s.set_id, c.table_id, c.rowkey
                              ORDER BY c.commit_log_id DESC, c.log_id DESC, c.cell_no DESC) AS newest
    FROM sets s
    JOIN freezes f ON f.version = s.frozen_version
    JOIN cluster_tables t
      ON t.tenant_id = s.tenant_id
     AND t.created_log_id <= f.freeze_log_id
     AND (t.dropped_log_id IS NULL OR t.dropped_log_id > f.freeze_log_id)
    JOIN committed_cells c ON c.table_id = t.table_id AND c.commit_log_id <= f.freeze_log_id
),
held AS (
    SELECT st.set_id, st.table_name, st.rowkey, st.value
    FROM stored st JOIN sets s USING (set_id)
    JOIN cluster_tables t ON t.table_id = st.table_id AND t.tenant_id = s.tenant_id
),
foreign_tables AS (
    SELECT st.set_id, st.table_name, st.rowkey, st.value
    FROM stored st JOIN sets s USING (set_id)
    JOIN cluster_tables t ON t.table_id = st.table_id AND t.tenant_id <> s.tenant_id
)
SELECT coalesce(h.set_id, x.set_id) AS set_id,
       coalesce(h.table_name, x.table_name) AS table_name,
       coalesce(h.rowkey, x.rowkey) AS rowkey,
       x.value AS expected_value, h.value AS stored_value, 'differs from the baseline' AS problem
FROM held h
FULL OUTER JOIN (SELECT * FROM expected WHERE newest = 1 AND value IS NOT NULL) x
  ON h.set_id = x.set_id AND h.table_name = x.table_name AND h.rowkey = x.rowkey
WHERE h.value IS DISTINCT FROM x.value
UNION ALL
SELECT set_id, table_name, rowkey, NULL, value, 'row of another tenant''s table'
FROM foreign_tables
ORDER BY 1, 2, 3;
