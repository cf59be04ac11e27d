-- The single playable file made after a recording ends (participants side by side, all audio
-- mixed): its progress, shown on the dispute's page.
-- composite_status: none | pending | running | done | failed
ALTER TABLE recordings ADD COLUMN composite_status TEXT NOT NULL DEFAULT 'none';
ALTER TABLE recordings ADD COLUMN composite_progress BIGINT NOT NULL DEFAULT 0;
