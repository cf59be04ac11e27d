-- A shared PDF's pages are drawn as pictures when it is shared (a phone's browser may have no
-- PDF viewer); how many were drawn. 0 for photos, and for a PDF kept without pictures.
ALTER TABLE shared_documents ADD COLUMN page_count BIGINT NOT NULL DEFAULT 0;
