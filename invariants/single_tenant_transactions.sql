-- No cross-tenant transaction: every cell of every MUTATOR names a table owned by the
-- entry's tenant, and all entries of one transaction carry the same tenant id.
-- Returns each offending cell, and each transaction logged under several tenants.
SELECT c.log_id, c.tx_id, c.tenant_id AS entry_tenant, c.table_id, t.tenant_id AS table_tenant,
       'cell of another tenant''s table' AS problem
FROM mutator_cells c
LEFT JOIN cluster_tables t USING (table_id)
WHERE t.tenant_id IS DISTINCT FROM c.tenant_id
UNION ALL
SELECT min(log_id), tx_id, min(tenant_id), NULL, max(tenant_id), 'transaction under several tenants'
FROM commit_log
WHERE tx_id IS NOT NULL
GROUP BY tx_id
HAVING count(DISTINCT tenant_id) > 1
ORDER BY 1;
