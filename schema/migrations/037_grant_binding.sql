-- A registry token's grant on a repository path names the project it was granted on and that
-- project's path generation, so that the grant never reaches another project: a project whose
-- path is given up (deleted, renamed, transferred, or moved with a namespace) and a project that
-- takes the path later are told apart by id, and the same project by generation.
-- The counter is bumped by the trigger projects_path_generation (schema/functions/registry.sql).
ALTER TABLE projects ADD COLUMN path_generation bigint NOT NULL DEFAULT 1;
