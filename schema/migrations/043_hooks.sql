-- Webhooks of projects and groups (GitLab's project and group hooks) and the queue of their
-- deliveries. The events are written by triggers in the transaction of the change they report
-- (schema/functions/hooks.sql); metad's workers deliver them (metad/hooks_deliver.c).

-- A hook of a project (project_id) or of a group (group_id: fired for the projects of the group
-- and its subgroups). token is sent back verbatim in X-Gitlab-Token and keys the
-- X-Registry-Signature HMAC, so it is stored as given (never shown). recent_failures,
-- backoff_count and disabled_until are GitLab's auto-disabling: consecutive failed deliveries
-- disable the hook for a while, longer each time, and for good after too many.
CREATE TABLE hooks (
    id bigserial PRIMARY KEY,
    project_id bigint REFERENCES projects (id) ON DELETE CASCADE,
    group_id bigint REFERENCES namespaces (id) ON DELETE CASCADE,
    url text NOT NULL CHECK (length(url) BETWEEN 1 AND 2048),
    name text NOT NULL DEFAULT '' CHECK (length(name) <= 255),
    description text NOT NULL DEFAULT '' CHECK (length(description) <= 2048),
    token text CHECK (length(token) <= 255),
    custom_headers jsonb NOT NULL DEFAULT '[]',   -- [{"key": ..., "value": ...}]
    push_events boolean NOT NULL DEFAULT true,
    tag_push_events boolean NOT NULL DEFAULT false,
    container_registry_events boolean NOT NULL DEFAULT false,
    enable_ssl_verification boolean NOT NULL DEFAULT true,
    -- the registry's host as the hook's last writer reached it: the payloads' locations
    registry_host text NOT NULL DEFAULT '',
    recent_failures integer NOT NULL DEFAULT 0,
    backoff_count integer NOT NULL DEFAULT 0,
    disabled_until timestamptz,
    permanently_disabled boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (num_nonnulls(project_id, group_id) = 1)
);
CREATE INDEX hooks_project_idx ON hooks (project_id) WHERE project_id IS NOT NULL;
CREATE INDEX hooks_group_idx ON hooks (group_id) WHERE group_id IS NOT NULL;

-- A delivery to make: one event for one hook. Delivered in id order per hook and repository;
-- a failed one waits until next_attempt_at; a worker holds one under a lease (leased_until).
CREATE TABLE hook_deliveries (
    id bigserial PRIMARY KEY,
    hook_id bigint NOT NULL REFERENCES hooks (id) ON DELETE CASCADE,
    repository_path text COLLATE "C" NOT NULL,
    payload jsonb NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    leased_until timestamptz,
    last_error text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX hook_deliveries_order_idx ON hook_deliveries (hook_id, repository_path, id);
CREATE INDEX hook_deliveries_due_idx ON hook_deliveries (next_attempt_at);

-- GitLab's outbound setting: hooks may reach loopback, link-local and private addresses.
ALTER TABLE application_settings
    ADD COLUMN allow_local_requests_from_web_hooks_and_services boolean NOT NULL DEFAULT false;

-- the refusals of the hooks' writes (common/status.def)
ALTER TYPE status_word ADD VALUE 'hook_not_found';
ALTER TYPE status_word ADD VALUE 'hook_url_invalid';
