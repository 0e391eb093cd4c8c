-- Rights: the one home of who may see and do what. Everything else, SQL or C, calls these.
--
-- Where roles come from is stated once, as grants: user_group_grants (a group membership, a
-- group shared with a group) and user_project_grants (a project membership, a personal
-- namespace, a role on the project's group, a share of the project with a group). Each rule is
-- stated once, as a predicate over an object's settings and the caller's standing on it:
-- project_visible_by, group_visible_by, registry_pull_open / registry_pull_standing, with
-- registry_action_level the role each registry action needs. The per-object functions
-- (project_access_level, project_visible, registry_can_pull, ...) feed them one object's
-- standing; lists feed them the caller's set (user_project_levels, user_member_groups,
-- registry_pull_scope) joined once, so a list filters its candidates by columns, never by a
-- per-object function per row.
-- tests/integration/test_rights_agree.py checks both forms agree on a varied world.

-- Access level of a user on a project: the highest of its grants (user_project_grants). 0: none.
CREATE OR REPLACE FUNCTION project_access_level(p_user bigint, p_project bigint) RETURNS integer
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(max(g.access_level), 0)
              FROM user_project_grants(p_user) g WHERE g.project_id = p_project);
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

-- Whether a caller may see a project (NULL when it does not exist): project_visible_by().
CREATE OR REPLACE FUNCTION project_visible(p_user bigint, p_admin boolean, p_project bigint)
RETURNS boolean LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_visibility text;
BEGIN
    SELECT p.visibility INTO v_visibility FROM projects p WHERE p.id = p_project;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    RETURN project_visible_by(p_user, p_admin, v_visibility,
                              CASE WHEN p_user > 0 THEN project_access_level(p_user, p_project) END);
END
$$;

-- Whether a caller may see a group (NULL when it does not exist): group_visible_by(), with the
-- groups it sees through membership (user_member_of_group).
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
    RETURN group_visible_by(p_user, p_admin, v_visibility,
                            p_user > 0 AND user_member_of_group(p_user, p_namespace));
END
$$;

-- Whether a deploy token covers a project: deploy_token_projects for one project.
CREATE OR REPLACE FUNCTION deploy_token_covers(p_token bigint, p_project bigint) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM deploy_token_projects(p_token) c WHERE c.project_id = p_project);
END
$$;

-- The order of visibilities: a project or subgroup is never more visible than its group.
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

-- Projects a user holds a role on (the highest wins), from user_project_grants.
CREATE OR REPLACE FUNCTION user_project_levels(p_user bigint)
RETURNS TABLE (project_id bigint, access_level integer) LANGUAGE sql STABLE AS $$
    SELECT g.project_id, max(g.access_level) FROM user_project_grants(p_user) g
     GROUP BY g.project_id
$$;

-- Groups a user sees through membership (GitLab's "my groups"): each group at or below a grant
-- anchor, and each ancestor of any anchor (user_member_anchors).
CREATE OR REPLACE FUNCTION user_member_groups(p_user bigint)
RETURNS TABLE (namespace_id bigint) LANGUAGE sql STABLE AS $$
    SELECT d.id
      FROM user_member_anchors(p_user) a JOIN namespaces d ON d.traversal_ids @> ARRAY[a.namespace_id]
     WHERE a.downward
    UNION
    SELECT unnest(n.traversal_ids)
      FROM user_member_anchors(p_user) a JOIN namespaces n ON n.id = a.namespace_id
$$;

-- Whether a user sees a group through membership: user_member_groups for one group (the group
-- at or below a grant anchor, or an ancestor of any anchor), found without listing the set.
CREATE OR REPLACE FUNCTION user_member_of_group(p_user bigint, p_namespace bigint) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM user_member_anchors(p_user) a
                     JOIN namespaces n ON n.id = a.namespace_id, namespaces x
                    WHERE x.id = p_namespace
                      AND (n.traversal_ids @> ARRAY[p_namespace]
                           OR (a.downward AND a.namespace_id = ANY (x.traversal_ids))));
END
$$;

-- The highest role a user inherits on a group from its ancestors (not the group itself), and
-- the ancestor it comes from.
CREATE OR REPLACE FUNCTION inherited_group_level(p_user bigint, p_traversal bigint[],
                                      OUT access_level integer, OUT group_name text)
LANGUAGE sql STABLE AS $$
    SELECT gm.access_level, n.name
      FROM group_members gm JOIN namespaces n ON n.id = gm.namespace_id
     WHERE gm.user_id = p_user AND gm.namespace_id = ANY (p_traversal)
       AND not_expired(gm.expires_at)
     ORDER BY gm.access_level DESC, array_length(n.traversal_ids, 1)
     LIMIT 1
$$;

-- Whether a membership or link with this expiry date still counts today.
CREATE OR REPLACE FUNCTION not_expired(p_expires date) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT p_expires IS NULL OR p_expires > current_date
$$;

-- ---- grants: where roles come from -------------------------------------------------------------

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

-- Where a user's project roles come from (the one home of that rule): each row is a project and
-- a role on it; through_group when the role comes from a group grant (a role on the project's
-- group or an ancestor). A membership of the project; owning its personal namespace (Owner); a
-- role on its group; the project shared with a group the user holds a role in (any way, the
-- invited group's ancestors included): the lower of that role and the link's. One SELECT, so
-- that PostgreSQL inlines it and pushes a caller's filter (one project) into each branch; the
-- group grants are joined once, with a project's group and its links side by side, which keeps
-- the plan of a one-project lookup (project_access_level) as small as it was when the rule was
-- written apart from the set.
CREATE OR REPLACE FUNCTION user_project_grants(p_user bigint)
RETURNS TABLE (project_id bigint, access_level integer, through_group boolean)
LANGUAGE sql STABLE AS $$
    SELECT pm.project_id, pm.access_level, false
      FROM project_members pm
     WHERE pm.user_id = p_user AND not_expired(pm.expires_at)
    UNION ALL
    SELECT p.id, 50, false
      FROM namespaces n JOIN projects p ON p.namespace_id = n.id
     WHERE n.kind = 'user' AND n.owner_id = p_user
    UNION ALL
    SELECT t.project_id, least(g.access_level, t.cap), t.through_group
      FROM user_group_grants(p_user) g
      JOIN namespaces d ON d.traversal_ids @> ARRAY[g.namespace_id]
      JOIN (SELECT p.namespace_id AS group_id, p.id AS project_id, 50 AS cap, true AS through_group
              FROM projects p
            UNION ALL
            SELECT l.group_id, l.project_id, l.group_access, false
              FROM project_group_links l WHERE not_expired(l.expires_at)) t ON t.group_id = d.id
$$;

-- The projects a deploy token covers (the one home of that rule): its project, or every project
-- in its group and the group's subgroups. Inlined, so a caller's filter on one project is
-- pushed into each branch.
CREATE OR REPLACE FUNCTION deploy_token_projects(p_token bigint)
RETURNS TABLE (project_id bigint) LANGUAGE sql STABLE AS $$
    SELECT t.project_id FROM deploy_tokens t WHERE t.id = p_token AND t.project_id IS NOT NULL
    UNION ALL
    SELECT p.id
      FROM deploy_tokens t
      JOIN namespaces n ON n.traversal_ids @> ARRAY[t.namespace_id]
      JOIN projects p ON p.namespace_id = n.id
     WHERE t.id = p_token
$$;

-- What makes a user see groups through membership (the one home of that rule): each row a
-- namespace the user is anchored at. A group grant (downward: the group and everything below
-- it, and its ancestors); the group of a project the user holds a role on other than through a
-- group grant (its ancestors; a role through a group grant adds nothing the grant does not, and
-- leaving those out keeps a grant on a large group from costing its projects).
CREATE OR REPLACE FUNCTION user_member_anchors(p_user bigint)
RETURNS TABLE (namespace_id bigint, downward boolean) LANGUAGE sql STABLE AS $$
    SELECT g.namespace_id, true FROM user_group_grants(p_user) g
    UNION ALL
    SELECT p.namespace_id, false
      FROM user_project_grants(p_user) l
      JOIN projects p ON p.id = l.project_id
      JOIN namespaces n ON n.id = p.namespace_id AND n.kind = 'group'
     WHERE NOT l.through_group
$$;

-- ---- the rules, as predicates over an object and the caller's standing ------------------------

-- The visibilities open to a caller by an object's settings alone: public for anyone, internal
-- too for signed-in users.
CREATE OR REPLACE FUNCTION open_visibilities(p_user bigint) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_user > 0 THEN '{public,internal}'::text[] ELSE '{public}'::text[] END
$$;

-- Whether a caller sees a project of this visibility, holding p_level on it (NULL or 0: none):
-- admins all, the open visibilities, any role (Guest and above). Inlined by PostgreSQL (an
-- expression over its arguments), so p_level is only computed when the rest says no.
CREATE OR REPLACE FUNCTION project_visible_by(p_user bigint, p_admin boolean, p_visibility text,
                                              p_level integer) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_admin OR p_visibility = ANY (open_visibilities(p_user)) OR coalesce(p_level, 0) >= 10
$$;

-- Whether a caller sees a group of this visibility: admins all, the open visibilities, and the
-- groups it sees through membership (p_member: the group is in user_member_groups).
CREATE OR REPLACE FUNCTION group_visible_by(p_user bigint, p_admin boolean, p_visibility text,
                                            p_member boolean) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_admin OR p_visibility = ANY (open_visibilities(p_user)) OR coalesce(p_member, false)
$$;

-- The role each registry action needs on a project (GitLab's read_container_image,
-- create_container_image, destroy_container_image for a whole repository): pull Reporter,
-- push Developer, delete Maintainer. The Container Registry API deletes a tag with the push
-- role and a repository, or tags in bulk, with the delete role.
CREATE OR REPLACE FUNCTION registry_action_level(p_action text) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_action WHEN 'pull' THEN 20 WHEN 'push' THEN 30 WHEN 'delete' THEN 40 END
$$;

-- Whether a project's settings alone let a caller pull from it: never with the registry
-- disabled (not even admins, as GitLab has it); admins; an enabled registry of an open
-- visibility. A deploy token pulls what anonymous callers may (p_user 0).
CREATE OR REPLACE FUNCTION registry_pull_open(p_user bigint, p_admin boolean, p_registry text,
                                              p_visibility text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_registry <> 'disabled'
       AND (p_admin OR (p_registry = 'enabled' AND p_visibility = ANY (open_visibilities(p_user))))
$$;

-- Whether a caller's standing on a project lets it pull: a role of registry_action_level('pull')
-- (p_level, NULL or 0: none) or a live deploy token with read_registry covering it
-- (p_covered), the registry not disabled.
CREATE OR REPLACE FUNCTION registry_pull_standing(p_registry text, p_level integer,
                                                  p_covered boolean) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_registry <> 'disabled'
       AND (coalesce(p_covered, false) OR coalesce(p_level, 0) >= registry_action_level('pull'))
$$;

-- Whether a deploy token is live and holds a scope.
CREATE OR REPLACE FUNCTION deploy_token_can(p_token bigint, p_scope text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM deploy_tokens t
                    WHERE t.id = p_token AND NOT t.revoked
                      AND (t.expires_at IS NULL OR t.expires_at > now())
                      AND p_scope = ANY (t.scopes))
$$;

-- Whether a caller may pull from a project (a user, an admin, anonymous: p_user 0, or a deploy
-- token), asked per object. NULL when the project does not exist.
CREATE OR REPLACE FUNCTION registry_can_pull(p_user bigint, p_admin boolean, p_deploy_token bigint,
                                             p_project bigint) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_registry text;
    v_visibility text;
    v_token boolean := p_deploy_token > 0;
BEGIN
    SELECT p.container_registry_access_level, p.visibility INTO v_registry, v_visibility
      FROM projects p WHERE p.id = p_project;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    RETURN registry_pull_open(CASE WHEN v_token THEN 0 ELSE p_user END, p_admin AND NOT v_token,
                              v_registry, v_visibility)
        OR registry_pull_standing(v_registry,
               CASE WHEN p_user > 0 AND NOT v_token THEN project_access_level(p_user, p_project) END,
               v_token AND deploy_token_can(p_deploy_token, 'read_registry')
                       AND deploy_token_covers(p_deploy_token, p_project));
END
$$;

-- What a caller may pull, as sets (the form lists and the catalog need): the projects
-- registry_pull_open lets it pull (all_projects: every one whose registry is not disabled, for
-- admins; else those with an enabled registry and a visibility in visibilities), and those its
-- standing lets it pull (project_ids: by registry_pull_standing over user_project_levels, or
-- the projects a deploy token covers). registry_can_pull holds exactly when one does.
CREATE OR REPLACE FUNCTION registry_pull_scope(p_user bigint, p_admin boolean, p_deploy_token bigint,
                                    OUT all_projects boolean, OUT visibilities text[],
                                    OUT project_ids bigint[])
LANGUAGE plpgsql STABLE AS $$
BEGIN
    all_projects := p_admin AND p_deploy_token <= 0;
    visibilities := CASE WHEN all_projects THEN '{}'
                         WHEN p_deploy_token > 0 THEN open_visibilities(0)
                         ELSE open_visibilities(p_user) END;
    project_ids := '{}';
    IF all_projects THEN
        RETURN;
    ELSIF p_deploy_token > 0 THEN
        IF deploy_token_can(p_deploy_token, 'read_registry') THEN
            SELECT coalesce(array_agg(p.id), '{}') INTO project_ids
              FROM deploy_token_projects(p_deploy_token) c JOIN projects p ON p.id = c.project_id
             WHERE registry_pull_standing(p.container_registry_access_level, NULL, true);
        END IF;
    ELSIF p_user > 0 THEN
        SELECT coalesce(array_agg(l.project_id), '{}') INTO project_ids
          FROM user_project_levels(p_user) l JOIN projects p ON p.id = l.project_id
         WHERE registry_pull_standing(p.container_registry_access_level, l.access_level, false);
    END IF;
END
$$;

-- Whether a project is in a caller's registry_pull_scope: the open part (every project whose
-- registry is not disabled, or an enabled registry of a visibility listed) or project_ids.
-- Inlined by PostgreSQL, so a list tests columns, never a function per row.
CREATE OR REPLACE FUNCTION registry_scope_pulls(p_all boolean, p_visibilities text[], p_ids bigint[],
                                                p_registry text, p_visibility text,
                                                p_project bigint) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT (p_registry <> 'disabled'
            AND (p_all OR (p_registry = 'enabled' AND p_visibility = ANY (p_visibilities))))
        OR p_project = ANY (p_ids)
$$;
