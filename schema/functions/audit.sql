-- Audit events (GitLab's audit events API): recording one, refusing changes to the record, and
-- the lists the API reads. The table is schema/migrations/044_audit_events.sql.

-- Records an audit event in the caller's transaction: p_author did something (p_details: GitLab's
-- custom_message, or add/change/from/to/remove ...) to the Project, Group or User p_entity_id,
-- about the target named. The author's name and email and the entity's path are copied from
-- their rows now (p_details' author_name wins: a failed sign-in's typed name); the client's
-- address is the transaction's or session's setting registry.client_ip, which the backends set
-- from the gateway's X-Registry-Client-Ip (common/pg.h, pg_exec_from). A target_details left NULL
-- for a User target is the user's name. Without an author, a deploy token of the transaction's
-- request (registry_request) is the author, as GitLab's DeployTokenAuthor: id -2, the token's
-- name.
CREATE OR REPLACE FUNCTION audit_record(p_author bigint, p_entity_type text, p_entity_id bigint,
                                        p_target_type text, p_target_id text,
                                        p_target_details text, p_details jsonb)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_name text;
    v_email text;
    v_path text;
    v_target text := p_target_details;
    v_author bigint := p_author;
    v_token record;
BEGIN
    SELECT u.name, u.email INTO v_name, v_email FROM users u WHERE u.id = p_author;
    IF coalesce(p_author, 0) <= 0 THEN
        SELECT x.id, x.name INTO v_token FROM registry_request_deploy_token() x;
        IF v_token.id IS NOT NULL THEN
            v_author := -2;
            v_name := v_token.name;
        END IF;
    END IF;
    v_name := coalesce(p_details ->> 'author_name', v_name, 'An unauthenticated user');
    -- (one statement per kind: a CASE over the three was planned again on every call)
    IF p_entity_type = 'Project' THEN
        SELECT p.full_path INTO v_path FROM projects p WHERE p.id = p_entity_id;
    ELSIF p_entity_type = 'Group' THEN
        SELECT n.full_path INTO v_path FROM namespaces n WHERE n.id = p_entity_id;
    ELSIF p_entity_type = 'User' THEN
        SELECT u.username INTO v_path FROM users u WHERE u.id = p_entity_id;
    END IF;
    IF v_target IS NULL AND p_target_type = 'User' THEN
        v_target := (SELECT name FROM users WHERE id::text = p_target_id);
    END IF;
    INSERT INTO audit_events (author_id, author_name, author_email, entity_type, entity_id,
                              entity_path, target_id, target_type, target_details, ip_address,
                              details)
    VALUES (coalesce(v_author, -1), v_name, v_email, p_entity_type, p_entity_id,
            coalesce(v_path, ''), p_target_id, p_target_type, v_target,
            nullif(current_setting('registry.client_ip', true), ''),
            coalesce(p_details, '{}') - 'author_name');
END
$$;

-- audit_events is append-only, for every role: what happened stays recorded.
CREATE OR REPLACE FUNCTION audit_events_refuse() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit events are append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE OR REPLACE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION audit_events_refuse();

-- An event as GitLab's API shows it.
CREATE OR REPLACE FUNCTION audit_event_json(e audit_events) RETURNS json
LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', e.id, 'author_id', e.author_id, 'entity_id', e.entity_id,
        'entity_type', e.entity_type,
        'details', e.details || jsonb_build_object(
            'author_name', e.author_name, 'author_email', e.author_email,
            'target_id', CASE WHEN e.target_id ~ '^[0-9]{1,18}$' THEN to_jsonb(e.target_id::bigint)
                              ELSE to_jsonb(e.target_id) END,
            'target_type', e.target_type, 'target_details', e.target_details,
            'ip_address', e.ip_address, 'entity_path', e.entity_path),
        'created_at', gl_time(e.created_at))
$$;

-- Who may read the audit events of a project or group (p_kind 'project' / 'group', named by id or
-- path): status not_found (hidden or missing), forbidden (a project's Reporter and below, a
-- group's Reporter and below), or ok with the source and whether the caller sees only the
-- events it authored (GitLab: a project's Developer; a group's Developer and Maintainer).
CREATE OR REPLACE FUNCTION audit_access(p_user bigint, p_admin boolean, p_kind text, p_id bigint,
                                        p_ref text, OUT status status_word, OUT source_id bigint,
                                        OUT own_only boolean)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    s record;
BEGIN
    SELECT * INTO s FROM member_source(p_user, p_admin, p_kind, p_id, p_ref);
    IF s.source_id IS NULL OR NOT s.visible THEN
        status := 'not_found';
        RETURN;
    END IF;
    source_id := s.source_id;
    own_only := NOT p_admin AND s.caller_level < CASE WHEN p_kind = 'project' THEN 40 ELSE 50 END;
    IF NOT p_admin AND s.caller_level < 30 THEN
        status := 'forbidden';
        RETURN;
    END IF;
    status := 'ok';
END
$$;

-- A page of audit events, newest first: the instance's (p_kind NULL; the caller is an admin,
-- which metad checked), or a project's or group's (audit_access). Filters: created on or after
-- p_after, on or before p_before, of entity p_entity_type (and p_entity_id), one event p_event.
-- One row per event (event NULL on an empty page), each with the status and the total.
CREATE OR REPLACE FUNCTION audit_event_list(p_user bigint, p_admin boolean, p_kind text,
                                            p_id bigint, p_ref text, p_event bigint,
                                            p_after timestamptz, p_before timestamptz,
                                            p_entity_type text, p_entity_id bigint,
                                            p_limit bigint, p_offset bigint)
RETURNS TABLE (status status_word, total bigint, id bigint, event json)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
DECLARE
    a record;
    v_type text := p_entity_type;
    v_id bigint := p_entity_id;
BEGIN
    IF p_kind IS NULL THEN
        SELECT 'ok'::status_word AS status, NULL::bigint AS source_id, false AS own_only INTO a;
    ELSE
        SELECT * INTO a FROM audit_access(p_user, p_admin, p_kind, p_id, p_ref);
        IF a.status <> 'ok' THEN
            RETURN QUERY SELECT a.status, 0::bigint, NULL::bigint, NULL::json;
            RETURN;
        END IF;
        v_type := CASE WHEN p_kind = 'project' THEN 'Project' ELSE 'Group' END;
        v_id := a.source_id;
    END IF;
    RETURN QUERY
    WITH ev AS (
        SELECT e, e.id AS event_id, count(*) OVER () AS n FROM audit_events e
         WHERE (v_type IS NULL OR e.entity_type = v_type)
           AND (v_id IS NULL OR e.entity_id = v_id)
           AND (NOT a.own_only OR e.author_id = p_user)
           AND (p_event IS NULL OR e.id = p_event)
           AND (p_after IS NULL OR e.created_at >= p_after)
           AND (p_before IS NULL OR e.created_at <= p_before)
         ORDER BY e.id DESC LIMIT p_limit OFFSET p_offset)
    SELECT 'ok'::status_word, coalesce(ev.n, 0), ev.event_id, audit_event_json(ev.e)
      FROM (SELECT 1) one LEFT JOIN ev ON true
     ORDER BY ev.event_id DESC;
END
$$;
