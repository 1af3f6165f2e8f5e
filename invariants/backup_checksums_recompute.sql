-- Every tablet a backup stored carries the row count, size and checksum of its own rows:
-- recomputed here from the stored rows in the event (checksum: md5_number_lower of table
-- name, key and value, summed modulo 2^64; size: key and value bytes plus 16 per row).
-- Returns each stored tablet whose recorded figures differ from the recomputed ones.
WITH copied AS (
    SELECT seq,
           CAST(payload ->> 'set_id' AS BIGINT) AS set_id,
           CAST(payload ->> 'tablet_id' AS BIGINT) AS tablet_id,
           payload ->> 'table_name' AS table_name,
           CAST(payload ->> 'row_count' AS BIGINT) AS row_count,
           CAST(payload ->> 'data_size' AS BIGINT) AS data_size,
           CAST(payload ->> 'checksum' AS UBIGINT) AS checksum,
           CAST(payload -> 'rows' AS JSON[]) AS stored_rows
    FROM events
    WHERE type = 'backup.tablet_copied'
),
rows_of AS (
    SELECT c.seq, r ->> 0 AS rowkey, r ->> 1 AS value, c.table_name
    FROM copied c, unnest(c.stored_rows) AS u(r)
),
recomputed AS (
    SELECT seq,
           count(*) AS row_count,
           sum(octet_length(encode(rowkey)) + octet_length(encode(value)) + 16) AS data_size,
           CAST(sum(md5_number_lower(concat_ws(chr(31), table_name, rowkey, value))) % 18446744073709551616 AS UBIGINT)
               AS checksum
    FROM rows_of
    GROUP BY seq
)
SELECT c.set_id, c.tablet_id, c.row_count, r.row_count AS recomputed_rows,
       c.data_size, r.data_size AS recomputed_size, c.checksum, r.checksum AS recomputed_checksum
FROM copied c
LEFT JOIN recomputed r USING (seq)
WHERE c.row_count <> coalesce(r.row_count, 0)
   OR c.data_size <> coalesce(r.data_size, 0)
   OR c.checksum <> coalesce(r.checksum, CAST(0 AS UBIGINT))
ORDER BY c.set_id, c.tablet_id;
