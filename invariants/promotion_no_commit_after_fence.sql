-- A fenced tenant commits nothing past its fence point. A promotion fences its old primary
-- (the promotion.started primary_id) at the fence_log_id of its promotion.fenced event,
-- until a promotion.step_failed of that promotion that rolled it back lifts the fence;
-- a tenant's first tenant.decommissioned event fences it for good at the fence it
-- already had (a promotion's fence in force) or, if none, at the last log id before the
-- event (as the reducer does). While a fence is in force, no COMMIT entry (commit_log kind
-- 'COMMIT') of that tenant may have a log id past the fence point, whenever it was logged.
-- Returns one row per fence and COMMIT entry past it while it is in force: the tenant,
-- the transaction, its commit log id and seq, the fence point, what set it ('promotion N'
-- or 'decommission') and the seq of the event that set it.
WITH started AS (
    SELECT CAST(payload ->> 'promotion_id' AS BIGINT) AS promotion_id,
           CAST(payload ->> 'primary_id' AS BIGINT) AS tenant_id
    FROM events
    WHERE type = 'promotion.started'
),
promotion_fences AS (
    SELECT s.tenant_id,
           CAST(f.payload ->> 'fence_log_id' AS BIGINT) AS fence_log_id,
           'promotion ' || s.promotion_id AS fenced_by,
           f.seq AS fence_seq,
           coalesce((
               SELECT min(r.seq) FROM events r
               WHERE r.type = 'promotion.step_failed'
                 AND CAST(r.payload ->> 'promotion_id' AS BIGINT) = s.promotion_id
                 AND CAST(r.payload ->> 'rolled_back' AS BOOLEAN)
                 AND r.seq > f.seq
           ), 9223372036854775807) AS lifted_seq
    FROM events f
    JOIN started s ON s.promotion_id = CAST(f.payload ->> 'promotion_id' AS BIGINT)
    WHERE f.type = 'promotion.fenced'
),
first_decommissions AS (
    SELECT tenant_id, min(seq) AS seq
    FROM events
    WHERE type = 'tenant.decommissioned'
    GROUP BY tenant_id
),
decommission_fences AS (
    SELECT d.tenant_id,
           coalesce((
               SELECT p.fence_log_id FROM promotion_fences p
               WHERE p.tenant_id = d.tenant_id AND p.fence_seq < d.seq AND p.lifted_seq > d.seq
               ORDER BY p.fence_seq DESC LIMIT 1
           ), (
               SELECT coalesce(max(l.log_id), 0) FROM commit_log l WHERE l.seq < d.seq
           )) AS fence_log_id,
           'decommission' AS fenced_by,
           d.seq AS fence_seq,
           9223372036854775807 AS lifted_seq
    FROM first_decommissions d
),
fences AS (
    SELECT * FROM promotion_fences
    UNION ALL
    SELECT * FROM decommission_fences
)
SELECT c.tenant_id,
       c.tx_id,
       c.log_id AS commit_log_id,
       c.seq AS commit_seq,
       f.fence_log_id,
       f.fenced_by,
       f.fence_seq
FROM commit_log c
JOIN fences f
  ON f.tenant_id = c.tenant_id
 AND c.log_id > f.fence_log_id
 AND c.seq < f.lifted_seq
WHERE c.kind = 'COMMIT'
ORDER BY c.seq, f.fence_seq;
