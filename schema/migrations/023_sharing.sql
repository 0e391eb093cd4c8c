-- Sharing with groups, as GitLab has it: a project shared with a group (project_group_links) and
-- a group shared with a group (group_group_links), each up to a role (group_access) and until an
-- optional date. The rights follow from two rules, each written once in
-- schema/functions/rights.sql:
-- - a group role comes from a membership of the group or an ancestor, or from a group (or an
--   ancestor) shared with a group the user is a direct member of: the lower of the member's role
--   and the link's (user_group_grants). One level deep: the members of the invited group's own
--   ancestors, subgroups or invited groups get nothing through the link.
-- - a project role comes from a membership of the project, owning its personal namespace, a role
--   on its group, or the project shared with a group the user holds a role in (any way, the
--   invited group's ancestors included): the lower of that role and the link's
--   (project_access_level, user_project_levels).
-- Expired links grant nothing and count as gone (GitLab deletes them). Deleting either group, or
-- the project, removes the link; renaming and transferring keep it (links name ids).

CREATE TABLE project_group_links (
    id bigserial PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    group_id bigint NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    group_access integer NOT NULL CHECK (group_access IN (10, 20, 30, 40, 50)),
    expires_at date,
    created_by bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, group_id)
);
CREATE INDEX project_group_links_group_idx ON project_group_links (group_id);

CREATE TABLE group_group_links (
    id bigserial PRIMARY KEY,
    shared_group_id bigint NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    shared_with_group_id bigint NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    group_access integer NOT NULL CHECK (group_access IN (10, 20, 30, 40, 50)),
    expires_at date,
    created_by bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (shared_group_id, shared_with_group_id)
);
CREATE INDEX group_group_links_with_idx ON group_group_links (shared_with_group_id);
