-- The webhooks' quota_exceeded event (GitLab's container registry hook actions, with the
-- events of schema/functions/hooks.sql): written by the refusal of a push over the namespace's
-- storage limit, rate-limited per repository path in hook_quota_events
-- (migrations/046_notifications.sql).

-- A push to p_path was refused because its namespace is over its storage limit (p_detail: the
-- refusal's detail; p_tag: the tag pushed, if any): a quota_exceeded event for the hooks of the
-- project and of its groups that want container registry events, at most one a minute per
-- repository path. Called by the refusal itself, whose statement commits nothing else.
CREATE OR REPLACE FUNCTION hooks_quota_exceeded(p_path text, p_tag text, p_detail text,
                                                p_user bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_project projects%ROWTYPE;
    v_id bigint;
    v_name text;
    v_payload jsonb;
BEGIN
    SELECT x.project_id, x.name INTO v_id, v_name FROM registry_resolve(p_path) x;
    SELECT p.* INTO v_project FROM projects p WHERE p.id = v_id;
    IF NOT FOUND OR NOT EXISTS (
            SELECT 1 FROM hooks h
             WHERE hook_wants(h, 'quota_exceeded')
               AND (h.project_id = v_project.id
                    OR h.group_id = ANY ((SELECT n.traversal_ids FROM namespaces n
                                           WHERE n.id = v_project.namespace_id)::bigint[]))) THEN
        RETURN;
    END IF;
    INSERT INTO hook_quota_events AS q (repository_path, queued_at) VALUES (p_path, now())
    ON CONFLICT (repository_path) DO UPDATE SET queued_at = now()
     WHERE q.queued_at <= now() - interval '1 minute';
    IF NOT FOUND THEN
        RETURN;
    END IF;
    v_payload := jsonb_build_object(
        'object_kind', 'container_registry', 'action', 'quota_exceeded',
        'repository', jsonb_build_object('path', p_path, 'name', v_name),
        'tag', p_tag, 'message', p_detail,
        'user', registry_actor_json(p_user),
        'project', jsonb_build_object('id', v_project.id, 'path_with_namespace', v_project.full_path),
        'timestamp', gl_time(clock_timestamp()));
    INSERT INTO hook_deliveries (hook_id, repository_path, payload)
    SELECT h.id, p_path, v_payload FROM hooks h
     WHERE hook_wants(h, 'quota_exceeded')
       AND (h.project_id = v_project.id
            OR h.group_id = ANY ((SELECT n.traversal_ids FROM namespaces n
                                   WHERE n.id = v_project.namespace_id)::bigint[]))
     ORDER BY h.id;
END
$$;
