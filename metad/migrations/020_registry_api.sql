-- GitLab's Container Registry API over the registry's tables: who may do what to a project's
-- repositories and tags, cleanup policies, and the background jobs that delete repositories and
-- clean tags up. Jobs live here so that any metad worker may run them: a worker claims one with
-- FOR UPDATE SKIP LOCKED and holds a lease it renews at every step; a worker that dies leaves a
-- lease that expires, and the job is claimed again. Every step is one short transaction.

-- ---- rights --------------------------------------------------------------------------------------

-- The caller's view of a project's registry (the API's ":id", by id or full path). project_id is
-- NULL when the project does not exist or the caller may not see it (404 for both); can_read is
-- the pull right (GitLab's read_container_image); can_admin allows deleting repositories and
-- tags in bulk (Maintainer or admin).
CREATE FUNCTION registry_api_access(p_user bigint, p_admin boolean, p_id bigint, p_ref text,
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
    can_read := coalesce(registry_user_can_pull(p_user, p_admin, project_id), false);
    can_admin := can_read AND (p_admin OR (p_user > 0 AND project_access_level(p_user, project_id) >= 40));
END
$$;

-- Whether a caller may change a project's images with a role of at least p_level (30: delete a
-- tag, 40: delete a repository or tags in bulk); admins may, as long as the registry is on.
CREATE FUNCTION registry_api_can(p_user bigint, p_admin boolean, p_project bigint,
                                 p_level integer) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN coalesce(registry_user_can_pull(p_user, p_admin, p_project), false)
       AND (p_admin OR (p_user > 0 AND project_access_level(p_user, p_project) >= p_level));
END
$$;

-- ---- cleanup policies ----------------------------------------------------------------------------

-- GitLab's container_expiration_policies: one per project, written on first change; a project
-- without a row has the defaults below. Values are GitLab's option lists.
CREATE TABLE container_expiration_policies (
    project_id bigint PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    enabled boolean NOT NULL DEFAULT false,
    cadence text NOT NULL DEFAULT '1d'
        CHECK (cadence IN ('1d', '7d', '14d', '1month', '3month')),
    keep_n integer DEFAULT 10 CHECK (keep_n IN (1, 5, 10, 25, 50, 100)),
    older_than text DEFAULT '90d' CHECK (older_than IN ('7d', '14d', '30d', '90d')),
    name_regex text DEFAULT '.*',
    name_regex_keep text,
    next_run_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX container_expiration_policies_due_idx ON container_expiration_policies (next_run_at)
    WHERE enabled;

-- '1d', '14d', '1month', '3month' as an interval.
CREATE FUNCTION registry_policy_interval(p text) RETURNS interval
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p LIKE '%month' THEN make_interval(months => rtrim(p, 'month')::integer)
                WHEN p LIKE '%d' THEN make_interval(days => rtrim(p, 'd')::integer) END
$$;

-- A project's policy as its JSON shows it (GitLab's ContainerExpirationPolicy entity).
CREATE FUNCTION container_expiration_policy_json(p_project bigint) RETURNS json
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
CREATE FUNCTION container_expiration_policy_save(p_project bigint, p_attrs jsonb) RETURNS void
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

-- ---- jobs ----------------------------------------------------------------------------------------

CREATE TABLE registry_jobs (
    id bigserial PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('delete_repository', 'cleanup_tags')),
    repository_id bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    -- cleanup_tags: name_regex_delete, name_regex_keep, keep_n, older_than (seconds)
    params jsonb NOT NULL DEFAULT '{}',
    policy boolean NOT NULL DEFAULT false,  -- started by the project's cleanup policy
    user_id bigint REFERENCES users (id) ON DELETE SET NULL,
    attempts integer NOT NULL DEFAULT 0,
    run_after timestamptz NOT NULL DEFAULT now(),
    locked_by text,                         -- the worker holding the lease
    locked_until timestamptz,
    last_error text,
    failed_at timestamptz,                  -- gave up (delete_repository: status delete_failed)
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX registry_jobs_delete_key ON registry_jobs (repository_id)
    WHERE kind = 'delete_repository';
CREATE INDEX registry_jobs_repository_idx ON registry_jobs (repository_id);
CREATE INDEX registry_jobs_runnable_idx ON registry_jobs (run_after, id) WHERE failed_at IS NULL;

-- Bulk tag deletion may be asked at most once an hour per repository (GitLab's lease).
CREATE TABLE registry_cleanup_leases (
    repository_id bigint PRIMARY KEY REFERENCES repositories (id) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL
);

-- Queues the cleanups of the policies whose time has come (one per active repository that has
-- none pending) and moves their next run; gives up jobs that failed p_max_attempts times; then
-- claims the oldest runnable job for p_worker with a lease of p_lease seconds. No row: nothing
-- to do.
CREATE FUNCTION registry_job_claim(p_worker text, p_lease integer, p_max_attempts integer)
RETURNS TABLE (job_id bigint, kind text, repository_id bigint, params jsonb, policy boolean,
               attempts integer)
LANGUAGE plpgsql AS $$
DECLARE
    j registry_jobs%ROWTYPE;
BEGIN
    WITH due AS (
        SELECT c.* FROM container_expiration_policies c
         WHERE c.enabled AND c.next_run_at <= now()
         FOR UPDATE SKIP LOCKED),
    moved AS (
        UPDATE container_expiration_policies c
           SET next_run_at = now() + registry_policy_interval(c.cadence)
          FROM due WHERE c.project_id = due.project_id)
    INSERT INTO registry_jobs (kind, repository_id, params, policy)
    SELECT 'cleanup_tags', r.id,
           jsonb_build_object('name_regex_delete', due.name_regex,
                              'name_regex_keep', due.name_regex_keep,
                              'keep_n', due.keep_n,
                              'older_than', extract(epoch FROM
                                                    registry_policy_interval(due.older_than))::bigint),
           true
      FROM due
      JOIN projects p ON p.id = due.project_id AND p.container_registry_access_level <> 'disabled'
      JOIN repositories r ON r.project_id = due.project_id AND r.status IS NULL
     WHERE coalesce(due.name_regex, '') <> ''
       AND NOT EXISTS (SELECT 1 FROM registry_jobs o
                        WHERE o.repository_id = r.id AND o.policy AND o.failed_at IS NULL);

    FOR j IN SELECT * FROM registry_jobs x
              WHERE x.failed_at IS NULL AND x.attempts >= p_max_attempts
                AND (x.locked_until IS NULL OR x.locked_until < now())
              FOR UPDATE SKIP LOCKED LOOP
        IF j.kind = 'delete_repository' THEN
            UPDATE repositories SET status = 'delete_failed', updated_at = now()
             WHERE id = j.repository_id;
            UPDATE registry_jobs SET failed_at = now(), locked_by = NULL, locked_until = NULL
             WHERE id = j.id;
        ELSE
            IF j.policy THEN
                UPDATE repositories SET cleanup_policy_started_at = NULL WHERE id = j.repository_id;
            END IF;
            DELETE FROM registry_jobs WHERE id = j.id;
        END IF;
    END LOOP;

    SELECT * INTO j FROM registry_jobs x
     WHERE x.failed_at IS NULL AND x.run_after <= now()
       AND (x.locked_until IS NULL OR x.locked_until < now())
     ORDER BY x.run_after, x.id
     LIMIT 1
     FOR UPDATE SKIP LOCKED;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    UPDATE registry_jobs x
       SET locked_by = p_worker, locked_until = now() + make_interval(secs => p_lease),
           attempts = x.attempts + 1
     WHERE x.id = j.id;
    IF j.kind = 'delete_repository' THEN
        UPDATE repositories SET status = 'delete_ongoing', updated_at = now()
         WHERE id = j.repository_id;
    ELSIF j.policy THEN
        UPDATE repositories SET cleanup_policy_started_at = now() WHERE id = j.repository_id;
    END IF;
    RETURN QUERY SELECT j.id, j.kind, j.repository_id, j.params, j.policy, j.attempts + 1;
END
$$;

-- Renews p_worker's lease on a job; the repository, or NULL when the lease was lost (expired
-- and claimed by another worker, or the job is gone).
CREATE FUNCTION registry_job_renew(p_job bigint, p_worker text, p_lease integer) RETURNS bigint
LANGUAGE sql AS $$
    UPDATE registry_jobs SET locked_until = now() + make_interval(secs => p_lease)
     WHERE id = p_job AND locked_by = p_worker
    RETURNING repository_id
$$;

-- One step of deleting a repository: up to p_batch tags, else manifests, else blob links, else
-- the repository itself (its job goes with it). 'more', 'done', or 'lost' (the lease).
CREATE FUNCTION registry_job_delete_step(p_job bigint, p_worker text, p_lease integer,
                                         p_batch integer) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_repo bigint := registry_job_renew(p_job, p_worker, p_lease);
    n integer;
BEGIN
    IF v_repo IS NULL THEN
        RETURN 'lost';
    END IF;
    DELETE FROM tags WHERE id IN (SELECT id FROM tags WHERE repository_id = v_repo LIMIT p_batch);
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        RETURN 'more';
    END IF;
    DELETE FROM manifests
     WHERE id IN (SELECT id FROM manifests WHERE repository_id = v_repo LIMIT p_batch);
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        RETURN 'more';
    END IF;
    DELETE FROM repository_blobs
     WHERE repository_id = v_repo
       AND blob_digest IN (SELECT blob_digest FROM repository_blobs
                            WHERE repository_id = v_repo LIMIT p_batch);
    GET DIAGNOSTICS n = ROW_COUNT;
    IF n > 0 THEN
        RETURN 'more';
    END IF;
    -- whatever a push that raced the scheduling added goes with the row
    DELETE FROM repositories WHERE id = v_repo;
    RETURN 'done';
END
$$;

-- Deletes the tags of a cleanup batch that still point at the manifest they pointed at when the
-- cleanup chose them (a tag pushed again meanwhile stays); never 'latest'. -1: lease lost.
CREATE FUNCTION registry_job_delete_tags(p_job bigint, p_worker text, p_lease integer,
                                         p_ids bigint[], p_manifests bigint[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_repo bigint := registry_job_renew(p_job, p_worker, p_lease);
    n integer;
BEGIN
    IF v_repo IS NULL THEN
        RETURN -1;
    END IF;
    DELETE FROM tags t USING unnest(p_ids, p_manifests) AS x(id, manifest_id)
     WHERE t.id = x.id AND t.manifest_id = x.manifest_id AND t.repository_id = v_repo
       AND t.name <> 'latest';
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- A job is over: its row goes, and a policy run clears cleanup_policy_started_at.
CREATE FUNCTION registry_job_finish(p_job bigint, p_worker text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    j registry_jobs%ROWTYPE;
BEGIN
    DELETE FROM registry_jobs WHERE id = p_job AND locked_by = p_worker RETURNING * INTO j;
    IF FOUND AND j.policy THEN
        UPDATE repositories SET cleanup_policy_started_at = NULL WHERE id = j.repository_id;
    END IF;
END
$$;

-- A step failed: the lease is given back and the job waits p_retry seconds. p_error NULL is a
-- worker stopping, which does not count as an attempt.
CREATE FUNCTION registry_job_release(p_job bigint, p_worker text, p_error text, p_retry integer)
RETURNS void
LANGUAGE sql AS $$
    UPDATE registry_jobs
       SET locked_by = NULL, locked_until = NULL,
           run_after = now() + make_interval(secs => p_retry),
           attempts = CASE WHEN p_error IS NULL THEN greatest(attempts - 1, 0) ELSE attempts END,
           last_error = coalesce(p_error, last_error)
     WHERE id = p_job AND locked_by = p_worker
$$;

-- ---- the API's writes ----------------------------------------------------------------------------

-- DELETE /projects/:id/registry/repositories/:repository_id on a project the caller may read:
-- 'repository_not_found', 'forbidden' or 'ok' (the repository is marked delete_scheduled and a
-- job queued; asking again while it runs changes nothing, after a failure it starts again).
CREATE FUNCTION registry_repository_delete(p_user bigint, p_admin boolean, p_project bigint,
                                           p_repo bigint) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_status text;
BEGIN
    SELECT status INTO v_status FROM repositories
     WHERE id = p_repo AND project_id = p_project FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'repository_not_found';
    END IF;
    IF NOT registry_api_can(p_user, p_admin, p_project, 40) THEN
        RETURN 'forbidden';
    END IF;
    IF v_status IS NULL OR v_status = 'delete_failed' THEN
        UPDATE repositories SET status = 'delete_scheduled', updated_at = now() WHERE id = p_repo;
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
CREATE FUNCTION registry_cleanup_request(p_user bigint, p_admin boolean, p_project bigint,
                                         p_repo bigint, p_params jsonb) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    PERFORM 1 FROM repositories WHERE id = p_repo AND project_id = p_project;
    IF NOT FOUND THEN
        RETURN 'repository_not_found';
    END IF;
    IF NOT registry_api_can(p_user, p_admin, p_project, 40) THEN
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
-- 'tag_not_found' or 'ok'.
CREATE FUNCTION registry_tag_delete(p_user bigint, p_admin boolean, p_project bigint,
                                    p_repo bigint, p_tag text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM repositories WHERE id = p_repo AND project_id = p_project;
    IF NOT FOUND THEN
        RETURN 'repository_not_found';
    END IF;
    IF NOT registry_api_can(p_user, p_admin, p_project, 30) THEN
        RETURN 'forbidden';
    END IF;
    DELETE FROM tags WHERE repository_id = p_repo AND name = p_tag;
    IF NOT FOUND THEN
        RETURN 'tag_not_found';
    END IF;
    UPDATE repositories SET updated_at = now() WHERE id = p_repo;
    RETURN 'ok';
END
$$;
