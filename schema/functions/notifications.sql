-- Instance-level notifications in CNCF Distribution's format (the endpoints are hooks rows with a
-- notify_name, migrations/046_notifications.sql): the endpoints kept in step with metad's
-- configuration, the request context the registry's writes report, the events queued by
-- triggers in the transaction of the change (one event per envelope, in hook_deliveries, which
-- the webhooks' workers deliver in order per repository, metad/hooks_deliver.c), and the
-- back-off of an endpoint whose deliveries fail.

-- What the registry writes of this transaction were asked by (transaction-local): p_request
-- holds the HTTP request's id, addr, host, method and useragent, base_url (the registry's
-- public URL), actor (the caller's name) and deploy_token_id (a deploy token's pushes and
-- deletions). NULL: none (a job, a cleanup policy). PL/pgSQL, as hooks_actor.
CREATE OR REPLACE FUNCTION registry_request(p_request jsonb) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('registry.request', coalesce(p_request::text, ''), true);
END
$$;

-- The transaction's request context (registry_request), NULL when none.
CREATE OR REPLACE FUNCTION registry_request_context() RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT nullif(current_setting('registry.request', true), '')::jsonb
$$;

-- The deploy token the transaction's writes act for (registry_request), NULLs when none. (Its
-- columns named: metad's role reads none of a token's secrets, schema/grants.sql.)
CREATE OR REPLACE FUNCTION registry_request_deploy_token(OUT id bigint, OUT name text,
                                                         OUT username text)
LANGUAGE sql STABLE AS $$
    SELECT d.id, d.name, d.username FROM deploy_tokens d
     WHERE d.id = (registry_request_context() ->> 'deploy_token_id')::bigint
$$;

-- The user of a webhook payload for the actor p_user, or the deploy token of the transaction's
-- request when p_user is none: {id, username, name} of the user; {id: null, username, name,
-- deploy_token_id} of the token; NULL when neither (a cleanup policy).
CREATE OR REPLACE FUNCTION registry_actor_json(p_user bigint) RETURNS json
LANGUAGE plpgsql STABLE AS $$
DECLARE
    d record;
    v json;
BEGIN
    IF coalesce(p_user, 0) > 0 THEN
        SELECT json_build_object('id', u.id, 'username', u.username, 'name', u.name) INTO v
          FROM users u WHERE u.id = p_user;
        RETURN v;
    END IF;
    SELECT x.id, x.name, x.username INTO d FROM registry_request_deploy_token() x;
    IF d.id IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN json_build_object('id', NULL, 'username', d.username, 'name', d.name,
                             'deploy_token_id', d.id);
END
$$;

-- ---- endpoints ------------------------------------------------------------------------------

-- Makes the notification endpoints those of p_endpoints (metad's configuration at start, a JSON
-- array of {name, url, headers: [{key, value}], timeout, threshold, backoff, ignored_actions,
-- ignored_media_types}), with the envelopes' source {addr: p_addr, instanceID: a new UUID, the
-- instance's for this start}. An endpoint
-- kept keeps its queue (its url changed: its failures are forgotten); one no longer configured
-- goes with its queue.
CREATE OR REPLACE FUNCTION notify_endpoints_sync(p_endpoints jsonb, p_addr text)
RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_source jsonb := jsonb_build_object('addr', p_addr, 'instanceID', gen_random_uuid());
    e jsonb;
    n integer := 0;
BEGIN
    DELETE FROM hooks h
     WHERE h.notify_name IS NOT NULL
       AND NOT EXISTS (SELECT 1 FROM jsonb_array_elements(p_endpoints) x
                        WHERE x ->> 'name' = h.notify_name);
    FOR e IN SELECT * FROM jsonb_array_elements(p_endpoints) LOOP
        INSERT INTO hooks AS h (notify_name, url, custom_headers, push_events,
                                container_registry_events, notify_timeout, notify_threshold,
                                notify_backoff, notify_ignored_actions,
                                notify_ignored_media_types, notify_source)
        VALUES (e ->> 'name', e ->> 'url', coalesce(e -> 'headers', '[]'), false, false,
                (e ->> 'timeout')::integer, (e ->> 'threshold')::integer,
                (e ->> 'backoff')::integer,
                ARRAY(SELECT jsonb_array_elements_text(coalesce(e -> 'ignored_actions', '[]'))),
                ARRAY(SELECT jsonb_array_elements_text(coalesce(e -> 'ignored_media_types', '[]'))),
                v_source)
        ON CONFLICT (notify_name) DO UPDATE SET
            url = EXCLUDED.url, custom_headers = EXCLUDED.custom_headers,
            notify_timeout = EXCLUDED.notify_timeout, notify_threshold = EXCLUDED.notify_threshold,
            notify_backoff = EXCLUDED.notify_backoff,
            notify_ignored_actions = EXCLUDED.notify_ignored_actions,
            notify_ignored_media_types = EXCLUDED.notify_ignored_media_types,
            notify_source = EXCLUDED.notify_source,
            recent_failures = CASE WHEN h.url = EXCLUDED.url THEN h.recent_failures ELSE 0 END,
            disabled_until = CASE WHEN h.url = EXCLUDED.url THEN h.disabled_until END;
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;

-- ---- events ---------------------------------------------------------------------------------

-- Queues one of Distribution's events about repository p_repo for every endpoint that does not
-- ignore its action or media type: p_action push or delete; the manifest p_manifest and the tag
-- p_tag when concerned (a repository's deletion names neither). As Distribution's, a push's
-- target describes the manifest (media type, size, digest, url), a deletion's names it (digest)
-- or the tag, and only pushes are filtered by media type.
-- The request and actor come from the transaction's request context (registry_request), the
-- source from the endpoint's row.
CREATE OR REPLACE FUNCTION notify_enqueue(p_repo bigint, p_action text, p_tag text,
                                          p_manifest bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_path text;
    v_req jsonb := registry_request_context();
    v_target jsonb;
    v_event jsonb;
    v_actor jsonb;
    m record;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM hooks h WHERE h.notify_name IS NOT NULL) THEN
        RETURN;
    END IF;
    SELECT p.full_path || CASE WHEN r.name = '' THEN '' ELSE '/' || r.name END INTO v_path
      FROM repositories r JOIN projects p ON p.id = r.project_id WHERE r.id = p_repo;
    IF v_path IS NULL THEN
        RETURN;
    END IF;
    SELECT mm.digest, mm.media_type, octet_length(mm.payload) AS size INTO m
      FROM manifests mm WHERE mm.id = p_manifest;
    IF p_action = 'delete' THEN
        v_target := jsonb_strip_nulls(jsonb_build_object('digest', m.digest, 'repository', v_path,
                                                         'tag', p_tag));
    ELSE
        v_target := jsonb_strip_nulls(jsonb_build_object(
            'mediaType', m.media_type, 'size', m.size, 'digest', m.digest, 'length', m.size,
            'repository', v_path,
            'url', CASE WHEN v_req ->> 'base_url' <> ''
                        THEN format('%s/v2/%s/manifests/%s', v_req ->> 'base_url', v_path, m.digest)
                   END,
            'tag', p_tag));
    END IF;
    v_actor := CASE WHEN v_req ->> 'actor' <> '' THEN jsonb_build_object('name', v_req ->> 'actor')
                    ELSE coalesce((SELECT jsonb_build_object('name', x.username)
                                     FROM registry_request_deploy_token() x
                                    WHERE x.username IS NOT NULL), '{}') END;
    v_event := jsonb_build_object(
        'id', gen_random_uuid(),
        'timestamp', to_char(clock_timestamp() AT TIME ZONE 'UTC',
                             'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
        'action', p_action, 'target', v_target,
        'request', jsonb_build_object(
            'id', coalesce(v_req ->> 'id', ''), 'addr', coalesce(v_req ->> 'addr', ''),
            'host', coalesce(v_req ->> 'host', ''), 'method', coalesce(v_req ->> 'method', ''),
            'useragent', coalesce(v_req ->> 'useragent', '')),
        'actor', v_actor);
    INSERT INTO hook_deliveries (hook_id, repository_path, payload)
    SELECT h.id, v_path,
           jsonb_build_object('events', jsonb_build_array(
               v_event || jsonb_build_object('source', h.notify_source)))
      FROM hooks h
     WHERE h.notify_name IS NOT NULL AND NOT p_action = ANY (h.notify_ignored_actions)
       AND (p_action = 'delete' OR m.media_type IS NULL
            OR NOT m.media_type = ANY (h.notify_ignored_media_types))
     ORDER BY h.id;
END
$$;

-- ---- delivery -------------------------------------------------------------------------------

-- A delivery to endpoint p_hook failed (hook_delivered): as Distribution's endpoints, it is
-- tried again at once (the next tick) until the endpoint has failed notify_threshold times in a
-- row, then the endpoint waits notify_backoff seconds before each attempt. Never dropped.
CREATE OR REPLACE FUNCTION notify_failed(p_delivery bigint, p_hook bigint, p_error text)
RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    h hooks%ROWTYPE;
BEGIN
    UPDATE hooks SET recent_failures = recent_failures + 1 WHERE id = p_hook RETURNING * INTO h;
    UPDATE hook_deliveries SET leased_until = NULL, last_error = left(p_error, 1000),
                               next_attempt_at = now()
     WHERE id = p_delivery;
    IF h.recent_failures >= h.notify_threshold THEN
        UPDATE hooks SET disabled_until = now() + make_interval(secs => notify_backoff)
         WHERE id = p_hook;
    END IF;
END
$$;
