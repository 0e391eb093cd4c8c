-- Sharing projects and groups with groups (the links are in schema/migrations/023): the entities'
-- shared_with_groups, the share and unshare writes, and the rights they grant (in rights.sql).

-- ---- entities ----------------------------------------------------------------------------------

-- A project's shared_with_groups as GitLab shows them: the live links to groups the caller may
-- see.
CREATE OR REPLACE FUNCTION project_shared_with_groups_json(p_user bigint, p_admin boolean, p_project bigint)
RETURNS json LANGUAGE sql STABLE AS $$
    SELECT coalesce(json_agg(json_build_object(
               'group_id', g.id, 'group_name', g.name, 'group_full_path', g.full_path,
               'group_access_level', l.group_access,
               'expires_at', to_char(l.expires_at, 'YYYY-MM-DD')) ORDER BY l.id), '[]')
      FROM project_group_links l JOIN namespaces g ON g.id = l.group_id
     WHERE l.project_id = p_project AND not_expired(l.expires_at)
       AND coalesce(group_visible(p_user, p_admin, g.id), false)
$$;

-- A group's shared_with_groups, the same way.
CREATE OR REPLACE FUNCTION group_shared_with_groups_json(p_user bigint, p_admin boolean, p_group bigint)
RETURNS json LANGUAGE sql STABLE AS $$
    SELECT coalesce(json_agg(json_build_object(
               'group_id', g.id, 'group_name', g.name, 'group_full_path', g.full_path,
               'group_access_level', l.group_access,
               'expires_at', to_char(l.expires_at, 'YYYY-MM-DD')) ORDER BY l.id), '[]')
      FROM group_group_links l JOIN namespaces g ON g.id = l.shared_with_group_id
     WHERE l.shared_group_id = p_group AND not_expired(l.expires_at)
       AND coalesce(group_visible(p_user, p_admin, g.id), false)
$$;

-- ---- writes ------------------------------------------------------------------------------------

-- Shares a project with a group (POST /projects/:id/share): the caller needs Maintainer on the
-- project and a role in the group (GitLab's read_namespace). Statuses: not_found, forbidden,
-- group_denied (GitLab's 404 "Not Found"), already_shared, same_group, ok (with the link as
-- GitLab shows it).
CREATE OR REPLACE FUNCTION project_share(p_user bigint, p_admin boolean, p_id bigint, p_ref text,
                              p_group bigint, p_level integer, p_expires date,
                              OUT status status_word, OUT link_id bigint, OUT project_id bigint,
                              OUT group_id bigint, OUT group_access integer,
                              OUT expires_at text)
LANGUAGE plpgsql AS $$
DECLARE
    v_project bigint := project_ref(p_id, p_ref);
BEGIN
    IF v_project IS NULL OR NOT coalesce(project_visible(p_user, p_admin, v_project), false) THEN
        status := 'not_found';
        RETURN;
    END IF;
    IF NOT p_admin AND project_access_level(p_user, v_project) < 40 THEN
        status := 'forbidden';
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM namespaces WHERE id = p_group AND kind = 'group')
       OR NOT (p_admin OR group_access_level(p_user, p_group) >= 10) THEN
        status := 'group_denied';
        RETURN;
    END IF;
    -- an expired link is gone, as GitLab's daily cleanup leaves it
    DELETE FROM project_group_links l
     WHERE l.project_id = v_project AND l.group_id = p_group AND l.expires_at <= current_date;
    IF EXISTS (SELECT 1 FROM project_group_links l
                WHERE l.project_id = v_project AND l.group_id = p_group) THEN
        status := 'already_shared';
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM projects p JOIN namespaces n ON n.id = p.namespace_id
                WHERE p.id = v_project AND n.kind = 'group'
                  AND p_group = ANY (n.traversal_ids)) THEN
        status := 'same_group';
        RETURN;
    END IF;
    INSERT INTO project_group_links (project_id, group_id, group_access, expires_at, created_by)
    VALUES (v_project, p_group, p_level, p_expires, nullif(p_user, 0))
    RETURNING id INTO link_id;
    project_id := v_project;
    group_id := p_group;
    group_access := p_level;
    expires_at := to_char(p_expires, 'YYYY-MM-DD');
    status := 'ok';
EXCEPTION WHEN unique_violation THEN
    status := 'already_shared';
    link_id := NULL;
END
$$;

-- Stops sharing a project with a group (Maintainer). Statuses: not_found, forbidden,
-- link_not_found, ok.
CREATE OR REPLACE FUNCTION project_unshare(p_user bigint, p_admin boolean, p_id bigint, p_ref text,
                                p_group bigint)
RETURNS status_word LANGUAGE plpgsql AS $$
DECLARE
    v_project bigint := project_ref(p_id, p_ref);
BEGIN
    IF v_project IS NULL OR NOT coalesce(project_visible(p_user, p_admin, v_project), false) THEN
        RETURN 'not_found';
    END IF;
    IF NOT p_admin AND project_access_level(p_user, v_project) < 40 THEN
        RETURN 'forbidden';
    END IF;
    DELETE FROM project_group_links l
     WHERE l.project_id = v_project AND l.group_id = p_group AND not_expired(l.expires_at);
    RETURN CASE WHEN FOUND THEN 'ok' ELSE 'link_not_found' END;
END
$$;

-- Shares a group with a group (POST /groups/:id/share): both must be visible to the caller, who
-- needs Owner on the shared group (GitLab's admin_group_member). Statuses: not_found,
-- group_not_found, group_denied (GitLab's 404 "Not Found"), group_already_shared, ok (with the
-- group's id).
CREATE OR REPLACE FUNCTION group_share(p_user bigint, p_admin boolean, p_id bigint, p_ref text,
                            p_group bigint, p_level integer, p_expires date,
                            OUT status status_word, OUT group_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_group bigint := group_ref(p_id, p_ref);
BEGIN
    IF v_group IS NULL OR NOT coalesce(group_visible(p_user, p_admin, v_group), false) THEN
        status := 'not_found';
        RETURN;
    END IF;
    group_id := v_group;
    IF NOT coalesce(group_visible(p_user, p_admin, p_group), false) THEN
        status := 'group_not_found';
        RETURN;
    END IF;
    IF NOT p_admin AND group_access_level(p_user, v_group) < 50 THEN
        status := 'group_denied';
        RETURN;
    END IF;
    DELETE FROM group_group_links l
     WHERE l.shared_group_id = v_group AND l.shared_with_group_id = p_group
       AND l.expires_at <= current_date;
    IF EXISTS (SELECT 1 FROM group_group_links l
                WHERE l.shared_group_id = v_group AND l.shared_with_group_id = p_group) THEN
        status := 'group_already_shared';
        RETURN;
    END IF;
    INSERT INTO group_group_links (shared_group_id, shared_with_group_id, group_access,
                                   expires_at, created_by)
    VALUES (v_group, p_group, p_level, p_expires, nullif(p_user, 0));
    status := 'ok';
EXCEPTION WHEN unique_violation THEN
    status := 'group_already_shared';
END
$$;

-- Stops sharing a group with a group (Owner). Statuses: not_found, link_not_found,
-- group_denied, ok.
CREATE OR REPLACE FUNCTION group_unshare(p_user bigint, p_admin boolean, p_id bigint, p_ref text,
                              p_group bigint)
RETURNS status_word LANGUAGE plpgsql AS $$
DECLARE
    v_group bigint := group_ref(p_id, p_ref);
BEGIN
    IF v_group IS NULL OR NOT coalesce(group_visible(p_user, p_admin, v_group), false) THEN
        RETURN 'not_found';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM group_group_links l
                    WHERE l.shared_group_id = v_group AND l.shared_with_group_id = p_group
                      AND not_expired(l.expires_at)) THEN
        RETURN 'link_not_found';
    END IF;
    IF NOT p_admin AND group_access_level(p_user, v_group) < 50 THEN
        RETURN 'group_denied';
    END IF;
    DELETE FROM group_group_links l
     WHERE l.shared_group_id = v_group AND l.shared_with_group_id = p_group;
    RETURN 'ok';
END
$$;
