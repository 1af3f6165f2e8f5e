-- Event sequence numbers are 1, 2, 3, ... with no gap, and logical time never goes back.
-- Returns each event whose seq or time breaks that, with what was expected.
SELECT seq, expected_seq, time, previous_time
FROM (
    SELECT
        seq,
        row_number() OVER (ORDER BY seq) AS expected_seq,
        time,
        lag(time) OVER (ORDER BY seq) AS previous_time
    FROM events
)
WHERE seq <> expected_seq OR time < previous_time
ORDER BY seq;
