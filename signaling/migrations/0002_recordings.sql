-- Recordings filed against their session and dispute ("one case, one file"), and who played
-- or downloaded what. Portable SQL, as 0001.

-- Mediators may have every session of a dispute recorded by default.
ALTER TABLE disputes ADD COLUMN record_by_default BIGINT NOT NULL DEFAULT 0;

CREATE TABLE recordings (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    dispute_id TEXT NOT NULL REFERENCES disputes(id),
    -- recording | finished | interrupted | failed
    status TEXT NOT NULL,
    started_by TEXT NOT NULL,
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    error TEXT,
    manifest_sha256 TEXT
);
CREATE INDEX recordings_by_dispute ON recordings (dispute_id, started_at);

CREATE TABLE recording_files (
    id TEXT PRIMARY KEY,
    recording_id TEXT NOT NULL REFERENCES recordings(id),
    -- participant | composite | manifest
    kind TEXT NOT NULL,
    participant_name TEXT NOT NULL,
    participant_role TEXT NOT NULL,
    -- Relative to the recordings directory.
    path TEXT NOT NULL UNIQUE,
    -- writing | complete | interrupted | failed
    status TEXT NOT NULL,
    sha256 TEXT,
    size_bytes BIGINT,
    duration_ms BIGINT,
    started_at BIGINT NOT NULL,
    ended_at BIGINT
);
CREATE INDEX recording_files_by_recording ON recording_files (recording_id);

CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    user_id TEXT NOT NULL,
    action TEXT NOT NULL,
    object_id TEXT NOT NULL,
    ip TEXT NOT NULL
);
CREATE INDEX audit_log_by_object ON audit_log (object_id, at);
