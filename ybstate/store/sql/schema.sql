-- name: create_meta
-- Marks the file as a ybstate history and records what was stored with it: the format,
-- its version, the state fingerprint after the last stored event, and a digest of the
-- views' SQL (views written by another ybstate are replaced when the file is opened for writing).
CREATE TABLE IF NOT EXISTS ybstate_meta (
    key   VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);

-- name: create_events
-- One row per event, in history order (DESIGN 10): seq, logical time in microseconds,
-- the event's stable type tag, the tenant it concerns (NULL for cluster-wide events) and
-- the event itself as JSON, and the row's digest, chained from the previous row's
-- (sha256 of that digest and this row's columns: tamper evidence, docs/cli.md).
CREATE TABLE IF NOT EXISTS events (
    seq       BIGINT PRIMARY KEY,
    time      BIGINT NOT NULL,
    type      VARCHAR NOT NULL,
    tenant_id BIGINT,
    payload   JSON NOT NULL,
    digest    VARCHAR NOT NULL
);
