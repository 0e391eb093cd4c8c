-- The groups, projects and members API: the rights it lists by, and every multi-step write as one
-- function, so that a request is one round trip for the write (and one to read the result back)
-- and each write is atomic. Functions answer a status word the API maps onto GitLab's answers:
-- 'ok', 'not_found' (the caller may not see it: GitLab answers 404 either way), 'forbidden', and
-- the validation failures of each write.

ALTER TABLE projects ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE namespaces ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();
