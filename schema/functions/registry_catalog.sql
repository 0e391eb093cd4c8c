-- The catalog pages by a stored repository path instead of computing every repository's path and
-- pull right before its LIMIT: a page used to cost a scan of the whole instance.
--
-- repositories.path is the path a client names ("<lowercased project full_path>[/<name>]"),
-- kept by triggers: set when a repository is written, rewritten when its project's full_path
-- changes (renames and transfers of the project or of any group above it). Indexes on it give
-- the catalog's order (bytewise, COLLATE "C").

-- A repository's path from its project's full_path and its name ('' for the project's own image).
CREATE OR REPLACE FUNCTION registry_repository_path(p_full_path text, p_name text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT lower(p_full_path) || CASE WHEN p_name = '' THEN '' ELSE '/' || p_name END
$$;

-- The path of a repository being written. The project's row is read FOR SHARE: a rename that
-- has not committed yet makes this wait and then read the new full_path, and a rename that
-- starts after this waits until the repository is visible to its own rewrite.
CREATE OR REPLACE FUNCTION repositories_set_path() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    SELECT registry_repository_path(p.full_path, NEW.name) INTO NEW.path
      FROM projects p WHERE p.id = NEW.project_id FOR SHARE;
    RETURN NEW;
END
$$;

-- A project's new full_path carried to its repositories.
CREATE OR REPLACE FUNCTION projects_repositories_path() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE repositories r SET path = registry_repository_path(NEW.full_path, r.name)
     WHERE r.project_id = NEW.id;
    RETURN NULL;
END
$$;

-- The paths after p_after of the repositories of p_projects, in order, at most p_limit. The
-- projects are taken in the order of their path, since a project's repository paths all start
-- with its lowercased full_path: each gives its first p_limit repositories after p_after, until
-- the next project's path sorts after p_limit paths already found. A project sorting before
-- p_after has repositories after it only when its path is a prefix of p_after. The work follows
-- the number of projects and the page, not the number of repositories.
CREATE OR REPLACE FUNCTION registry_catalog_of(p_projects bigint[], p_after text, p_limit bigint)
RETURNS TABLE (path text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_project record;
    v_rows text[] COLLATE "C";
    v_found text[] COLLATE "C" := '{}';
    v_max text COLLATE "C";
BEGIN
    IF coalesce(cardinality(p_projects), 0) = 0 THEN
        RETURN;
    END IF;
    FOR v_project IN
        SELECT x.id, x.path FROM (
            SELECT p.id, lower(p.full_path) COLLATE "C" AS path
              FROM projects p WHERE p.id = ANY (p_projects)) x
         WHERE x.path > p_after COLLATE "C" OR starts_with(p_after COLLATE "C", x.path)
         ORDER BY x.path
    LOOP
        EXIT WHEN cardinality(v_found) >= p_limit AND v_project.path > v_max;
        SELECT array_agg(r.path ORDER BY r.path) INTO v_rows FROM (
            SELECT r.path FROM repositories r
             WHERE r.project_id = v_project.id AND r.path > p_after COLLATE "C"
               AND (r.status IS NULL OR r.status = 'delete_failed')
             ORDER BY r.path LIMIT p_limit) r;
        v_found := v_found || coalesce(v_rows, '{}');
        v_max := greatest(v_max, v_rows[cardinality(v_rows)]);
    END LOOP;
    RETURN QUERY SELECT f.path FROM unnest(v_found) AS f(path) ORDER BY f.path COLLATE "C"
                  LIMIT p_limit;
END
$$;

-- One page of the catalog: the paths after p_last (exclusive; NULL from the start) the caller
-- may pull, in bytewise order, at most p_limit of them. Its work follows the page and what the
-- caller may see, never the size of the instance. Two parts, each ordered and limited, merged:
--   the projects open to the caller by their settings alone (every one for admins): when there
--   are at most p_limit of them, those projects in path order (registry_catalog_of); otherwise
--   a walk of the instance in path order from p_last that tests two columns per candidate,
--   stopped at p_limit found or at WALK_FACTOR * p_limit candidates, which is enough when a
--   good share of the instance is open to the caller; when it is not, the open projects in
--   path order after all;
--   the projects the caller holds a role on or a deploy token covers, in path order.
CREATE OR REPLACE FUNCTION registry_catalog(p_last text, p_user bigint, p_admin boolean,
                                 p_deploy_token bigint, p_limit bigint)
RETURNS TABLE (path text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    WALK_FACTOR CONSTANT integer := 4;
    s record;
    v_after text COLLATE "C" := coalesce(p_last, '');  -- no path is empty
    v_seen bigint;
    v_open text[];
    v_projects bigint[];
BEGIN
    IF p_limit <= 0 THEN
        RETURN;
    END IF;
    SELECT * INTO s FROM registry_pull_scope(p_user, p_admin, p_deploy_token);

    -- The open part of registry_scope_pulls() is spelled out in the two statements that list
    -- open projects, so that projects_registry_open_idx serves them.
    IF NOT s.all_projects THEN
        SELECT array_agg(o.id) INTO v_projects FROM (
            SELECT p.id FROM projects p
             WHERE p.container_registry_access_level = 'enabled'
               AND p.visibility = ANY (s.visibilities)
             LIMIT p_limit + 1) o;
    END IF;
    IF s.all_projects OR cardinality(v_projects) > p_limit THEN
        -- the walk: the open paths, and the last candidate looked at when that is the last one
        -- the walk may look at (then a short page does not mean that nothing open follows)
        SELECT coalesce(array_agg(c.path ORDER BY c.path) FILTER (WHERE c.open), '{}'),
               coalesce(max(c.n), 0)
          INTO v_open, v_seen
          FROM (SELECT w.path, w.open, w.n FROM (
                    SELECT r.path, row_number() OVER (ORDER BY r.path) AS n,
                           registry_scope_pulls(s.all_projects, s.visibilities, '{}',
                                                p.container_registry_access_level, p.visibility,
                                                p.id) AS open
                      FROM repositories r JOIN projects p ON p.id = r.project_id
                     WHERE r.path > v_after AND (r.status IS NULL OR r.status = 'delete_failed')
                     ORDER BY r.path LIMIT WALK_FACTOR * p_limit) w
                 WHERE w.open OR w.n = WALK_FACTOR * p_limit
                 LIMIT p_limit) c;
        IF cardinality(v_open) < p_limit AND v_seen = WALK_FACTOR * p_limit THEN
            IF s.all_projects THEN
                SELECT array_agg(p.id) INTO v_projects FROM projects p
                 WHERE p.container_registry_access_level <> 'disabled';
            ELSE
                SELECT array_agg(p.id) INTO v_projects FROM projects p
                 WHERE p.container_registry_access_level = 'enabled'
                   AND p.visibility = ANY (s.visibilities);
            END IF;
            v_open := NULL;
        END IF;
    END IF;
    IF v_open IS NULL THEN
        SELECT coalesce(array_agg(c.path), '{}') INTO v_open
          FROM registry_catalog_of(v_projects, v_after, p_limit) c;
    END IF;

    RETURN QUERY
    SELECT x.path FROM (
        SELECT unnest(v_open) AS path
        UNION
        SELECT c.path FROM registry_catalog_of(s.project_ids, v_after, p_limit) c) x
     ORDER BY x.path COLLATE "C" LIMIT p_limit;
END
$$;

CREATE OR REPLACE TRIGGER repositories_path BEFORE INSERT OR UPDATE OF project_id, name ON repositories
    FOR EACH ROW EXECUTE FUNCTION repositories_set_path();

CREATE OR REPLACE TRIGGER projects_repositories_path AFTER UPDATE OF full_path ON projects
    FOR EACH ROW WHEN (OLD.full_path IS DISTINCT FROM NEW.full_path)
    EXECUTE FUNCTION projects_repositories_path();
