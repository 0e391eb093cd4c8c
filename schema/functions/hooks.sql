-- Webhooks of projects and groups (tables in migrations/043_hooks.sql): the hooks' reads and
-- writes for GitLab's API, the events of the container registry written by triggers in the
-- transaction of the change they report, and the delivery queue metad's workers work
-- (metad/hooks_deliver.c).

-- Who the registry writes of this transaction act for, as the hooks' triggers report it: the
-- write functions that know their caller call this (transaction-local). PL/pgSQL: a SQL function
-- returning void is not inlined, and its body was parsed and planned again in every transaction.
CREATE OR REPLACE FUNCTION hooks_actor(p_user bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('registry.actor_id', coalesce(p_user, 0)::text, true);
END
$$;

-- GitLab's alert_status of a hook.
CREATE OR REPLACE FUNCTION hook_alert_status(h hooks) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN h.permanently_disabled THEN 'disabled'
                WHEN h.disabled_until > now() THEN 'temporarily_disabled'
                ELSE 'executable' END
$$;

-- A hook as GitLab's API shows it: the token and the custom headers' values are never shown.
CREATE OR REPLACE FUNCTION hook_json(h hooks) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
               'id', h.id, 'url', h.url, 'name', h.name, 'description', h.description,
               'created_at', gl_time(h.created_at), 'push_events', h.push_events,
               'tag_push_events', h.tag_push_events,
               'container_registry_events', h.container_registry_events,
               'container_registry_tag_push_events', h.container_registry_tag_push_events,
               'container_registry_tag_delete_events', h.container_registry_tag_delete_events,
               'container_registry_repository_delete_events',
               h.container_registry_repository_delete_events,
               'container_registry_quota_exceeded_events',
               h.container_registry_quota_exceeded_events,
               'enable_ssl_verification', h.enable_ssl_verification,
               'alert_status', hook_alert_status(h),
               'disabled_until', CASE WHEN h.disabled_until > now() AND NOT h.permanently_disabled
                                      THEN gl_time(h.disabled_until) END,
               'custom_headers', (SELECT coalesce(json_agg(json_build_object('key', c->>'key')), '[]')
                                    FROM jsonb_array_elements(h.custom_headers) c),
               CASE WHEN h.project_id IS NOT NULL THEN 'project_id' ELSE 'group_id' END,
               coalesce(h.project_id, h.group_id))
$$;

-- The project (p_kind 'project') or group ('group') whose hooks a caller manages, by id or path:
-- not_found (the caller cannot see it), forbidden (below Maintainer of a project, below Owner of
-- a group; admins always may), or ok.
CREATE OR REPLACE FUNCTION hook_owner(p_user bigint, p_admin boolean, p_kind text, p_id bigint,
                                      p_ref text, OUT status status_word, OUT project_id bigint,
                                      OUT group_id bigint)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_kind = 'project' THEN
        project_id := project_ref(p_id, p_ref);
        IF project_id IS NULL OR NOT coalesce(project_visible(p_user, p_admin, project_id), false) THEN
            status := 'not_found';
        ELSIF NOT p_admin AND (p_user <= 0 OR project_access_level(p_user, project_id) < 40) THEN
            status := 'forbidden';
        ELSE
            status := 'ok';
        END IF;
    ELSE
        group_id := group_ref(p_id, p_ref);
        IF group_id IS NULL OR NOT coalesce(group_visible(p_user, p_admin, group_id), false) THEN
            status := 'not_found';
        ELSIF NOT p_admin AND (p_user <= 0 OR group_access_level(p_user, group_id) < 50) THEN
            status := 'forbidden';
        ELSE
            status := 'ok';
        END IF;
    END IF;
END
$$;

-- GET .../hooks: a page of the hooks, one row per hook (hook NULL on an empty page), each with
-- the status (hook_owner) and the total.
CREATE OR REPLACE FUNCTION hooks_list(p_user bigint, p_admin boolean, p_kind text, p_id bigint,
                                      p_ref text, p_limit bigint, p_offset bigint)
RETURNS TABLE (status status_word, total bigint, id bigint, hook json)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
DECLARE
    o record;
BEGIN
    o := hook_owner(p_user, p_admin, p_kind, p_id, p_ref);
    IF o.status <> 'ok' THEN
        RETURN QUERY SELECT o.status, 0::bigint, NULL::bigint, NULL::json;
        RETURN;
    END IF;
    RETURN QUERY
    WITH page AS (
        SELECT h, h.id AS hook_id, count(*) OVER () AS n FROM hooks h
         WHERE h.project_id IS NOT DISTINCT FROM o.project_id
           AND h.group_id IS NOT DISTINCT FROM o.group_id
         ORDER BY h.id LIMIT p_limit OFFSET p_offset)
    SELECT 'ok'::status_word, coalesce(page.n, 0), page.hook_id, hook_json(page.h)
      FROM (SELECT 1) one LEFT JOIN page ON true
     ORDER BY page.hook_id;
END
$$;

-- The hook p_hook of the project or group a caller manages (hook_owner): status
-- (hook_owner's refusals, hook_not_found, ok) and the hook.
CREATE OR REPLACE FUNCTION hook_owned(p_user bigint, p_admin boolean, p_kind text, p_id bigint,
                                      p_ref text, p_hook bigint, OUT status status_word,
                                      OUT hook hooks)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    o record;
BEGIN
    o := hook_owner(p_user, p_admin, p_kind, p_id, p_ref);
    status := o.status;
    IF status <> 'ok' THEN
        RETURN;
    END IF;
    SELECT * INTO hook FROM hooks x
     WHERE x.id = p_hook AND x.project_id IS NOT DISTINCT FROM o.project_id
       AND x.group_id IS NOT DISTINCT FROM o.group_id;
    IF NOT FOUND THEN
        status := 'hook_not_found';
    END IF;
END
$$;

-- GET .../hooks/:hook_id: status (hook_owned's) and the hook.
CREATE OR REPLACE FUNCTION hook_get(p_user bigint, p_admin boolean, p_kind text, p_id bigint,
                                    p_ref text, p_hook bigint, OUT status status_word,
                                    OUT hook json)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    o record;
BEGIN
    o := hook_owned(p_user, p_admin, p_kind, p_id, p_ref, p_hook);
    status := o.status;
    IF status = 'ok' THEN
        hook := hook_json(o.hook);
    END IF;
END
$$;

-- POST .../hooks (p_hook NULL) or PUT .../hooks/:hook_id with the attributes present in p_attrs
-- (checked by metad: url, name, description, token, custom_headers, the event booleans);
-- p_url_local: metad found the url's host on a loopback, link-local or private address, which
-- only allow_local_requests_from_web_hooks_and_services lets through. hook_owner's refusals,
-- hook_not_found, hook_url_invalid, or ok with the hook. A changed url clears the failures.
CREATE OR REPLACE FUNCTION hook_save(p_user bigint, p_admin boolean, p_kind text, p_id bigint,
                                     p_ref text, p_hook bigint, p_attrs jsonb, p_url_local boolean,
                                     OUT status status_word, OUT hook json)
LANGUAGE plpgsql AS $$
DECLARE
    o record;
    h hooks%ROWTYPE;
    v_new_url boolean;
BEGIN
    o := hook_owner(p_user, p_admin, p_kind, p_id, p_ref);
    status := o.status;
    IF status <> 'ok' THEN
        RETURN;
    END IF;
    IF p_hook IS NOT NULL THEN
        SELECT * INTO h FROM hooks x
         WHERE x.id = p_hook AND x.project_id IS NOT DISTINCT FROM o.project_id
           AND x.group_id IS NOT DISTINCT FROM o.group_id FOR UPDATE;
        IF NOT FOUND THEN
            status := 'hook_not_found';
            RETURN;
        END IF;
    END IF;
    IF p_url_local AND NOT (SELECT allow_local_requests_from_web_hooks_and_services
                              FROM application_settings) THEN
        status := 'hook_url_invalid';
        RETURN;
    END IF;
    IF p_hook IS NULL THEN
        INSERT INTO hooks (project_id, group_id, url) VALUES (o.project_id, o.group_id, p_attrs->>'url')
        RETURNING * INTO h;
    END IF;
    v_new_url := p_attrs ? 'url' AND p_attrs->>'url' <> h.url;
    UPDATE hooks x SET
        url = coalesce(p_attrs->>'url', x.url),
        registry_host = coalesce(p_attrs->>'registry_host', x.registry_host),
        name = coalesce(p_attrs->>'name', x.name),
        description = coalesce(p_attrs->>'description', x.description),
        token = CASE WHEN p_attrs ? 'token' THEN nullif(p_attrs->>'token', '') ELSE x.token END,
        custom_headers = coalesce(p_attrs->'custom_headers', x.custom_headers),
        push_events = coalesce((p_attrs->>'push_events')::boolean, x.push_events),
        tag_push_events = coalesce((p_attrs->>'tag_push_events')::boolean, x.tag_push_events),
        container_registry_events = coalesce((p_attrs->>'container_registry_events')::boolean,
                                             x.container_registry_events),
        container_registry_tag_push_events = coalesce(
            (p_attrs->>'container_registry_tag_push_events')::boolean,
            x.container_registry_tag_push_events),
        container_registry_tag_delete_events = coalesce(
            (p_attrs->>'container_registry_tag_delete_events')::boolean,
            x.container_registry_tag_delete_events),
        container_registry_repository_delete_events = coalesce(
            (p_attrs->>'container_registry_repository_delete_events')::boolean,
            x.container_registry_repository_delete_events),
        container_registry_quota_exceeded_events = coalesce(
            (p_attrs->>'container_registry_quota_exceeded_events')::boolean,
            x.container_registry_quota_exceeded_events),
        enable_ssl_verification = coalesce((p_attrs->>'enable_ssl_verification')::boolean,
                                           x.enable_ssl_verification),
        recent_failures = CASE WHEN v_new_url THEN 0 ELSE x.recent_failures END,
        backoff_count = CASE WHEN v_new_url THEN 0 ELSE x.backoff_count END,
        disabled_until = CASE WHEN v_new_url THEN NULL ELSE x.disabled_until END,
        permanently_disabled = CASE WHEN v_new_url THEN false ELSE x.permanently_disabled END
     WHERE x.id = h.id
    RETURNING * INTO h;
    hook := hook_json(h);
END
$$;

-- DELETE .../hooks/:hook_id: hook_owner's refusals, hook_not_found, or ok (its queued deliveries
-- go with it).
CREATE OR REPLACE FUNCTION hook_delete(p_user bigint, p_admin boolean, p_kind text, p_id bigint,
                                       p_ref text, p_hook bigint) RETURNS status_word
LANGUAGE plpgsql AS $$
DECLARE
    o record;
BEGIN
    o := hook_owner(p_user, p_admin, p_kind, p_id, p_ref);
    IF o.status <> 'ok' THEN
        RETURN o.status;
    END IF;
    DELETE FROM hooks x
     WHERE x.id = p_hook AND x.project_id IS NOT DISTINCT FROM o.project_id
       AND x.group_id IS NOT DISTINCT FROM o.group_id;
    IF NOT FOUND THEN
        RETURN 'hook_not_found';
    END IF;
    RETURN 'ok';
END
$$;

-- ---- events ---------------------------------------------------------------------------------

-- Whether the hook h takes a container registry event of p_action (push, delete,
-- repository_delete, quota_exceeded): its registry events on, that action's on, and not disabled
-- for good.
CREATE OR REPLACE FUNCTION hook_wants(h hooks, p_action text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT h.container_registry_events AND NOT h.permanently_disabled
           AND CASE p_action
                   WHEN 'push' THEN h.container_registry_tag_push_events
                   WHEN 'delete' THEN h.container_registry_tag_delete_events
                   WHEN 'repository_delete' THEN h.container_registry_repository_delete_events
                   WHEN 'quota_exceeded' THEN h.container_registry_quota_exceeded_events
                   ELSE false
               END
$$;

-- The payload of a container registry event of the repository p_repo (NULL when it has no
-- project). p_action: push, delete or repository_delete; p_tag and the manifest p_manifest
-- (digest, media type, size) when a tag is concerned. The actor is registry.actor_id
-- (hooks_actor), else the deploy token of the request context, none when neither (a cleanup
-- policy).
CREATE OR REPLACE FUNCTION hook_payload(p_repo bigint, p_action text, p_tag text,
                                        p_manifest bigint) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_project projects%ROWTYPE;
    v_name text;
    v_actor bigint := nullif(current_setting('registry.actor_id', true), '')::bigint;
    v_user json;
    m record;
BEGIN
    SELECT p.* INTO v_project FROM projects p
      JOIN repositories r ON r.project_id = p.id WHERE r.id = p_repo;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    SELECT r.name INTO v_name FROM repositories r WHERE r.id = p_repo;
    v_user := registry_actor_json(v_actor);  -- a deploy token's from the request context
    SELECT mm.digest, mm.media_type, mm.total_size INTO m FROM manifests mm WHERE mm.id = p_manifest;
    RETURN jsonb_build_object(
        'object_kind', 'container_registry', 'action', p_action,
        'repository', jsonb_build_object(
            'path', v_project.full_path || CASE WHEN v_name = '' THEN '' ELSE '/' || v_name END,
            'name', v_name),
        'tag', p_tag, 'digest', m.digest, 'media_type', m.media_type, 'size', m.total_size,
        'user', v_user,
        'project', jsonb_build_object('id', v_project.id, 'path_with_namespace', v_project.full_path),
        'timestamp', gl_time(clock_timestamp()));
END
$$;

-- Queues a container registry event of the repository p_repo (hook_payload) for every hook
-- that wants them: the project's, and those of its group and the group's ancestors.
CREATE OR REPLACE FUNCTION hooks_enqueue(p_repo bigint, p_action text, p_tag text,
                                         p_manifest bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_project projects%ROWTYPE;
    v_payload jsonb;
BEGIN
    SELECT p.* INTO v_project FROM projects p JOIN repositories r ON r.project_id = p.id
     WHERE r.id = p_repo;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM hooks h
                    WHERE hook_wants(h, p_action)
                      AND (h.project_id = v_project.id
                           OR h.group_id = ANY ((SELECT n.traversal_ids FROM namespaces n
                                                  WHERE n.id = v_project.namespace_id)::bigint[]))) THEN
        RETURN;
    END IF;
    v_payload := hook_payload(p_repo, p_action, p_tag, p_manifest);
    INSERT INTO hook_deliveries (hook_id, repository_path, payload)
    SELECT h.id, v_payload->'repository'->>'path', v_payload FROM hooks h
     WHERE hook_wants(h, p_action)
       AND (h.project_id = v_project.id
            OR h.group_id = ANY ((SELECT n.traversal_ids FROM namespaces n
                                   WHERE n.id = v_project.namespace_id)::bigint[]))
     ORDER BY h.id;
END
$$;

-- ---- delivery -------------------------------------------------------------------------------

-- Claims the next delivery due for a worker for p_lease seconds: the oldest of its hook and
-- repository (the ones after it wait, so a receiver sees a repository's events in order), of a
-- hook not disabled. No row when none is due. kind: hook, or notification (an instance-level
-- endpoint of the configuration, schema/functions/notifications.sql: Distribution's envelope,
-- its own timeout, local addresses allowed).
CREATE OR REPLACE FUNCTION hook_claim(p_lease integer)
RETURNS TABLE (delivery_id bigint, url text, token text, custom_headers text,
               enable_ssl_verification boolean, payload text, allow_local boolean, kind text,
               timeout integer)
LANGUAGE plpgsql AS $$
DECLARE
    v_id bigint;
BEGIN
    SELECT d.id INTO v_id FROM hook_deliveries d JOIN hooks h ON h.id = d.hook_id
     WHERE d.next_attempt_at <= now() AND (d.leased_until IS NULL OR d.leased_until < now())
       AND NOT h.permanently_disabled AND (h.disabled_until IS NULL OR h.disabled_until <= now())
       AND NOT EXISTS (SELECT 1 FROM hook_deliveries o
                        WHERE o.hook_id = d.hook_id AND o.repository_path = d.repository_path
                          AND o.id < d.id)
     ORDER BY d.id LIMIT 1
       FOR UPDATE OF d SKIP LOCKED;
    IF v_id IS NULL THEN
        RETURN;
    END IF;
    UPDATE hook_deliveries SET leased_until = now() + make_interval(secs => p_lease),
                               attempts = attempts + 1
     WHERE id = v_id;
    RETURN QUERY
        SELECT d.id, h.url, h.token, h.custom_headers::text, h.enable_ssl_verification,
               jsonb_set(d.payload, '{repository,location}',
                         to_jsonb(CASE WHEN h.registry_host = '' THEN d.repository_path
                                       ELSE h.registry_host || '/' || d.repository_path END))::text,
               h.notify_name IS NOT NULL OR
               (SELECT s.allow_local_requests_from_web_hooks_and_services FROM application_settings s),
               CASE WHEN h.notify_name IS NULL THEN 'hook' ELSE 'notification' END,
               CASE WHEN h.notify_name IS NULL THEN NULL ELSE h.notify_timeout END
          FROM hook_deliveries d JOIN hooks h ON h.id = d.hook_id WHERE d.id = v_id;
END
$$;

-- A delivery's outcome, and p_log its attempt's log (the url, the request's headers masked,
-- request_data, the response's status, headers and body, execution_duration; metad builds it)
-- into hook_logs, where the logs older than 7 days go. Delivered: it goes, and its hook's
-- failures are forgotten. Failed (p_error): it waits 2^(attempts-1) seconds (at most an hour)
-- and its hook counts a failure; as GitLab's, a hook failing more than 3 times in a row is
-- disabled for a minute, twice as long each time (at most a day), and for good (its queue
-- dropped) at 40 failures in a row.
CREATE OR REPLACE FUNCTION hook_delivered(p_delivery bigint, p_error text, p_log jsonb)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    d hook_deliveries%ROWTYPE;
    h hooks%ROWTYPE;
BEGIN
    SELECT * INTO d FROM hook_deliveries WHERE id = p_delivery FOR UPDATE;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    DELETE FROM hook_logs WHERE created_at < now() - interval '7 days';
    IF p_log IS NOT NULL THEN
        INSERT INTO hook_logs (hook_id, trigger, url, request_headers, request_data,
                               response_headers, response_body, response_status,
                               execution_duration, internal_error_message)
        VALUES (d.hook_id, d.trigger, coalesce(p_log->>'url', ''),
                coalesce(p_log->'request_headers', '{}'), coalesce(p_log->'request_data', d.payload),
                coalesce(p_log->'response_headers', '{}'), coalesce(p_log->>'response_body', ''),
                coalesce(p_log->>'response_status', 'internal error'),
                coalesce((p_log->>'execution_duration')::double precision, 0),
                CASE WHEN p_log->>'response_status' IS NULL THEN p_error END);
    END IF;
    IF p_error IS NULL THEN
        DELETE FROM hook_deliveries WHERE id = p_delivery;
        UPDATE hooks SET recent_failures = 0, backoff_count = 0, disabled_until = NULL
         WHERE id = d.hook_id AND (recent_failures > 0 OR disabled_until IS NOT NULL);
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM hooks x WHERE x.id = d.hook_id AND x.notify_name IS NOT NULL) THEN
        PERFORM notify_failed(p_delivery, d.hook_id, p_error);  -- Distribution's back-off
        RETURN;
    END IF;
    UPDATE hook_deliveries
       SET leased_until = NULL, last_error = left(p_error, 1000),
           next_attempt_at = now() + make_interval(secs => least(power(2, greatest(attempts - 1, 0)), 3600))
     WHERE id = p_delivery;
    UPDATE hooks SET recent_failures = recent_failures + 1 WHERE id = d.hook_id RETURNING * INTO h;
    IF h.recent_failures >= 40 THEN
        UPDATE hooks SET permanently_disabled = true, disabled_until = NULL WHERE id = h.id;
        DELETE FROM hook_deliveries WHERE hook_id = h.id;
    ELSIF h.recent_failures > 3 THEN
        UPDATE hooks SET disabled_until = now() + least(interval '1 minute' * power(2, backoff_count),
                                                        interval '1 day'),
                         backoff_count = backoff_count + 1
         WHERE id = h.id;
    END IF;
END
$$;

-- ---- tests and the deliveries' log ---------------------------------------------------------

-- POST .../hooks/:hook_id/test/:trigger (p_trigger one of GitLab's, checked by metad): queues
-- a test event for the hook alone, whatever events it takes. container_registry_events: a
-- push of the latest tag of the hook's project (of the group's projects and its subgroups'),
-- or of a sample when there is none, by the caller. Other triggers: hook_trigger_unsupported
-- with the trigger as the detail (the registry has no such events).
CREATE OR REPLACE FUNCTION hook_test(p_user bigint, p_admin boolean, p_kind text, p_id bigint,
                                     p_ref text, p_hook bigint, p_trigger text,
                                     OUT status status_word, OUT detail text)
LANGUAGE plpgsql AS $$
DECLARE
    o record;
    t record;
    v_project projects%ROWTYPE;
    v_payload jsonb;
BEGIN
    o := hook_owned(p_user, p_admin, p_kind, p_id, p_ref, p_hook);
    status := o.status;
    IF status <> 'ok' THEN
        RETURN;
    END IF;
    IF p_trigger <> 'container_registry_events' THEN
        status := 'hook_trigger_unsupported';
        detail := p_trigger;
        RETURN;
    END IF;
    PERFORM hooks_actor(p_user);
    SELECT tg.repository_id, tg.name, tg.manifest_id INTO t
      FROM tags tg JOIN repositories r ON r.id = tg.repository_id
      JOIN projects p ON p.id = r.project_id
     WHERE r.status IS NULL
       AND (p.id = (o.hook).project_id
            OR (SELECT (o.hook).group_id = ANY (n.traversal_ids::bigint[])
                  FROM namespaces n WHERE n.id = p.namespace_id))
     ORDER BY tg.updated_at DESC, tg.id DESC LIMIT 1;
    IF FOUND THEN
        v_payload := hook_payload(t.repository_id, 'push', t.name, t.manifest_id);
    ELSE
        SELECT p.* INTO v_project FROM projects p
         WHERE p.id = (o.hook).project_id
            OR (SELECT (o.hook).group_id = ANY (n.traversal_ids::bigint[])
                  FROM namespaces n WHERE n.id = p.namespace_id)
         ORDER BY p.id LIMIT 1;
        v_payload := jsonb_build_object(
            'object_kind', 'container_registry', 'action', 'push',
            'repository', jsonb_build_object('path', coalesce(v_project.full_path, 'sample'),
                                             'name', ''),
            'tag', 'latest',
            'digest', 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
            'media_type', 'application/vnd.oci.image.manifest.v1+json', 'size', 0,
            'user', (SELECT json_build_object('id', u.id, 'username', u.username, 'name', u.name)
                       FROM users u WHERE u.id = p_user AND p_user > 0),
            'project', CASE WHEN v_project.id IS NOT NULL THEN
                            jsonb_build_object('id', v_project.id,
                                               'path_with_namespace', v_project.full_path) END,
            'timestamp', gl_time(clock_timestamp()));
    END IF;
    INSERT INTO hook_deliveries (hook_id, repository_path, payload, trigger)
    VALUES ((o.hook).id, v_payload->'repository'->>'path', v_payload, 'container_registry_hooks');
END
$$;

-- A log as GitLab's API shows it (Entities::WebHookLog).
CREATE OR REPLACE FUNCTION hook_log_json(l hook_logs) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
               'id', l.id, 'url', l.url, 'trigger', l.trigger,
               'request_headers', l.request_headers, 'request_data', l.request_data,
               'response_headers', l.response_headers, 'response_body', l.response_body,
               'execution_duration', l.execution_duration, 'response_status', l.response_status)
$$;

-- GET .../hooks/:hook_id/events: a page of the hook's logs of the last 7 days, newest first,
-- one row per log (event NULL on an empty page) with the status (hook_owned) and the total.
-- p_codes: response statuses, p_classes: successful, client_failure, server_failure (either
-- matches; both NULL: all).
CREATE OR REPLACE FUNCTION hook_events_list(p_user bigint, p_admin boolean, p_kind text,
                                            p_id bigint, p_ref text, p_hook bigint,
                                            p_codes text[], p_classes text[], p_limit bigint,
                                            p_offset bigint)
RETURNS TABLE (status status_word, total bigint, id bigint, event json)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
DECLARE
    o record;
BEGIN
    o := hook_owned(p_user, p_admin, p_kind, p_id, p_ref, p_hook);
    IF o.status <> 'ok' THEN
        RETURN QUERY SELECT o.status, 0::bigint, NULL::bigint, NULL::json;
        RETURN;
    END IF;
    RETURN QUERY
    WITH page AS (
        SELECT l, l.id AS log_id, count(*) OVER () AS n FROM hook_logs l
         WHERE l.hook_id = (o.hook).id AND l.created_at >= now() - interval '7 days'
           AND ((p_codes IS NULL AND p_classes IS NULL)
                OR l.response_status = ANY (p_codes)
                OR (l.response_status ~ '^[0-9]{3}$' AND (
                        ('successful' = ANY (p_classes) AND l.response_status LIKE '2%')
                     OR ('client_failure' = ANY (p_classes) AND l.response_status LIKE '4%')
                     OR ('server_failure' = ANY (p_classes) AND l.response_status LIKE '5%'))))
         ORDER BY l.id DESC LIMIT p_limit OFFSET p_offset)
    SELECT 'ok'::status_word, coalesce(page.n, 0), page.log_id, hook_log_json(page.l)
      FROM (SELECT 1) one LEFT JOIN page ON true
     ORDER BY page.log_id DESC;
END
$$;

-- POST .../hooks/:hook_id/events/:hook_event_id/resend: queues the log's request again, to the
-- hook's url of now. hook_owned's refusals, hook_event_not_found (not a log of this hook of
-- the last 7 days), or ok.
CREATE OR REPLACE FUNCTION hook_event_resend(p_user bigint, p_admin boolean, p_kind text,
                                             p_id bigint, p_ref text, p_hook bigint,
                                             p_event bigint) RETURNS status_word
LANGUAGE plpgsql AS $$
DECLARE
    o record;
    l hook_logs%ROWTYPE;
BEGIN
    o := hook_owned(p_user, p_admin, p_kind, p_id, p_ref, p_hook);
    IF o.status <> 'ok' THEN
        RETURN o.status;
    END IF;
    SELECT * INTO l FROM hook_logs x
     WHERE x.id = p_event AND x.hook_id = (o.hook).id
       AND x.created_at >= now() - interval '7 days';
    IF NOT FOUND THEN
        RETURN 'hook_event_not_found';
    END IF;
    INSERT INTO hook_deliveries (hook_id, repository_path, payload, trigger)
    VALUES (l.hook_id, coalesce(l.request_data->'repository'->>'path', ''),
            l.request_data #- '{repository,location}', l.trigger);
    RETURN 'ok';
END
$$;

-- ---- application settings -------------------------------------------------------------------

-- GET /application/settings: the settings GitLab shows that the registry has.
CREATE OR REPLACE FUNCTION application_settings_json() RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
               'id', 1,
               'allow_local_requests_from_web_hooks_and_services',
               s.allow_local_requests_from_web_hooks_and_services)
      FROM application_settings s
$$;

-- PUT /application/settings with the attributes present in p_attrs; the settings after.
CREATE OR REPLACE FUNCTION application_settings_save(p_attrs jsonb) RETURNS json
LANGUAGE sql AS $$
    UPDATE application_settings SET allow_local_requests_from_web_hooks_and_services =
        coalesce((p_attrs->>'allow_local_requests_from_web_hooks_and_services')::boolean,
                 allow_local_requests_from_web_hooks_and_services);
    SELECT application_settings_json();
$$;
