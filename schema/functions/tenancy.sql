-- The groups, projects and members API: every multi-step write as one function, so that a request
-- is one round trip for the write (and one to read the result back) and each write is atomic.
-- Functions answer a status word (the type status_word; common/status.def says what each one tells
-- a client): 'ok', 'not_found' (the caller may not see it: GitLab answers 404 either way),
-- 'forbidden', and the refusals of each write.

-- Every write to the shared path space of namespaces and projects takes this lock first, so two
-- writers cannot both decide that a path is free (the unique indexes cover one table each).
CREATE OR REPLACE FUNCTION tenancy_path_lock() RETURNS void
LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(7209164331022)
$$;

-- Whether a full path is used by a namespace or a project (one path space, case-insensitive).
CREATE OR REPLACE FUNCTION path_taken(p_full_path text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM namespaces WHERE lower(full_path) = lower(p_full_path))
        OR EXISTS (SELECT 1 FROM projects WHERE lower(full_path) = lower(p_full_path))
$$;

-- A project, group or namespace named by id or by full path (the API's ":id"). NULL: none.
CREATE OR REPLACE FUNCTION project_ref(p_id bigint, p_path text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_id IS NOT NULL THEN
        RETURN (SELECT id FROM projects WHERE id = p_id);
    END IF;
    RETURN (SELECT id FROM projects WHERE lower(full_path) = lower(p_path));
END
$$;

CREATE OR REPLACE FUNCTION group_ref(p_id bigint, p_path text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_id IS NOT NULL THEN
        RETURN (SELECT id FROM namespaces WHERE id = p_id AND kind = 'group');
    END IF;
    RETURN (SELECT id FROM namespaces WHERE lower(full_path) = lower(p_path) AND kind = 'group');
END
$$;

CREATE OR REPLACE FUNCTION namespace_ref(p_id bigint, p_path text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_id IS NOT NULL THEN
        RETURN (SELECT id FROM namespaces WHERE id = p_id);
    END IF;
    RETURN (SELECT id FROM namespaces WHERE lower(full_path) = lower(p_path));
END
$$;

-- ---- groups ------------------------------------------------------------------------------------

-- Creates a group (a subgroup when p_parent is given) with its creator as Owner.
-- Statuses: parent_not_found, forbidden, visibility_parent, path_taken, ok.
CREATE OR REPLACE FUNCTION group_create(p_user bigint, p_admin boolean, p_name text, p_path text,
                             p_parent bigint, p_visibility text, p_description text,
                             OUT status status_word, OUT group_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
    par namespaces%ROWTYPE;
    v_full text;
    v_vis text := coalesce(p_visibility, 'private');
BEGIN
    IF p_parent IS NOT NULL THEN
        SELECT * INTO par FROM namespaces WHERE id = p_parent AND kind = 'group';
        IF NOT FOUND OR NOT coalesce(group_visible(p_user, p_admin, par.id), false) THEN
            status := 'parent_not_found';
            RETURN;
        END IF;
        IF NOT p_admin AND group_access_level(p_user, par.id) < 40 THEN
            status := 'forbidden';
            RETURN;
        END IF;
        IF visibility_rank(v_vis) > visibility_rank(par.visibility) THEN
            status := 'visibility_parent';
            RETURN;
        END IF;
        v_full := par.full_path || '/' || p_path;
    ELSE
        IF NOT p_admin AND NOT EXISTS (SELECT 1 FROM users WHERE id = p_user
                                                          AND can_create_group
                                                          AND state = 'active') THEN
            status := 'forbidden';
            RETURN;
        END IF;
        v_full := p_path;
    END IF;
    PERFORM tenancy_path_lock();
    IF path_taken(v_full) THEN
        status := 'path_taken';
        RETURN;
    END IF;
    group_id := nextval(pg_get_serial_sequence('namespaces', 'id'));
    INSERT INTO namespaces (id, kind, name, path, full_path, full_name, parent_id, traversal_ids,
                            visibility, description)
    VALUES (group_id, 'group', p_name, p_path, v_full,
            CASE WHEN par.id IS NULL THEN p_name ELSE par.full_name || ' / ' || p_name END,
            par.id, coalesce(par.traversal_ids, '{}') || group_id, v_vis,
            coalesce(p_description, ''));
    INSERT INTO group_members (namespace_id, user_id, access_level, created_by)
    VALUES (group_id, p_user, 50, p_user);
    status := 'ok';
EXCEPTION WHEN unique_violation THEN
    status := 'path_taken';
    group_id := NULL;
END
$$;

-- Rewrites full_path, full_name (and traversal_ids when p_traversal is given) of a namespace and
-- everything below it, and full_path of every project below it, in one pass each.
CREATE OR REPLACE FUNCTION namespace_rewrite(p_ns bigint, p_old_path text, p_old_name text,
                                  p_new_path text, p_new_name text,
                                  p_old_depth integer, p_traversal bigint[])
RETURNS void LANGUAGE sql AS $$
    UPDATE namespaces d
       SET full_path = p_new_path || substr(d.full_path, length(p_old_path) + 1),
           full_name = p_new_name || substr(d.full_name, length(p_old_name) + 1),
           traversal_ids = CASE WHEN p_traversal IS NULL THEN d.traversal_ids
                                ELSE p_traversal || d.traversal_ids[p_old_depth:] END
     WHERE d.traversal_ids @> ARRAY[p_ns];
    UPDATE projects p
       SET full_path = p_new_path || substr(p.full_path, length(p_old_path) + 1)
      FROM namespaces d
     WHERE p.namespace_id = d.id AND d.traversal_ids @> ARRAY[p_ns];
$$;

-- Updates a group; a new name or path is carried to every namespace and project below it.
-- Statuses: not_found, forbidden, path_taken, visibility_parent, visibility_subgroups,
-- visibility_projects, ok.
CREATE OR REPLACE FUNCTION group_update(p_user bigint, p_admin boolean, p_id bigint, p_ref text,
                             p_name text, p_path text, p_visibility text, p_description text,
                             OUT status status_word, OUT group_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
    g namespaces%ROWTYPE;
    par namespaces%ROWTYPE;
    v_path text;
    v_name text;
    v_full text;
    v_full_name text;
BEGIN
    SELECT * INTO g FROM namespaces WHERE id = group_ref(p_id, p_ref) FOR UPDATE;
    IF NOT FOUND OR NOT coalesce(group_visible(p_user, p_admin, g.id), false) THEN
        status := 'not_found';
        RETURN;
    END IF;
    group_id := g.id;
    IF NOT p_admin AND group_access_level(p_user, g.id) < 50 THEN
        status := 'forbidden';
        RETURN;
    END IF;
    IF p_visibility IS NOT NULL THEN
        SELECT * INTO par FROM namespaces WHERE id = g.parent_id;
        IF FOUND AND visibility_rank(p_visibility) > visibility_rank(par.visibility) THEN
            status := 'visibility_parent';
            RETURN;
        END IF;
        IF EXISTS (SELECT 1 FROM namespaces d
                    WHERE d.traversal_ids @> ARRAY[g.id] AND d.id <> g.id
                      AND visibility_rank(d.visibility) > visibility_rank(p_visibility)) THEN
            status := 'visibility_subgroups';
            RETURN;
        END IF;
        IF EXISTS (SELECT 1 FROM projects p JOIN namespaces d ON d.id = p.namespace_id
                    WHERE d.traversal_ids @> ARRAY[g.id]
                      AND visibility_rank(p.visibility) > visibility_rank(p_visibility)) THEN
            status := 'visibility_projects';
            RETURN;
        END IF;
    END IF;
    v_path := coalesce(p_path, g.path);
    v_name := coalesce(p_name, g.name);
    v_full := left(g.full_path, length(g.full_path) - length(g.path)) || v_path;
    v_full_name := left(g.full_name, length(g.full_name) - length(g.name)) || v_name;
    IF v_full <> g.full_path OR v_full_name <> g.full_name THEN
        PERFORM tenancy_path_lock();
        IF lower(v_full) <> lower(g.full_path) AND path_taken(v_full) THEN
            status := 'path_taken';
            RETURN;
        END IF;
        PERFORM namespace_rewrite(g.id, g.full_path, g.full_name, v_full, v_full_name, NULL, NULL);
    END IF;
    UPDATE namespaces
       SET name = v_name, path = v_path,
           visibility = coalesce(p_visibility, visibility),
           description = coalesce(p_description, description),
           updated_at = now()
     WHERE id = g.id;
    PERFORM audit_record(p_user, 'Group', g.id, 'Group', g.id::text, v_full,
                         jsonb_build_object('change', 'visibility', 'from', initcap(g.visibility),
                                            'to', initcap(p_visibility)))
      WHERE p_visibility <> g.visibility;
    status := 'ok';
EXCEPTION WHEN unique_violation THEN
    status := 'path_taken';
END
$$;

-- Deletes a group with its subgroups, projects and memberships.
-- Statuses: not_found, forbidden, ok.
CREATE OR REPLACE FUNCTION group_delete(p_user bigint, p_admin boolean, p_id bigint, p_ref text)
RETURNS status_word LANGUAGE plpgsql AS $$
DECLARE
    g bigint := group_ref(p_id, p_ref);
BEGIN
    IF g IS NULL OR NOT coalesce(group_visible(p_user, p_admin, g), false) THEN
        RETURN 'not_found';
    END IF;
    IF NOT p_admin AND group_access_level(p_user, g) < 50 THEN
        RETURN 'forbidden';
    END IF;
    PERFORM audit_record(p_user, 'Group', g, 'Group', g::text,
                         (SELECT full_path FROM namespaces WHERE id = g),
                         jsonb_build_object('remove', 'group'));
    DELETE FROM namespaces WHERE id = g;
    RETURN 'ok';
END
$$;

-- Moves a group under another group (p_target), or to the top level (p_target NULL); everything
-- below it follows, and what is more visible than its new parent is lowered to it. As GitLab,
-- only the group's Owner gets past its lookup (forbidden); what the move needs beyond that is
-- transfer_forbidden.
-- Statuses: not_found, forbidden, target_not_found, already_root, already_in_parent,
-- transfer_forbidden, parent_has_path, into_subgroup; ok.
CREATE OR REPLACE FUNCTION group_transfer(p_user bigint, p_admin boolean, p_id bigint, p_ref text,
                               p_target bigint, OUT status status_word, OUT group_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
    g namespaces%ROWTYPE;
    t namespaces%ROWTYPE;
    v_full text;
    v_full_name text;
BEGIN
    SELECT * INTO g FROM namespaces WHERE id = group_ref(p_id, p_ref) FOR UPDATE;
    IF NOT FOUND OR NOT coalesce(group_visible(p_user, p_admin, g.id), false) THEN
        status := 'not_found';
        RETURN;
    END IF;
    group_id := g.id;
    IF NOT p_admin AND group_access_level(p_user, g.id) < 50 THEN
        status := 'forbidden';
        RETURN;
    END IF;
    IF p_target IS NOT NULL THEN
        SELECT * INTO t FROM namespaces WHERE id = p_target AND kind = 'group';
        IF NOT FOUND OR NOT coalesce(group_visible(p_user, p_admin, t.id), false) THEN
            status := 'target_not_found';
            RETURN;
        END IF;
    END IF;
    IF t.id IS NULL AND g.parent_id IS NULL THEN
        status := 'already_root';
        RETURN;
    END IF;
    IF t.id IS NOT NULL AND t.id = g.parent_id THEN
        status := 'already_in_parent';
        RETURN;
    END IF;
    IF NOT p_admin AND ((t.id IS NOT NULL AND group_access_level(p_user, t.id) < 40)
        OR (t.id IS NULL AND NOT EXISTS (SELECT 1 FROM users
                                          WHERE id = p_user AND can_create_group))) THEN
        status := 'transfer_forbidden';
        RETURN;
    END IF;
    PERFORM tenancy_path_lock();
    v_full := CASE WHEN t.id IS NULL THEN g.path ELSE t.full_path || '/' || g.path END;
    v_full_name := CASE WHEN t.id IS NULL THEN g.name ELSE t.full_name || ' / ' || g.name END;
    IF path_taken(v_full) THEN
        status := 'parent_has_path';
        RETURN;
    END IF;
    IF t.id IS NOT NULL AND t.traversal_ids @> ARRAY[g.id] THEN
        status := 'into_subgroup';
        RETURN;
    END IF;
    PERFORM namespace_rewrite(g.id, g.full_path, g.full_name, v_full, v_full_name,
                              array_length(g.traversal_ids, 1), coalesce(t.traversal_ids, '{}'));
    UPDATE namespaces SET parent_id = t.id, updated_at = now() WHERE id = g.id;
    PERFORM audit_record(p_user, 'Group', g.id, 'Group', g.id::text, v_full,
                         jsonb_build_object('change', 'namespace', 'from', g.full_path,
                                            'to', v_full));
    IF t.id IS NOT NULL THEN
        UPDATE namespaces d SET visibility = t.visibility
         WHERE d.traversal_ids @> ARRAY[g.id]
           AND visibility_rank(d.visibility) > visibility_rank(t.visibility);
        UPDATE projects p SET visibility = t.visibility
          FROM namespaces d
         WHERE p.namespace_id = d.id AND d.traversal_ids @> ARRAY[g.id]
           AND visibility_rank(p.visibility) > visibility_rank(t.visibility);
    ELSIF NOT EXISTS (SELECT 1 FROM group_members
                       WHERE namespace_id = g.id AND access_level = 50) THEN
        -- a top-level group always has an Owner of its own
        INSERT INTO group_members (namespace_id, user_id, access_level, created_by)
        VALUES (g.id, p_user, 50, p_user)
        ON CONFLICT (namespace_id, user_id) DO UPDATE SET access_level = 50;
    END IF;
    status := 'ok';
EXCEPTION WHEN unique_violation THEN
    status := 'parent_has_path';
END
$$;

-- ---- projects ----------------------------------------------------------------------------------

-- Creates a project for p_user in p_namespace (default: p_user's personal namespace). In a
-- personal namespace its owner becomes the project's Owner member, as in GitLab.
-- Statuses: user_not_found, namespace_invalid, limit_reached (detail: the limit), visibility
-- (detail: the group's visibility), taken (detail: "name", "path" or "name,path"), ok.
CREATE OR REPLACE FUNCTION project_create(p_user bigint, p_admin boolean, p_namespace bigint, p_name text,
                               p_path text, p_description text, p_visibility text,
                               p_registry_access text,
                               OUT status status_word, OUT project_id bigint, OUT detail text)
LANGUAGE plpgsql AS $$
DECLARE
    v_limit integer;
    n namespaces%ROWTYPE;
    v_vis text := coalesce(p_visibility, 'private');
    v_name_taken boolean;
    v_path_taken boolean;
BEGIN
    -- only the columns used: metad's role may not read a password hash (schema/grants.sql)
    SELECT projects_limit INTO v_limit FROM users WHERE id = p_user;
    IF NOT FOUND THEN
        status := 'user_not_found';
        RETURN;
    END IF;
    IF p_namespace IS NULL THEN
        SELECT * INTO n FROM namespaces WHERE kind = 'user' AND owner_id = p_user;
    ELSE
        SELECT * INTO n FROM namespaces WHERE id = p_namespace;
    END IF;
    IF NOT FOUND OR NOT (p_admin
                         OR (n.kind = 'user' AND n.owner_id = p_user)
                         OR (n.kind = 'group' AND group_access_level(p_user, n.id) >= 30)) THEN
        status := 'namespace_invalid';
        RETURN;
    END IF;
    IF n.kind = 'user' AND n.owner_id = p_user
       AND (SELECT count(*) FROM projects WHERE namespace_id = n.id) >= v_limit THEN
        status := 'limit_reached';
        detail := v_limit::text;
        RETURN;
    END IF;
    IF n.kind = 'group' AND visibility_rank(v_vis) > visibility_rank(n.visibility) THEN
        status := 'visibility';
        detail := n.visibility;
        RETURN;
    END IF;
    PERFORM tenancy_path_lock();
    v_name_taken := EXISTS (SELECT 1 FROM projects WHERE namespace_id = n.id AND name = p_name);
    v_path_taken := path_taken(n.full_path || '/' || p_path);
    IF v_name_taken OR v_path_taken THEN
        status := 'taken';
        detail := concat_ws(',', CASE WHEN v_name_taken THEN 'name' END,
                                 CASE WHEN v_path_taken THEN 'path' END);
        RETURN;
    END IF;
    INSERT INTO projects (namespace_id, name, path, full_path, description, visibility,
                          container_registry_access_level, creator_id)
    VALUES (n.id, p_name, p_path, n.full_path || '/' || p_path, coalesce(p_description, ''),
            v_vis, coalesce(p_registry_access, 'enabled'), p_user)
    RETURNING id INTO project_id;
    IF n.kind = 'user' THEN
        INSERT INTO project_members (project_id, user_id, access_level, created_by)
        VALUES (project_id, n.owner_id, 50, p_user);
    END IF;
    status := 'ok';
EXCEPTION WHEN unique_violation THEN
    status := 'taken';
    detail := 'path';
    project_id := NULL;
END
$$;

-- Updates a project's settings; a new path moves its full path (its images follow: repositories
-- name their project by id). Statuses: not_found, forbidden, visibility (detail: the group's
-- visibility), taken (detail as in project_create), ok.
CREATE OR REPLACE FUNCTION project_update(p_user bigint, p_admin boolean, p_id bigint, p_ref text,
                               p_name text, p_path text, p_description text, p_visibility text,
                               p_registry_access text,
                               OUT status status_word, OUT project_id bigint, OUT detail text)
LANGUAGE plpgsql AS $$
DECLARE
    p projects%ROWTYPE;
    n namespaces%ROWTYPE;
    v_name_taken boolean := false;
    v_path_taken boolean := false;
    v_full text;
BEGIN
    SELECT * INTO p FROM projects WHERE id = project_ref(p_id, p_ref) FOR UPDATE;
    IF NOT FOUND OR NOT coalesce(project_visible(p_user, p_admin, p.id), false) THEN
        status := 'not_found';
        RETURN;
    END IF;
    project_id := p.id;
    IF NOT p_admin AND project_access_level(p_user, p.id) < 40 THEN
        status := 'forbidden';
        RETURN;
    END IF;
    SELECT * INTO n FROM namespaces WHERE id = p.namespace_id;
    IF p_visibility IS NOT NULL AND n.kind = 'group'
       AND visibility_rank(p_visibility) > visibility_rank(n.visibility) THEN
        status := 'visibility';
        detail := n.visibility;
        RETURN;
    END IF;
    v_full := n.full_path || '/' || coalesce(p_path, p.path);
    IF p_name IS NOT NULL AND p_name <> p.name THEN
        v_name_taken := EXISTS (SELECT 1 FROM projects
                                 WHERE namespace_id = n.id AND name = p_name AND id <> p.id);
    END IF;
    IF v_full <> p.full_path THEN
        PERFORM tenancy_path_lock();
        v_path_taken := lower(v_full) <> lower(p.full_path) AND path_taken(v_full);
    END IF;
    IF v_name_taken OR v_path_taken THEN
        status := 'taken';
        detail := concat_ws(',', CASE WHEN v_name_taken THEN 'name' END,
                                 CASE WHEN v_path_taken THEN 'path' END);
        RETURN;
    END IF;
    UPDATE projects
       SET name = coalesce(p_name, name), path = coalesce(p_path, path), full_path = v_full,
           description = coalesce(p_description, description),
           visibility = coalesce(p_visibility, visibility),
           container_registry_access_level = coalesce(p_registry_access,
                                                      container_registry_access_level),
           updated_at = now()
     WHERE id = p.id;
    PERFORM audit_record(p_user, 'Project', p.id, 'Project', p.id::text, v_full,
                         jsonb_build_object('change', 'visibility', 'from', initcap(p.visibility),
                                            'to', initcap(p_visibility)))
      WHERE p_visibility <> p.visibility;
    status := 'ok';
EXCEPTION WHEN unique_violation THEN
    status := 'taken';
    detail := 'path';
END
$$;

-- Deletes a project (Owner or admin). Statuses: not_found, forbidden, ok.
CREATE OR REPLACE FUNCTION project_delete(p_user bigint, p_admin boolean, p_id bigint, p_ref text)
RETURNS status_word LANGUAGE plpgsql AS $$
DECLARE
    pid bigint := project_ref(p_id, p_ref);
BEGIN
    IF pid IS NULL OR NOT coalesce(project_visible(p_user, p_admin, pid), false) THEN
        RETURN 'not_found';
    END IF;
    IF NOT p_admin AND project_access_level(p_user, pid) < 50 THEN
        RETURN 'forbidden';
    END IF;
    PERFORM audit_record(p_user, 'Project', pid, 'Project', pid::text,
                         (SELECT full_path FROM projects WHERE id = pid),
                         jsonb_build_object('remove', 'project'));
    DELETE FROM projects WHERE id = pid;
    RETURN 'ok';
END
$$;

-- Users' administration as GitLab has it, and a fix to project transfers.

-- project_transfer() into a user namespace named project_members' key columns in ON CONFLICT,
-- where the OUT parameter project_id made "project_id" ambiguous: every transfer into a personal
-- namespace failed. The constraint is named instead; the rest is as in 005.
--
-- Moves a project to another namespace (by id or full path): the caller needs Owner on the
-- project and Maintainer or more on the target; a visibility above the target group's is lowered
-- to it. Statuses: not_found, forbidden, namespace_not_found, transfer_refused,
-- namespace_has_project; ok.
CREATE OR REPLACE FUNCTION project_transfer(p_user bigint, p_admin boolean, p_id bigint,
                                            p_ref text, p_ns_id bigint, p_ns_path text,
                                            OUT status status_word, OUT project_id bigint)
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
    IF n.id = p.namespace_id OR NOT (p_admin
            OR (n.kind = 'user' AND n.owner_id = p_user)
            OR (n.kind = 'group' AND group_access_level(p_user, n.id) >= 40)) THEN
        status := 'transfer_refused';
        RETURN;
    END IF;
    PERFORM tenancy_path_lock();
    IF EXISTS (SELECT 1 FROM projects WHERE namespace_id = n.id
                                        AND (path = p.path OR name = p.name))
       OR path_taken(n.full_path || '/' || p.path) THEN
        status := 'namespace_has_project';
        RETURN;
    END IF;
    UPDATE projects
       SET namespace_id = n.id, full_path = n.full_path || '/' || p.path,
           visibility = CASE WHEN n.kind = 'group'
                              AND visibility_rank(visibility) > visibility_rank(n.visibility)
                             THEN n.visibility ELSE visibility END,
           updated_at = now()
     WHERE id = p.id;
    PERFORM audit_record(p_user, 'Project', p.id, 'Project', p.id::text, n.full_path || '/' || p.path,
                         jsonb_build_object('change', 'namespace', 'from', p.full_path,
                                            'to', n.full_path || '/' || p.path));
    IF n.kind = 'user' THEN
        INSERT INTO project_members (project_id, user_id, access_level, created_by)
        VALUES (p.id, n.owner_id, 50, p_user)
        ON CONFLICT ON CONSTRAINT project_members_pkey
        DO UPDATE SET access_level = 50, expires_at = NULL;
    END IF;
    status := 'ok';
EXCEPTION WHEN unique_violation THEN
    status := 'namespace_has_project';
END
$$;

-- ---- members -----------------------------------------------------------------------------------

-- The source of a membership (a project, or a group) as the caller sees it: its id, the caller's
-- role on it, the traversal its inherited roles come from, and whether it may be seen at all.
CREATE OR REPLACE FUNCTION member_source(p_user bigint, p_admin boolean, p_kind text, p_id bigint,
                              p_ref text, OUT source_id bigint, OUT visible boolean,
                              OUT caller_level integer, OUT ancestors bigint[])
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_kind = 'project' THEN
        source_id := project_ref(p_id, p_ref);
        visible := coalesce(project_visible(p_user, p_admin, source_id), false);
        caller_level := CASE WHEN p_user > 0 THEN project_access_level(p_user, source_id)
                             ELSE 0 END;
        SELECT CASE WHEN n.kind = 'group' THEN n.traversal_ids ELSE '{}' END INTO ancestors
          FROM projects p JOIN namespaces n ON n.id = p.namespace_id WHERE p.id = source_id;
    ELSE
        source_id := group_ref(p_id, p_ref);
        visible := coalesce(group_visible(p_user, p_admin, source_id), false);
        caller_level := CASE WHEN p_user > 0 THEN group_access_level(p_user, source_id)
                             ELSE 0 END;
        SELECT n.traversal_ids[1:array_length(n.traversal_ids, 1) - 1] INTO ancestors
          FROM namespaces n WHERE n.id = source_id;
    END IF;
END
$$;

-- Whether removing or lowering p_member's Owner role would leave the source without an Owner:
-- a top-level group needs one of its own; a subgroup inherits its ancestors'; a personal
-- project's owner is its namespace's owner.
CREATE OR REPLACE FUNCTION member_is_last_owner(p_kind text, p_source bigint, p_ancestors bigint[],
                                     p_member bigint)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_kind = 'project' THEN
                EXISTS (SELECT 1 FROM projects p JOIN namespaces n ON n.id = p.namespace_id
                         WHERE p.id = p_source AND n.kind = 'user' AND n.owner_id = p_member)
           ELSE
                EXISTS (SELECT 1 FROM group_members
                         WHERE namespace_id = p_source AND user_id = p_member
                           AND access_level = 50)
                AND NOT EXISTS (SELECT 1 FROM group_members
                                 WHERE namespace_id = p_source AND user_id <> p_member
                                   AND access_level = 50
                                   AND (expires_at IS NULL OR expires_at > current_date))
                AND NOT EXISTS (SELECT 1 FROM group_members
                                 WHERE namespace_id = ANY (p_ancestors) AND access_level = 50
                                   AND (expires_at IS NULL OR expires_at > current_date))
           END
$$;

-- Adds a member. Managing members needs Maintainer (Owner to grant Owner) or admin.
-- Statuses: not_found, forbidden, member_exists, user_not_found, expires_past, below_inherited (detail:
-- the role and group it is inherited from), ok.
CREATE OR REPLACE FUNCTION member_add(p_user bigint, p_admin boolean, p_kind text, p_id bigint, p_ref text,
                           p_member bigint, p_level integer, p_expires date,
                           OUT status status_word, OUT detail text)
LANGUAGE plpgsql AS $$
DECLARE
    s record;
    inh record;
BEGIN
    SELECT * INTO s FROM member_source(p_user, p_admin, p_kind, p_id, p_ref);
    IF s.source_id IS NULL OR NOT s.visible THEN
        status := 'not_found';
        RETURN;
    END IF;
    IF NOT p_admin AND (s.caller_level < 40 OR (p_level = 50 AND s.caller_level < 50)) THEN
        status := 'forbidden';
        RETURN;
    END IF;
    IF (p_kind = 'project' AND EXISTS (SELECT 1 FROM project_members
                                        WHERE project_id = s.source_id AND user_id = p_member))
       OR (p_kind = 'group' AND EXISTS (SELECT 1 FROM group_members
                                         WHERE namespace_id = s.source_id
                                           AND user_id = p_member)) THEN
        status := 'member_exists';
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM users WHERE id = p_member) THEN
        status := 'user_not_found';
        RETURN;
    END IF;
    IF p_expires IS NOT NULL AND p_expires <= current_date THEN
        status := 'expires_past';
        RETURN;
    END IF;
    SELECT * INTO inh FROM inherited_group_level(p_member, s.ancestors);
    IF inh.access_level IS NOT NULL AND p_level < inh.access_level THEN
        status := 'below_inherited';
        detail := access_level_name(inh.access_level) || ' inherited membership from group '
                  || inh.group_name;
        RETURN;
    END IF;
    IF p_kind = 'project' THEN
        INSERT INTO project_members (project_id, user_id, access_level, expires_at, created_by)
        VALUES (s.source_id, p_member, p_level, p_expires, nullif(p_user, 0));
    ELSE
        INSERT INTO group_members (namespace_id, user_id, access_level, expires_at, created_by)
        VALUES (s.source_id, p_member, p_level, p_expires, nullif(p_user, 0));
    END IF;
    PERFORM audit_record(p_user, CASE WHEN p_kind = 'project' THEN 'Project' ELSE 'Group' END, s.source_id, 'User', p_member::text, NULL,
                         jsonb_build_object('add', 'user_access', 'as', access_level_name(p_level)));
    status := 'ok';
EXCEPTION WHEN unique_violation THEN
    status := 'member_exists';
END
$$;

-- Changes a member's role and/or expiry (p_set_expires: whether p_expires was given; NULL then
-- clears it). Statuses: not_found, forbidden, member_not_found, last_owner, expires_past,
-- below_inherited, ok.
CREATE OR REPLACE FUNCTION member_update(p_user bigint, p_admin boolean, p_kind text, p_id bigint,
                              p_ref text, p_member bigint, p_level integer,
                              p_set_expires boolean, p_expires date,
                              OUT status status_word, OUT detail text)
LANGUAGE plpgsql AS $$
DECLARE
    s record;
    inh record;
    cur integer;
BEGIN
    SELECT * INTO s FROM member_source(p_user, p_admin, p_kind, p_id, p_ref);
    IF s.source_id IS NULL OR NOT s.visible THEN
        status := 'not_found';
        RETURN;
    END IF;
    IF NOT p_admin AND s.caller_level < 40 THEN
        status := 'forbidden';
        RETURN;
    END IF;
    IF p_kind = 'project' THEN
        SELECT access_level INTO cur FROM project_members
         WHERE project_id = s.source_id AND user_id = p_member FOR UPDATE;
    ELSE
        SELECT access_level INTO cur FROM group_members
         WHERE namespace_id = s.source_id AND user_id = p_member FOR UPDATE;
    END IF;
    IF NOT FOUND THEN
        status := 'member_not_found';
        RETURN;
    END IF;
    IF NOT p_admin AND (cur = 50 OR p_level = 50) AND s.caller_level < 50 THEN
        status := 'forbidden';
        RETURN;
    END IF;
    IF cur = 50 AND p_level < 50
       AND member_is_last_owner(p_kind, s.source_id, s.ancestors, p_member) THEN
        status := 'last_owner';
        RETURN;
    END IF;
    IF p_set_expires AND p_expires IS NOT NULL AND p_expires <= current_date THEN
        status := 'expires_past';
        RETURN;
    END IF;
    SELECT * INTO inh FROM inherited_group_level(p_member, s.ancestors);
    IF inh.access_level IS NOT NULL AND p_level < inh.access_level THEN
        status := 'below_inherited';
        detail := access_level_name(inh.access_level) || ' inherited membership from group '
                  || inh.group_name;
        RETURN;
    END IF;
    IF p_kind = 'project' THEN
        UPDATE project_members
           SET access_level = p_level,
               expires_at = CASE WHEN p_set_expires THEN p_expires ELSE expires_at END
         WHERE project_id = s.source_id AND user_id = p_member;
    ELSE
        UPDATE group_members
           SET access_level = p_level,
               expires_at = CASE WHEN p_set_expires THEN p_expires ELSE expires_at END
         WHERE namespace_id = s.source_id AND user_id = p_member;
    END IF;
    PERFORM audit_record(p_user, CASE WHEN p_kind = 'project' THEN 'Project' ELSE 'Group' END, s.source_id, 'User', p_member::text, NULL,
                         jsonb_build_object('change', 'access_level', 'from', access_level_name(cur),
                                            'to', access_level_name(p_level)));
    status := 'ok';
END
$$;

-- Removes a member; members may remove themselves. Statuses: not_found, member_not_found,
-- forbidden, last_owner, ok.
CREATE OR REPLACE FUNCTION member_remove(p_user bigint, p_admin boolean, p_kind text, p_id bigint,
                              p_ref text, p_member bigint)
RETURNS status_word LANGUAGE plpgsql AS $$
DECLARE
    s record;
    cur integer;
BEGIN
    SELECT * INTO s FROM member_source(p_user, p_admin, p_kind, p_id, p_ref);
    IF s.source_id IS NULL OR NOT s.visible THEN
        RETURN 'not_found';
    END IF;
    IF p_kind = 'project' THEN
        SELECT access_level INTO cur FROM project_members
         WHERE project_id = s.source_id AND user_id = p_member FOR UPDATE;
    ELSE
        SELECT access_level INTO cur FROM group_members
         WHERE namespace_id = s.source_id AND user_id = p_member FOR UPDATE;
    END IF;
    IF NOT FOUND THEN
        RETURN 'member_not_found';
    END IF;
    IF NOT p_admin AND p_member <> p_user
       AND (s.caller_level < 40 OR (cur = 50 AND s.caller_level < 50)) THEN
        RETURN 'forbidden';
    END IF;
    IF member_is_last_owner(p_kind, s.source_id, s.ancestors, p_member) THEN
        RETURN 'last_owner';
    END IF;
    IF p_kind = 'project' THEN
        DELETE FROM project_members WHERE project_id = s.source_id AND user_id = p_member;
    ELSE
        DELETE FROM group_members WHERE namespace_id = s.source_id AND user_id = p_member;
    END IF;
    PERFORM audit_record(p_user, CASE WHEN p_kind = 'project' THEN 'Project' ELSE 'Group' END, s.source_id, 'User', p_member::text, NULL,
                         jsonb_build_object('remove', 'user_access'));
    RETURN 'ok';
END
$$;


-- ---- namespaces --------------------------------------------------------------------------------

-- GET /namespaces/:namespace/exists: whether a namespace with this path (case-insensitive) lives
-- under p_parent (the top level when NULL), and when it does, a free path to suggest: GitLab's
-- clean_path (the part before an '@', only letters, digits, '_', '-' and '.', no trailing '.git',
-- '.atom' or '.', no leading '-'; "blank" if nothing is left), then the first of it, it1, it2...
-- that no namespace uses as its path or name.
CREATE OR REPLACE FUNCTION namespace_exists(p_path text, p_parent bigint,
                                 OUT path_exists boolean, OUT suggestion text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_base text;
    v_prev text;
    v_try text;
    v_n integer := 0;
BEGIN
    path_exists := EXISTS (SELECT 1 FROM namespaces n
                            WHERE lower(n.path) = lower(p_path)
                              AND n.parent_id IS NOT DISTINCT FROM p_parent);
    IF NOT path_exists THEN
        RETURN;
    END IF;
    v_base := regexp_replace(regexp_replace(p_path, '@.*$', ''), '[^a-zA-Z0-9_.-]', '', 'g');
    LOOP
        v_prev := v_base;
        v_base := regexp_replace(v_base, '(\.git|\.atom|\.)$', '');
        EXIT WHEN v_base = v_prev;
    END LOOP;
    v_base := regexp_replace(v_base, '^-+', '');
    IF v_base = '' THEN
        v_base := 'blank';
    END IF;
    v_try := v_base;
    WHILE EXISTS (SELECT 1 FROM namespaces n
                   WHERE lower(n.path) = lower(v_try) OR lower(n.name) = lower(v_try)) LOOP
        v_n := v_n + 1;
        v_try := v_base || v_n;
    END LOOP;
    suggestion := v_try;
END
$$;
