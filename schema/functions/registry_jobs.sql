-- The background jobs of the Container Registry API (deleting repositories, cleaning tags up), kept
-- here so that any metad worker may run them: a worker claims one with FOR UPDATE SKIP LOCKED and
-- holds a lease it renews at every step; a worker that dies leaves a lease that expires, and the
-- job is claimed again. Every step is one short transaction.

-- Queues the cleanups of the policies whose time has come (one per active repository that has
-- none pending) and moves their next run; gives up jobs that failed p_max_attempts times; then
-- claims the oldest runnable job for p_worker with a lease of p_lease seconds. No row: nothing
-- to do.
CREATE OR REPLACE FUNCTION registry_job_claim(p_worker text, p_lease integer, p_max_attempts integer)
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
CREATE OR REPLACE FUNCTION registry_job_renew(p_job bigint, p_worker text, p_lease integer) RETURNS bigint
LANGUAGE sql AS $$
    UPDATE registry_jobs SET locked_until = now() + make_interval(secs => p_lease)
     WHERE id = p_job AND locked_by = p_worker
    RETURNING repository_id
$$;

-- One step of deleting a repository: up to p_batch tags, else manifests, else blob links, else
-- the repository itself (its job goes with it). 'more', 'done', or 'lost' (the lease).
CREATE OR REPLACE FUNCTION registry_job_delete_step(p_job bigint, p_worker text, p_lease integer,
                                         p_batch integer) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_repo bigint := registry_job_renew(p_job, p_worker, p_lease);
    n integer;
BEGIN
    PERFORM hooks_actor((SELECT j.user_id FROM registry_jobs j WHERE j.id = p_job));
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

-- The level protection rules see in a cleanup job (registry_tag_refusal): NULL for a cleanup
-- policy's (or a job whose user is gone), which no protected tag lets through; else the level of
-- the user who asked for the bulk deletion.
CREATE OR REPLACE FUNCTION registry_job_level(p_job bigint) RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN j.policy OR u.id IS NULL THEN NULL
                ELSE registry_caller_level(u.id, u.is_admin, r.project_id) END
      FROM registry_jobs j JOIN repositories r ON r.id = j.repository_id
      LEFT JOIN users u ON u.id = j.user_id
     WHERE j.id = p_job
$$;

-- Deletes the tags of a cleanup batch that still point at the manifest they pointed at when the
-- cleanup chose them (a tag pushed again meanwhile stays); never 'latest', never a tag a
-- protection rule keeps (registry_tag_refusal at the job's level). -1: lease lost.
CREATE OR REPLACE FUNCTION registry_job_delete_tags(p_job bigint, p_worker text, p_lease integer,
                                         p_ids bigint[], p_manifests bigint[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_repo bigint := registry_job_renew(p_job, p_worker, p_lease);
    v_project bigint;
    v_level integer;
    n integer;
BEGIN
    PERFORM hooks_actor((SELECT j.user_id FROM registry_jobs j WHERE j.id = p_job));
    IF v_repo IS NULL THEN
        RETURN -1;
    END IF;
    SELECT r.project_id INTO v_project FROM repositories r WHERE r.id = v_repo;
    v_level := registry_job_level(p_job);
    DELETE FROM tags t USING unnest(p_ids, p_manifests) AS x(id, manifest_id)
     WHERE t.id = x.id AND t.manifest_id = x.manifest_id AND t.repository_id = v_repo
       AND t.name <> 'latest'
       AND registry_tag_refusal(v_project, t.name, 'delete', v_level, false) IS NULL;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- A job is over: its row goes, and a policy run clears cleanup_policy_started_at.
CREATE OR REPLACE FUNCTION registry_job_finish(p_job bigint, p_worker text) RETURNS void
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
CREATE OR REPLACE FUNCTION registry_job_release(p_job bigint, p_worker text, p_error text, p_retry integer)
RETURNS void
LANGUAGE sql AS $$
    UPDATE registry_jobs
       SET locked_by = NULL, locked_until = NULL,
           run_after = now() + make_interval(secs => p_retry),
           attempts = CASE WHEN p_error IS NULL THEN greatest(attempts - 1, 0) ELSE attempts END,
           last_error = coalesce(p_error, last_error)
     WHERE id = p_job AND locked_by = p_worker
$$;
