-- Rights: the one home of who may see and do what. A user's role on a group or project (memberships,
-- inherited ones, personal namespaces, shares with groups), visibility, the pull right of the
-- registry and what a deploy token covers. Everything else, SQL or C, calls these.

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

-- Access level of a user on a group: the highest grant on it or an ancestor. 0: none.
CREATE OR REPLACE FUNCTION group_access_level(p_user bigint, p_namespace bigint) RETURNS integer
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(max(g.access_level), 0)
              FROM namespaces n, user_group_grants(p_user) g
             WHERE n.id = p_namespace AND g.namespace_id = ANY (n.traversal_ids));
END
$$;

CREATE OR REPLACE FUNCTION project_visible(p_user bigint, p_admin boolean, p_project bigint)
RETURNS boolean LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_visibility text;
BEGIN
    SELECT p.visibility INTO v_visibility FROM projects p WHERE p.id = p_project;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    RETURN p_admin OR v_visibility = 'public' OR (v_visibility = 'internal' AND p_user > 0)
        OR (p_user > 0 AND project_access_level(p_user, p_project) >= 10);
END
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

CREATE OR REPLACE FUNCTION registry_user_can_pull(p_user bigint, p_admin boolean, p_project bigint)
RETURNS boolean LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_level text;
    v_visibility text;
BEGIN
    SELECT p.container_registry_access_level, p.visibility INTO v_level, v_visibility
      FROM projects p WHERE p.id = p_project;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF v_level = 'disabled' THEN
        RETURN false;
    END IF;
    IF p_admin THEN
        RETURN true;
    END IF;
    IF v_level = 'enabled' AND (v_visibility = 'public' OR (v_visibility = 'internal' AND p_user > 0)) THEN
        RETURN true;
    END IF;
    RETURN p_user > 0 AND project_access_level(p_user, p_project) >= 20;
END
$$;

CREATE OR REPLACE FUNCTION deploy_token_covers(p_token bigint, p_project bigint) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (
        SELECT 1 FROM deploy_tokens t, projects p
          JOIN namespaces n ON n.id = p.namespace_id
         WHERE t.id = p_token AND p.id = p_project
           AND (t.project_id = p.id OR t.namespace_id = ANY (n.traversal_ids)));
END
$$;

CREATE OR REPLACE FUNCTION visibility_rank(v text) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE v WHEN 'private' THEN 0 WHEN 'internal' THEN 10 WHEN 'public' THEN 20 END
$$;

-- Whether a caller may see a namespace: any group it may see, its own user namespace.
CREATE OR REPLACE FUNCTION namespace_visible(p_user bigint, p_admin boolean, p_namespace bigint)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN n.kind = 'group' THEN coalesce(group_visible(p_user, p_admin, n.id), false)
                ELSE p_admin OR (p_user > 0 AND n.owner_id = p_user) END
      FROM namespaces n WHERE n.id = p_namespace
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

-- The highest role a user inherits on a group from its ancestors (not the group itself), and
-- the ancestor it comes from.
CREATE OR REPLACE FUNCTION inherited_group_level(p_user bigint, p_traversal bigint[],
                                      OUT access_level integer, OUT group_name text)
LANGUAGE sql STABLE AS $$
    SELECT gm.access_level, n.name
      FROM group_members gm JOIN namespaces n ON n.id = gm.namespace_id
     WHERE gm.user_id = p_user AND gm.namespace_id = ANY (p_traversal)
       AND (gm.expires_at IS NULL OR gm.expires_at > current_date)
     ORDER BY gm.access_level DESC, array_length(n.traversal_ids, 1)
     LIMIT 1
$$;

-- Whether a membership or link with this expiry date still counts today.
CREATE OR REPLACE FUNCTION not_expired(p_expires date) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT p_expires IS NULL OR p_expires > current_date
$$;

-- ---- rights ------------------------------------------------------------------------------------

-- Where a user's group roles come from (the one home of that rule): each row is a group and the
-- role it gives on itself and everything below it. A membership of a group; a group shared with
-- a group the user is a direct member of, at the lower of the two roles. Kept to one SELECT so
-- that PostgreSQL inlines it into its callers and pushes their filters down.
CREATE OR REPLACE FUNCTION user_group_grants(p_user bigint)
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
