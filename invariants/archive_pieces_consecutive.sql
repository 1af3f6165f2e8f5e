-- A tenant's archive pieces of one archiving run cover consecutive global log ranges:
-- each piece starts right after the previous one ends (the first one where its run
-- started reading, or resumed after recycled log), so no entry is archived twice and none
-- is skipped, across any number of archiver crashes. Piece numbers count up by one.
-- Returns each piece that does not start where it should.
WITH runs AS (
    SELECT tenant_id, seq, CAST(payload ->> 'run' AS BIGINT) AS run,
           CAST(payload ->> 'start_log_id' AS BIGINT) AS start_log_id,
           coalesce(lead(seq) OVER (PARTITION BY tenant_id ORDER BY seq), 9223372036854775807) AS next_start_seq
    FROM events WHERE type IN ('archive.started', 'archive.resumed')
),
pieces AS (
    SELECT p.tenant_id, p.seq, r.run, r.start_log_id,
           CAST(p.payload ->> 'piece_no' AS BIGINT) AS piece_no,
           CAST(p.payload ->> 'first_log_id' AS BIGINT) AS first_log_id,
           CAST(p.payload ->> 'last_log_id' AS BIGINT) AS last_log_id
    FROM events p
    JOIN runs r ON r.tenant_id = p.tenant_id AND p.seq > r.seq AND p.seq < r.next_start_seq
    WHERE p.type = 'archive.piece_sealed'
),
ordered AS (
    SELECT *,
           lag(last_log_id) OVER (PARTITION BY tenant_id, run ORDER BY piece_no) AS previous_last,
           lag(piece_no) OVER (PARTITION BY tenant_id ORDER BY piece_no) AS previous_no
    FROM pieces
)
SELECT tenant_id, run, piece_no, first_log_id,
       coalesce(previous_last + 1, start_log_id) AS expected_first_log_id
FROM ordered
WHERE first_log_id <> coalesce(previous_last + 1, start_log_id)
   OR piece_no <> coalesce(previous_no + 1, 1)
   OR last_log_id < first_log_id
ORDER BY tenant_id, piece_no;
