-- Audit events (GitLab's audit_events): who did what to which project, group or user, from
-- which address, and when. Append-only: rows are written by audit_record()
-- (schema/functions/audit.sql) in the transaction of the change they record; a trigger refuses
-- UPDATE and DELETE to every role, and schema/grants.sql leaves metad's role INSERT and SELECT
-- alone. Nothing references users, projects or namespaces: an event outlives what it names, which
-- is why the author's name and the entity's path are copied in.
CREATE TABLE audit_events (
    id bigserial PRIMARY KEY,
    author_id bigint NOT NULL,           -- users.id; -1: someone who did not sign in
    author_name text NOT NULL,
    author_email text,
    entity_type text NOT NULL CHECK (entity_type IN ('Project', 'Group', 'User')),
    entity_id bigint NOT NULL,
    entity_path text NOT NULL,
    target_id text,
    target_type text,
    target_details text,
    ip_address text,
    details jsonb NOT NULL DEFAULT '{}',  -- custom_message, or add/change/from/to/remove ...
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_events_entity_idx ON audit_events (entity_type, entity_id, id);
CREATE INDEX audit_events_created_idx ON audit_events (created_at);

-- the storage limit's write names the admin who changes it now (schema/functions/usage.sql)
DROP FUNCTION IF EXISTS namespace_storage_limit_set(bigint, text, bigint);
