-- The order in which a session's events were filed, within the session: several can fall in
-- the same millisecond (a chat message and the answer to it), and the case file must keep
-- them as they happened. Events filed before this column read 0 and keep their time order.
ALTER TABLE session_events ADD COLUMN seq BIGINT NOT NULL DEFAULT 0;
