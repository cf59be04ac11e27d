-- The roster of experts a mediator can bring into a session, with their specialty (土地,
-- 婚姻家庭, 劳动 …) and the center they work at. A retired entry is kept for old case files.
CREATE TABLE experts (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    specialty TEXT NOT NULL,
    center TEXT NOT NULL,
    phone TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);

-- An expert invited from the room during a session: whom, by whom, and whether to advise the
-- mediator only ('mediator') or to speak to the whole room ('room').
CREATE TABLE expert_invitations (
    invitation_id TEXT PRIMARY KEY REFERENCES invitations(id),
    session_id TEXT NOT NULL REFERENCES sessions(id),
    expert_id TEXT NOT NULL REFERENCES experts(id),
    scope TEXT NOT NULL,
    invited_by TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX expert_invitations_by_session ON expert_invitations (session_id);
-- Each party's answer is a session event (expert_consent), the latest one counting.
