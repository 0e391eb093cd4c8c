-- Sharing with groups, as GitLab has it: a project shared with a group (project_group_links) and
-- a group shared with a group (group_group_links), each up to a role (group_access) and until an
-- optional date. The rights follow from two rules, each written once below:
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

-- Whether a membership or link with this expiry date still counts today.
CREATE FUNCTION not_expired(p_expires date) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT p_expires IS NULL OR p_expires > current_date
$$;

-- ---- rights ------------------------------------------------------------------------------------

-- Where a user's group roles come from (the one home of that rule): each row is a group and the
-- role it gives on itself and everything below it. A membership of a group; a group shared with
-- a group the user is a direct member of, at the lower of the two roles. Kept to one SELECT so
-- that PostgreSQL inlines it into its callers and pushes their filters down.
CREATE FUNCTION user_group_grants(p_user bigint)
RETURNS TABLE (namespace_id bigint, access_level integer) LANGUAGE sql STABLE AS $$
    SELECT gm.namespace_id, gm.access_level
      FROM group_members gm
     WHERE gm.user_id = p_user AND not_expired(gm.expires_at)
    UNION ALL
    SELECT l.shared_group_id, least(gm.access_level, l.group_access)
      FROM group_members gm
      JOIN group_group_links l ON l.shared_with_group_id = gm.namespace_id
     WHERE gm.user_id = p_user AND not_expired(gm.expires_at)
       AND not_expired(l.expires_at)
$$;

-- Access level of a user on a group: the highest grant on it or an ancestor. 0: none.
CREATE OR REPLACE FUNCTION group_access_level(p_user bigint, p_namespace bigint) RETURNS integer
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(max(g.access_level), 0)
              FROM namespaces n, user_group_grants(p_user) g
             WHERE n.id = p_namespace AND g.namespace_id = ANY (n.traversal_ids));
END
$$;

-- Access level of a user on a project: the highest of a direct membership, 50 (Owner) for the
-- owner of a personal namespace, the role on its group, and each live share of the project with
-- a group the user holds a role in (the lower of that role and the link's). 0: none.
CREATE OR REPLACE FUNCTION project_access_level(p_user bigint, p_project bigint) RETURNS integer
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(max(lvl), 0) FROM (
        SELECT pm.access_level AS lvl
          FROM project_members pm
         WHERE pm.project_id = p_project AND pm.user_id = p_user
           AND not_expired(pm.expires_at)
        UNION ALL
        SELECT CASE WHEN n.kind = 'group' THEN group_access_level(p_user, n.id)
                    WHEN n.owner_id = p_user THEN 50 ELSE 0 END
          FROM projects p
          JOIN namespaces n ON n.id = p.namespace_id
         WHERE p.id = p_project
        UNION ALL
        SELECT least(group_access_level(p_user, l.group_id), l.group_access)
          FROM project_group_links l
         WHERE l.project_id = p_project AND not_expired(l.expires_at)
    ) levels);
END
$$;

-- Groups a user holds a role in (the highest wins), from every grant down to each subgroup.
CREATE OR REPLACE FUNCTION user_group_levels(p_user bigint)
RETURNS TABLE (namespace_id bigint, access_level integer) LANGUAGE sql STABLE AS $$
    SELECT d.id, max(g.access_level)
      FROM user_group_grants(p_user) g
      JOIN namespaces d ON d.traversal_ids @> ARRAY[g.namespace_id]
     GROUP BY d.id
$$;

-- Projects a user holds a role on, by the rules of project_access_level.
CREATE OR REPLACE FUNCTION user_project_levels(p_user bigint)
RETURNS TABLE (project_id bigint, access_level integer) LANGUAGE sql STABLE AS $$
    WITH g AS (SELECT * FROM user_group_levels(p_user))
    SELECT l.project_id, max(l.lvl) FROM (
        SELECT pm.project_id, pm.access_level AS lvl
          FROM project_members pm
         WHERE pm.user_id = p_user AND not_expired(pm.expires_at)
        UNION ALL
        SELECT p.id, g.access_level
          FROM g JOIN projects p ON p.namespace_id = g.namespace_id
        UNION ALL
        SELECT p.id, 50
          FROM namespaces n JOIN projects p ON p.namespace_id = n.id
         WHERE n.kind = 'user' AND n.owner_id = p_user
        UNION ALL
        SELECT pl.project_id, least(g.access_level, pl.group_access)
          FROM g JOIN project_group_links pl ON pl.group_id = g.namespace_id
         WHERE not_expired(pl.expires_at)
    ) l GROUP BY l.project_id
$$;

-- Groups a user sees through membership (GitLab's "my groups"): those it holds a role in, and
-- every ancestor of a group it has a grant on or of a project it holds a role on.
CREATE OR REPLACE FUNCTION user_member_groups(p_user bigint)
RETURNS TABLE (namespace_id bigint) LANGUAGE sql STABLE AS $$
    SELECT g.namespace_id FROM user_group_levels(p_user) g
    UNION
    SELECT unnest(n.traversal_ids)
      FROM user_group_grants(p_user) g JOIN namespaces n ON n.id = g.namespace_id
    UNION
    SELECT unnest(n.traversal_ids)
      FROM user_project_levels(p_user) l
      JOIN projects p ON p.id = l.project_id
      JOIN namespaces n ON n.id = p.namespace_id AND n.kind = 'group'
$$;

-- Whether a caller may see a group: admins, public ones, internal ones when signed in, a role on
-- it, or a role on something inside it (a grant on a subgroup, a role on a project below it
-- through its membership or a share). NULL when the group does not exist.
CREATE OR REPLACE FUNCTION group_visible(p_user bigint, p_admin boolean, p_namespace bigint)
RETURNS boolean LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_visibility text;
BEGIN
    SELECT n.visibility INTO v_visibility FROM namespaces n
     WHERE n.id = p_namespace AND n.kind = 'group';
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF p_admin OR v_visibility = 'public' OR (v_visibility = 'internal' AND p_user > 0) THEN
        RETURN true;
    END IF;
    IF p_user <= 0 THEN
        RETURN false;
    END IF;
    RETURN group_access_level(p_user, p_namespace) >= 10
        OR EXISTS (SELECT 1 FROM user_group_grants(p_user) g
                     JOIN namespaces d ON d.id = g.namespace_id
                    WHERE d.traversal_ids @> ARRAY[p_namespace])
        OR EXISTS (SELECT 1 FROM project_members pm
                     JOIN projects p ON p.id = pm.project_id
                     JOIN namespaces d ON d.id = p.namespace_id
                    WHERE pm.user_id = p_user AND not_expired(pm.expires_at)
                      AND d.traversal_ids @> ARRAY[p_namespace])
        OR EXISTS (SELECT 1 FROM project_group_links l
                     JOIN projects p ON p.id = l.project_id
                     JOIN namespaces d ON d.id = p.namespace_id
                    WHERE d.traversal_ids @> ARRAY[p_namespace] AND not_expired(l.expires_at)
                      AND group_access_level(p_user, l.group_id) > 0);
END
$$;

-- ---- entities ----------------------------------------------------------------------------------

-- A project's shared_with_groups as GitLab shows them: the live links to groups the caller may
-- see.
CREATE FUNCTION project_shared_with_groups_json(p_user bigint, p_admin boolean, p_project bigint)
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
CREATE FUNCTION group_shared_with_groups_json(p_user bigint, p_admin boolean, p_group bigint)
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
-- group_denied (GitLab's 404 "Not Found"), exists, same_group, ok (with the link as GitLab shows
-- it).
CREATE FUNCTION project_share(p_user bigint, p_admin boolean, p_id bigint, p_ref text,
                              p_group bigint, p_level integer, p_expires date,
                              OUT status text, OUT link_id bigint, OUT project_id bigint,
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
        status := 'exists';
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
    status := 'exists';
    link_id := NULL;
END
$$;

-- Stops sharing a project with a group (Maintainer). Statuses: not_found, forbidden,
-- link_not_found, ok.
CREATE FUNCTION project_unshare(p_user bigint, p_admin boolean, p_id bigint, p_ref text,
                                p_group bigint)
RETURNS text LANGUAGE plpgsql AS $$
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
-- group_not_found, group_denied (GitLab's 404 "Not Found"), exists, ok (with the group's id).
CREATE FUNCTION group_share(p_user bigint, p_admin boolean, p_id bigint, p_ref text,
                            p_group bigint, p_level integer, p_expires date,
                            OUT status text, OUT group_id bigint)
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
        status := 'exists';
        RETURN;
    END IF;
    INSERT INTO group_group_links (shared_group_id, shared_with_group_id, group_access,
                                   expires_at, created_by)
    VALUES (v_group, p_group, p_level, p_expires, nullif(p_user, 0));
    status := 'ok';
EXCEPTION WHEN unique_violation THEN
    status := 'exists';
END
$$;

-- Stops sharing a group with a group (Owner). Statuses: not_found, link_not_found,
-- group_denied, ok.
CREATE FUNCTION group_unshare(p_user bigint, p_admin boolean, p_id bigint, p_ref text,
                              p_group bigint)
RETURNS text LANGUAGE plpgsql AS $$
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

-- ---- namespaces --------------------------------------------------------------------------------

-- GET /namespaces/:namespace/exists: whether a namespace with this path (case-insensitive) lives
-- under p_parent (the top level when NULL), and when it does, a free path to suggest: GitLab's
-- clean_path (the part before an '@', only letters, digits, '_', '-' and '.', no trailing '.git',
-- '.atom' or '.', no leading '-'; "blank" if nothing is left), then the first of it, it1, it2...
-- that no namespace uses as its path or name.
CREATE FUNCTION namespace_exists(p_path text, p_parent bigint,
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
