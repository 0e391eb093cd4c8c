-- GitLab's Container Registry API over the registry's tables: who may do what to a project's
-- repositories and tags, each write as one function, and cleanup policies. The background jobs
-- that delete repositories and clean tags up are in registry_jobs.sql.


-- ---- rights --------------------------------------------------------------------------------------

-- The caller's view of a project's registry (the API's ":id", by id or full path). project_id is
-- NULL when the project does not exist or the caller may not see it (404 for both); can_read is
-- the pull right (GitLab's read_container_image); can_admin allows deleting repositories and
-- tags in bulk (Maintainer or admin).
CREATE OR REPLACE FUNCTION registry_api_access(p_user bigint, p_admin boolean, p_id bigint, p_ref text,
                                    OUT project_id bigint, OUT can_read boolean,
                                    OUT can_admin boolean)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    project_id := project_ref(p_id, p_ref);
    can_read := false;
    can_admin := false;
    IF project_id IS NULL OR NOT coalesce(project_visible(p_user, p_admin, project_id), false) THEN
        project_id := NULL;
        RETURN;
    END IF;
    can_read := coalesce(registry_can_pull(p_user, p_admin, 0, project_id), false);
    can_admin := can_read AND (p_admin OR (p_user > 0 AND project_access_level(p_user, project_id)
                                                          >= registry_action_level('delete')));
END
$$;

-- Whether a caller may change a project's images with the role of a registry action
-- (registry_action_level: 'push' to delete a tag, 'delete' to delete a repository or tags in
-- bulk); admins may, as long as the registry is on.
CREATE OR REPLACE FUNCTION registry_api_can(p_user bigint, p_admin boolean, p_project bigint,
                                 p_action text) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN coalesce(registry_can_pull(p_user, p_admin, 0, p_project), false)
       AND (p_admin OR (p_user > 0 AND project_access_level(p_user, p_project)
                                       >= registry_action_level(p_action)));
END
$$;

-- Whether a container repository protection rule keeps the caller from deleting in the repository
-- p_repo (its images, its tags, itself: registry_repository_refusal).
CREATE OR REPLACE FUNCTION registry_api_repository_protected(p_user bigint, p_admin boolean,
                                                            p_repo bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT registry_repository_refusal(r.project_id, r.path, 'delete',
                                       registry_caller_level(p_user, p_admin, r.project_id)) IS NOT NULL
      FROM repositories r WHERE r.id = p_repo
$$;

-- '1d', '14d', '1month', '3month' as an interval.
CREATE OR REPLACE FUNCTION registry_policy_interval(p text) RETURNS interval
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p LIKE '%month' THEN make_interval(months => rtrim(p, 'month')::integer)
                WHEN p LIKE '%d' THEN make_interval(days => rtrim(p, 'd')::integer) END
$$;

-- A project's policy as its JSON shows it (GitLab's ContainerExpirationPolicy entity).
CREATE OR REPLACE FUNCTION container_expiration_policy_json(p_project bigint) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
               'cadence', coalesce(c.cadence, '1d'),
               'enabled', coalesce(c.enabled, false),
               'keep_n', CASE WHEN c.project_id IS NULL THEN 10 ELSE c.keep_n END,
               'older_than', CASE WHEN c.project_id IS NULL THEN '90d' ELSE c.older_than END,
               'name_regex', CASE WHEN c.project_id IS NULL THEN '.*' ELSE c.name_regex END,
               'name_regex_keep', c.name_regex_keep,
               'next_run_at', gl_time(c.next_run_at))
      FROM (SELECT p_project AS id) x
      LEFT JOIN container_expiration_policies c ON c.project_id = x.id
$$;

-- Writes the attributes present in p_attrs (validated by the caller; a JSON null clears keep_n,
-- older_than and the regexes). Every save moves the next run to now + cadence, as GitLab's does.
CREATE OR REPLACE FUNCTION container_expiration_policy_save(p_project bigint, p_attrs jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO container_expiration_policies (project_id) VALUES (p_project)
        ON CONFLICT (project_id) DO NOTHING;
    UPDATE container_expiration_policies
       SET enabled = CASE WHEN p_attrs ? 'enabled' THEN (p_attrs ->> 'enabled')::boolean
                          ELSE enabled END,
           cadence = CASE WHEN p_attrs ? 'cadence' THEN p_attrs ->> 'cadence' ELSE cadence END,
           keep_n = CASE WHEN p_attrs ? 'keep_n' THEN (p_attrs ->> 'keep_n')::integer
                         ELSE keep_n END,
           older_than = CASE WHEN p_attrs ? 'older_than' THEN p_attrs ->> 'older_than'
                             ELSE older_than END,
           name_regex = CASE WHEN p_attrs ? 'name_regex' THEN p_attrs ->> 'name_regex'
                             ELSE name_regex END,
           name_regex_keep = CASE WHEN p_attrs ? 'name_regex_keep'
                                  THEN p_attrs ->> 'name_regex_keep' ELSE name_regex_keep END,
           updated_at = now()
     WHERE project_id = p_project;
    UPDATE container_expiration_policies
       SET next_run_at = now() + registry_policy_interval(cadence)
     WHERE project_id = p_project;
END
$$;

-- ---- the API's writes ----------------------------------------------------------------------------

-- DELETE /projects/:id/registry/repositories/:repository_id on a project the caller may read:
-- 'repository_not_found', 'forbidden' (also when protection rules keep the caller from deleting
-- the repository or its tags) or 'ok' (the repository is marked delete_scheduled and a job
-- queued; asking again while it runs changes nothing, after a failure it starts again).
CREATE OR REPLACE FUNCTION registry_repository_delete(p_user bigint, p_admin boolean, p_project bigint,
                                           p_repo bigint) RETURNS status_word
LANGUAGE plpgsql AS $$
DECLARE
    v_status text;
BEGIN
    SELECT status INTO v_status FROM repositories
     WHERE id = p_repo AND project_id = p_project FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'repository_not_found';
    END IF;
    IF NOT registry_api_can(p_user, p_admin, p_project, 'delete')
       OR registry_api_repository_protected(p_user, p_admin, p_repo)
       OR registry_repository_tags_protected(p_project, p_repo,
                                             registry_caller_level(p_user, p_admin, p_project)) THEN
        RETURN 'forbidden';
    END IF;
    IF v_status IS NULL OR v_status = 'delete_failed' THEN
        UPDATE repositories SET status = 'delete_scheduled', updated_at = now() WHERE id = p_repo;
        PERFORM audit_record(p_user, 'Project', p_project, 'ContainerRepository', p_repo::text,
                             (SELECT path FROM repositories WHERE id = p_repo),
                             jsonb_build_object('custom_message', 'Scheduled container repository deletion'));
    END IF;
    -- a deletion under way: nothing to add (and no wait on the row its worker holds)
    IF EXISTS (SELECT 1 FROM registry_jobs
                WHERE repository_id = p_repo AND kind = 'delete_repository'
                  AND failed_at IS NULL) THEN
        RETURN 'ok';
    END IF;
    INSERT INTO registry_jobs (kind, repository_id, user_id)
    VALUES ('delete_repository', p_repo, nullif(p_user, 0))
        ON CONFLICT (repository_id) WHERE kind = 'delete_repository'
        DO UPDATE SET attempts = 0, failed_at = NULL, last_error = NULL, run_after = now(),
                      user_id = EXCLUDED.user_id
        WHERE registry_jobs.failed_at IS NOT NULL;
    RETURN 'ok';
END
$$;

-- DELETE .../tags (bulk): 'repository_not_found', 'forbidden', 'throttled' (asked less than an
-- hour ago) or 'ok' with a cleanup job queued with p_params.
CREATE OR REPLACE FUNCTION registry_cleanup_request(p_user bigint, p_admin boolean, p_project bigint,
                                         p_repo bigint, p_params jsonb) RETURNS status_word
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    PERFORM 1 FROM repositories WHERE id = p_repo AND project_id = p_project;
    IF NOT FOUND THEN
        RETURN 'repository_not_found';
    END IF;
    IF NOT registry_api_can(p_user, p_admin, p_project, 'delete')
       OR registry_api_repository_protected(p_user, p_admin, p_repo) THEN
        RETURN 'forbidden';
    END IF;
    INSERT INTO registry_cleanup_leases (repository_id, expires_at)
    VALUES (p_repo, now() + interval '1 hour')
        ON CONFLICT (repository_id) DO UPDATE SET expires_at = EXCLUDED.expires_at
        WHERE registry_cleanup_leases.expires_at <= now();
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n = 0 THEN
        RETURN 'throttled';
    END IF;
    INSERT INTO registry_jobs (kind, repository_id, params, user_id)
    VALUES ('cleanup_tags', p_repo, p_params, nullif(p_user, 0));
    RETURN 'ok';
END
$$;

-- DELETE .../tags/:tag_name: 'repository_not_found', 'forbidden' (Developer or more),
-- 'tag_not_found', 'tag_protected' (a protection rule keeps the caller from deleting it:
-- registry_tag_refusal) or 'ok'.
CREATE OR REPLACE FUNCTION registry_tag_delete(p_user bigint, p_admin boolean, p_project bigint,
                                    p_repo bigint, p_tag text) RETURNS status_word
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM hooks_actor(p_user);
    PERFORM 1 FROM repositories WHERE id = p_repo AND project_id = p_project;
    IF NOT FOUND THEN
        RETURN 'repository_not_found';
    END IF;
    IF NOT registry_api_can(p_user, p_admin, p_project, 'push')
       OR registry_api_repository_protected(p_user, p_admin, p_repo) THEN
        RETURN 'forbidden';
    END IF;
    PERFORM 1 FROM tags WHERE repository_id = p_repo AND name = p_tag FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'tag_not_found';
    END IF;
    IF registry_tag_refusal(p_project, p_tag, 'delete',
                            registry_caller_level(p_user, p_admin, p_project), false) IS NOT NULL THEN
        RETURN 'tag_protected';
    END IF;
    DELETE FROM tags WHERE repository_id = p_repo AND name = p_tag;
    UPDATE repositories SET updated_at = now() WHERE id = p_repo;
    PERFORM audit_record(p_user, 'Project', p_project, 'ContainerRepository', p_repo::text,
                         (SELECT path FROM repositories WHERE id = p_repo),
                         jsonb_build_object('custom_message', format('Deleted tag %s', p_tag)));
    RETURN 'ok';
END
$$;
