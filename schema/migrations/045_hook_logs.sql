-- The log of webhook deliveries (GitLab's web_hook_logs): one row per attempt, what was sent
-- and what the receiver answered, shown to the hook's owners for 7 days
-- (GET .../hooks/:hook_id/events) and pruned after (schema/functions/hooks.sql).
CREATE TABLE hook_logs (
    id bigserial PRIMARY KEY,
    hook_id bigint NOT NULL REFERENCES hooks (id) ON DELETE CASCADE,
    trigger text NOT NULL,
    url text NOT NULL,
    request_headers jsonb NOT NULL,         -- as sent, the token and custom values masked
    request_data jsonb NOT NULL,            -- the payload as sent
    response_headers jsonb NOT NULL DEFAULT '{}',
    response_body text NOT NULL DEFAULT '',
    response_status text NOT NULL,          -- "200", or "internal error" (no answer)
    execution_duration double precision NOT NULL DEFAULT 0,   -- seconds
    internal_error_message text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX hook_logs_hook_idx ON hook_logs (hook_id, id);
CREATE INDEX hook_logs_created_idx ON hook_logs (created_at);

-- a delivery's trigger, as its log names it (GitLab's: container_registry_hooks for ours)
ALTER TABLE hook_deliveries ADD COLUMN trigger text NOT NULL DEFAULT 'container_registry_hooks';

-- the outcome carries the log of the attempt; the hooks' list is paged
DROP FUNCTION IF EXISTS hook_delivered(bigint, text);
DROP FUNCTION IF EXISTS hooks_list(bigint, boolean, text, bigint, text);

-- the refusals of the tests and resends (common/status.def)
ALTER TYPE status_word ADD VALUE 'hook_event_not_found';
ALTER TYPE status_word ADD VALUE 'hook_trigger_unsupported';
