-- Seats a restarted server gives back (docs/protocol.md, "Resume"). Portable SQL, as 0001.
--
-- One row per admitted member of a live session: the hash of the one token that resumes the
-- seat (each use replaces it), who holds it (an invitation or an account) and what they were.
-- `dropped_at` and `held_until` are NULL while the member is connected, and set when their
-- connection drops (held for the grace period). The row goes when the member is removed, their
-- invitation revoked or the session ended.
CREATE TABLE resume_seats (
    participant_id TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions(id),
    token_hash TEXT NOT NULL UNIQUE,
    invitation_id TEXT REFERENCES invitations(id),
    user_id TEXT REFERENCES users(id),
    name TEXT NOT NULL,
    -- mediator | party | expert | observer | staff
    role TEXT NOT NULL,
    is_host BIGINT NOT NULL,
    issued_at BIGINT NOT NULL,
    dropped_at BIGINT,
    held_until BIGINT
);
CREATE INDEX resume_seats_by_session ON resume_seats (session_id);
CREATE INDEX resume_seats_by_invitation ON resume_seats (invitation_id);

-- When the server last said it was running (one row). After a stop nobody saw coming (a
-- crash, kill -9), the next start holds the seats of members who were connected then for the
-- grace period from that moment.
CREATE TABLE server_liveness (
    id TEXT PRIMARY KEY,
    alive_at BIGINT NOT NULL
);
