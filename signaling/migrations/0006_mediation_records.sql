-- The mediation record's draft (笔录), one row per session, saved as the mediator or a clerk
-- types. Portable SQL, as 0001. Presenting it to the parties and their answers are session
-- events (with the text presented and its SHA-256); this row is only the text being written.
CREATE TABLE mediation_records (
    session_id TEXT PRIMARY KEY REFERENCES sessions(id),
    text TEXT NOT NULL,
    version BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
