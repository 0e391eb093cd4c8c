ALTER TABLE repositories ADD COLUMN path text COLLATE "C";
-- registry_repository_path() of schema/functions/registry_catalog.sql, spelled out: migrations run
-- before the functions are (re)defined.
UPDATE repositories r
   SET path = lower(p.full_path) || CASE WHEN r.name = '' THEN '' ELSE '/' || r.name END
  FROM projects p WHERE p.id = r.project_id;
ALTER TABLE repositories ALTER COLUMN path SET NOT NULL;

-- The catalog's two walks: the whole instance in path order, and one project's repositories in
-- path order. Repositories being deleted are left out of both (the catalog does not list them).
CREATE INDEX repositories_catalog_idx ON repositories (path)
    WHERE status IS NULL OR status = 'delete_failed';
CREATE INDEX repositories_project_catalog_idx ON repositories (project_id, path)
    WHERE status IS NULL OR status = 'delete_failed';
-- The projects anyone (public) or any signed-in user (internal) may pull from.
CREATE INDEX projects_registry_open_idx ON projects (visibility)
    WHERE container_registry_access_level = 'enabled';
