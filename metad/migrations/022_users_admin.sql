-- Users' administration as GitLab has it, and a fix to project transfers.

-- project_transfer() into a user namespace named project_members' key columns in ON CONFLICT,
-- where the OUT parameter project_id made "project_id" ambiguous: every transfer into a personal
-- namespace failed. The constraint is named instead; the rest is as in 005.
--
-- Moves a project to another namespace (by id or full path): the caller needs Owner on the
-- project and Maintainer or more on the target; a visibility above the target group's is lowered
-- to it. Statuses: not_found, forbidden, namespace_not_found, and 'failed' with GitLab's reason
-- in detail; ok.
CREATE OR REPLACE FUNCTION project_transfer(p_user bigint, p_admin boolean, p_id bigint,
                                            p_ref text, p_ns_id bigint, p_ns_path text,
                                            OUT status text, OUT project_id bigint,
                                            OUT detail text)
LANGUAGE plpgsql AS $$
DECLARE
    p projects%ROWTYPE;
    n namespaces%ROWTYPE;
BEGIN
    SELECT * INTO p FROM projects WHERE id = project_ref(p_id, p_ref) FOR UPDATE;
    IF NOT FOUND OR NOT coalesce(project_visible(p_user, p_admin, p.id), false) THEN
        status := 'not_found';
        RETURN;
    END IF;
    project_id := p.id;
    IF NOT p_admin AND project_access_level(p_user, p.id) < 50 THEN
        status := 'forbidden';
        RETURN;
    END IF;
    SELECT * INTO n FROM namespaces WHERE id = namespace_ref(p_ns_id, p_ns_path);
    IF NOT FOUND OR NOT coalesce(namespace_visible(p_user, p_admin, n.id), false) THEN
        status := 'namespace_not_found';
        RETURN;
    END IF;
    status := 'failed';
    IF n.id = p.namespace_id OR NOT (p_admin
            OR (n.kind = 'user' AND n.owner_id = p_user)
            OR (n.kind = 'group' AND group_access_level(p_user, n.id) >= 40)) THEN
        detail := 'Transfer failed, please contact an admin.';
        RETURN;
    END IF;
    PERFORM tenancy_path_lock();
    IF EXISTS (SELECT 1 FROM projects WHERE namespace_id = n.id
                                        AND (path = p.path OR name = p.name))
       OR path_taken(n.full_path || '/' || p.path) THEN
        detail := 'Project with same name or path in target namespace already exists';
        RETURN;
    END IF;
    UPDATE projects
       SET namespace_id = n.id, full_path = n.full_path || '/' || p.path,
           visibility = CASE WHEN n.kind = 'group'
                              AND visibility_rank(visibility) > visibility_rank(n.visibility)
                             THEN n.visibility ELSE visibility END,
           updated_at = now()
     WHERE id = p.id;
    IF n.kind = 'user' THEN
        INSERT INTO project_members (project_id, user_id, access_level, created_by)
        VALUES (p.id, n.owner_id, 50, p_user)
        ON CONFLICT ON CONSTRAINT project_members_pkey
        DO UPDATE SET access_level = 50, expires_at = NULL;
    END IF;
    status := 'ok';
    detail := NULL;
EXCEPTION WHEN unique_violation THEN
    status := 'failed';
    detail := 'Project with same name or path in target namespace already exists';
END
$$;

-- GitLab's ban: a banned user, like a blocked one, cannot sign in (credentials check for
-- 'active'); only active users are banned, and unbanning makes them active again.
ALTER TABLE users DROP CONSTRAINT users_state_check;
ALTER TABLE users ADD CONSTRAINT users_state_check
    CHECK (state IN ('active', 'blocked', 'banned'));

-- Impersonation tokens: personal access tokens an admin makes for a user, which sign in as that
-- user like the user's own but are listed and revoked under /users/:id/impersonation_tokens.
ALTER TABLE personal_access_tokens ADD COLUMN impersonation boolean NOT NULL DEFAULT false;

-- The user status (GitLab's user_statuses): an emoji, a message, an availability, and the time
-- it clears itself at (a status past it reads as none).
CREATE TABLE user_statuses (
    user_id bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    emoji text NOT NULL,
    message text,
    availability text NOT NULL CHECK (availability IN ('not_set', 'busy')),
    clear_status_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);
