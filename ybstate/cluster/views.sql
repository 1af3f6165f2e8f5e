-- name: create_commit_log
-- The shared commit log: every event that is a log entry, with its log id, timestamp and
-- entry kind (DDL, MUTATOR, COMMIT, ABORT, FREEZE, HEARTBEAT).
CREATE OR REPLACE VIEW commit_log AS
SELECT
    CAST(payload ->> 'log_id' AS BIGINT) AS log_id,
    time AS ts,
    CASE type
        WHEN 'log.ddl_create_table' THEN 'DDL'
        WHEN 'log.ddl_drop_table' THEN 'DDL'
        WHEN 'log.mutator' THEN 'MUTATOR'
        WHEN 'log.commit' THEN 'COMMIT'
        WHEN 'log.abort' THEN 'ABORT'
        WHEN 'log.freeze' THEN 'FREEZE'
        WHEN 'log.heartbeat' THEN 'HEARTBEAT'
    END AS kind,
    tenant_id,
    CAST(payload ->> 'tx_id' AS BIGINT) AS tx_id,
    seq,
    payload,
    make_timestamp(time) AS at  -- ts as a TIMESTAMP (microseconds since the epoch)
FROM events
WHERE type LIKE 'log.%';

-- name: create_tables_view
-- Every table ever created: owner, name, id, and the log ids of its creation and drop.
CREATE OR REPLACE VIEW cluster_tables AS
SELECT
    CAST(c.payload ->> 'table_id' AS BIGINT) AS table_id,
    c.tenant_id,
    c.payload ->> 'name' AS name,
    CAST(c.payload ->> 'log_id' AS BIGINT) AS created_log_id,
    c.time AS created_ts,
    CAST(d.payload ->> 'log_id' AS BIGINT) AS dropped_log_id,
    d.time AS dropped_ts
FROM events c
LEFT JOIN events d
    ON d.type = 'log.ddl_drop_table'
   AND CAST(d.payload ->> 'table_id' AS BIGINT) = CAST(c.payload ->> 'table_id' AS BIGINT)
WHERE c.type = 'log.ddl_create_table';

-- name: create_cells_view
-- Every row change of every mutator, one row per cell, with the transaction and the
-- table it belongs to (value NULL for a delete).
CREATE OR REPLACE VIEW mutator_cells AS
SELECT
    m.log_id,
    m.ts,
    m.tenant_id,
    m.tx_id,
    c.ord AS cell_no,
    CAST(c.cell ->> 'table_id' AS BIGINT) AS table_id,
    c.cell ->> 'rowkey' AS rowkey,
    c.cell ->> 'value' AS value
FROM commit_log m,
     LATERAL (
        SELECT unnest(CAST(m.payload -> 'cells' AS JSON[])) AS cell,
               generate_subscripts(CAST(m.payload -> 'cells' AS JSON[]), 1) AS ord
     ) c
WHERE m.kind = 'MUTATOR';

-- name: create_transactions_view
-- Every transaction: tenant, first log id, and how and where it ended (NULL while open).
CREATE OR REPLACE VIEW transactions AS
SELECT
    tx_id,
    any_value(tenant_id) AS tenant_id,
    min(log_id) FILTER (WHERE kind = 'MUTATOR') AS first_log_id,
    max(log_id) FILTER (WHERE kind IN ('COMMIT', 'ABORT')) AS end_log_id,
    max(ts) FILTER (WHERE kind = 'COMMIT') AS commit_ts,
    CASE
        WHEN count(*) FILTER (WHERE kind = 'COMMIT') > 0 THEN 'committed'
        WHEN count(*) FILTER (WHERE kind = 'ABORT') > 0 THEN 'aborted'
        ELSE 'open'
    END AS outcome,
    make_timestamp(max(ts) FILTER (WHERE kind = 'COMMIT')) AS committed_at
FROM commit_log
WHERE tx_id IS NOT NULL
GROUP BY tx_id;

-- name: create_marks_view
-- Named points in time recorded by scenarios.
CREATE OR REPLACE VIEW marks AS
SELECT payload ->> 'name' AS name, CAST(payload ->> 'ts' AS BIGINT) AS ts, seq
FROM events
WHERE type = 'cluster.mark_recorded';

-- name: create_tenants_view
-- Every tenant created, with its id, its current name and role (the system tenant, id 1,
-- is 'sys'), and its log retention mode: 'backup_first' (a running archiver pins the log
-- it has not sealed) or 'business_first' (the log is recycled anyway; the archive gets a
-- hole). A promotion renames: at its schema switch the standby takes the tenant's name
-- and the old primary becomes <name>@<id> (a rollback gives the names back), and when
-- writes are enabled the standby becomes a primary.
CREATE OR REPLACE VIEW tenants AS
WITH created AS (
    SELECT 1 AS tenant_id, 'sys' AS name, 'primary' AS role, seq AS created_seq,
           'backup_first' AS log_retention
    FROM events WHERE type = 'cluster.started'
    UNION ALL
    SELECT tenant_id, payload ->> 'name', payload ->> 'role', seq,
           coalesce(payload ->> 'log_retention', 'backup_first')
    FROM events WHERE type = 'cluster.tenant_created'
),
promotions AS (
    SELECT CAST(payload ->> 'promotion_id' AS BIGINT) AS promotion_id,
           CAST(payload ->> 'primary_id' AS BIGINT) AS primary_id,
           CAST(payload ->> 'standby_id' AS BIGINT) AS standby_id
    FROM events WHERE type = 'promotion.started'
),
steps AS (
    SELECT e.seq, e.type, e.payload, p.primary_id, p.standby_id
    FROM events e JOIN promotions p ON p.promotion_id = CAST(e.payload ->> 'promotion_id' AS BIGINT)
    WHERE e.type IN ('promotion.schema_switched', 'promotion.step_failed', 'promotion.writes_enabled')
),
renames AS (
    SELECT primary_id AS tenant_id, seq, payload ->> 'primary_name' AS name
    FROM steps WHERE coalesce(payload ->> 'primary_name', '') <> ''
    UNION ALL
    SELECT standby_id, seq, payload ->> 'standby_name'
    FROM steps WHERE coalesce(payload ->> 'standby_name', '') <> ''
),
named AS (
    SELECT tenant_id, arg_max(name, seq) AS name FROM renames GROUP BY tenant_id
),
promoted AS (
    SELECT DISTINCT standby_id AS tenant_id FROM steps WHERE type = 'promotion.writes_enabled'
)
SELECT c.tenant_id,
       coalesce(n.name, c.name) AS name,
       CASE WHEN p.tenant_id IS NULL THEN c.role ELSE 'primary' END AS role,
       c.created_seq,
       c.log_retention
FROM created c
LEFT JOIN named n USING (tenant_id)
LEFT JOIN promoted p USING (tenant_id);

-- name: create_tenant_rows_macro
-- tenant_rows(tenant_name, as_of): the tenant's rows holding exactly its transactions with
-- commit_ts <= as_of, in the tables alive at as_of, one (table_name, rowkey, value) each:
-- the SQL twin of `ybstate rows --tenant NAME --as-of T`. Tables go by name, so a standby
-- compares with its source: tenant_rows('standby', T) EXCEPT tenant_rows('source', T).
CREATE OR REPLACE MACRO tenant_rows(tenant_name, as_of) AS TABLE
WITH cells AS (
    SELECT c.table_id, c.rowkey, c.value, c.log_id, c.cell_no, x.commit_ts
    FROM mutator_cells c
    JOIN transactions x USING (tx_id)
    WHERE x.outcome = 'committed' AND x.commit_ts <= as_of
      AND c.tenant_id = (SELECT tenant_id FROM tenants WHERE name = tenant_name)
),
latest AS (
    SELECT *, row_number() OVER (
        PARTITION BY table_id, rowkey ORDER BY commit_ts DESC, log_id DESC, cell_no DESC
    ) AS newest
    FROM cells
)
SELECT k.name AS table_name, l.rowkey, l.value
FROM latest l
JOIN cluster_tables k ON k.table_id = l.table_id
WHERE l.newest = 1 AND l.value IS NOT NULL
  AND k.created_ts <= as_of AND (k.dropped_ts IS NULL OR k.dropped_ts > as_of)
ORDER BY 1, 2;
