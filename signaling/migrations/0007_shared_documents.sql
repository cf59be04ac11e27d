-- Photos and documents shared in a session's room, kept with the case as evidence material.
-- Portable SQL, as 0001. The file itself is under the data directory (documents/), never served
-- but through the API's checks; its SHA-256 is taken as it arrives.
CREATE TABLE shared_documents (
    id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    participant_id TEXT NOT NULL,
    shared_by TEXT NOT NULL,
    shared_by_role TEXT NOT NULL,
    file_name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size_bytes BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    path TEXT NOT NULL,
    shared_at BIGINT NOT NULL
);
CREATE INDEX shared_documents_by_session ON shared_documents (session_id);
