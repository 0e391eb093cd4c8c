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
