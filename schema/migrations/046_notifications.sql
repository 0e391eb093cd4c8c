-- Instance-level notification endpoints (Distribution's notifications, configured in
-- registry.conf's [notifications.<name>] sections) as hooks rows of neither a project nor a group:
-- metad keeps them in step with its configuration at start (notify_endpoints_sync), the
-- registry's triggers queue Distribution's envelopes for them in hook_deliveries, and the
-- webhooks' workers deliver them (schema/functions/notifications.sql).
ALTER TABLE hooks DROP CONSTRAINT hooks_check;
ALTER TABLE hooks
    ADD COLUMN notify_name text UNIQUE CHECK (length(notify_name) BETWEEN 1 AND 255),
    -- Distribution's ignore.actions and ignore.mediatypes (ignoredmediatypes) of the endpoint
    ADD COLUMN notify_ignored_actions text[] NOT NULL DEFAULT '{}',
    ADD COLUMN notify_ignored_media_types text[] NOT NULL DEFAULT '{}',
    -- seconds a delivery may take; failures in a row before the endpoint backs off; seconds of
    -- the back-off
    ADD COLUMN notify_timeout integer NOT NULL DEFAULT 10 CHECK (notify_timeout BETWEEN 1 AND 3600),
    ADD COLUMN notify_threshold integer NOT NULL DEFAULT 10 CHECK (notify_threshold BETWEEN 1 AND 1000000),
    ADD COLUMN notify_backoff integer NOT NULL DEFAULT 10 CHECK (notify_backoff BETWEEN 1 AND 86400),
    -- the envelope's source: {"addr": ..., "instanceID": ...} of the metad that synced last
    ADD COLUMN notify_source jsonb NOT NULL DEFAULT '{}',
    ADD CONSTRAINT hooks_owner_check CHECK (num_nonnulls(project_id, group_id, notify_name) = 1);

-- The last quota_exceeded webhook event queued for a repository path: at most one a minute
-- (hooks_quota_exceeded).
CREATE TABLE hook_quota_events (
    repository_path text COLLATE "C" PRIMARY KEY,
    queued_at timestamptz NOT NULL
);

-- The request context becomes an argument of the pushes and deletions of manifests and tags
-- (their events name it); the old argument lists go.
DROP FUNCTION IF EXISTS registry_put_manifest(text, text, text, text, text, text, text, jsonb, bytea, text[],
                                              bigint[], text[], text, bigint, boolean);
DROP FUNCTION IF EXISTS registry_delete_reference(bigint, text, text, bigint, boolean);
-- hook_claim answers how to send a delivery (kind, timeout) too
DROP FUNCTION IF EXISTS hook_claim(integer);
