-- The functions every /v2 request and token request calls, in PL/pgSQL. As SQL-language
-- functions that PostgreSQL cannot inline (they read tables), their bodies were parsed and
-- planned again on every call: half of all CPU under a manifest GET load. PL/pgSQL keeps each
-- statement's plan for the life of the connection. Same results as before.

CREATE OR REPLACE FUNCTION registry_resolve(p_path text, OUT project_id bigint, OUT name text)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_parts text[] := string_to_array(p_path, '/');
    v_candidates text[] := '{}';
    v_full text;
BEGIN
    FOR i IN 1 .. coalesce(array_length(v_parts, 1), 0) LOOP
        v_candidates := v_candidates || array_to_string(v_parts[1:i], '/');
    END LOOP;
    SELECT p.id, p.full_path INTO project_id, v_full
      FROM projects p
     WHERE lower(p.full_path) = ANY (v_candidates)
     ORDER BY length(p.full_path) DESC
     LIMIT 1;
    IF project_id IS NOT NULL THEN
        name := CASE WHEN length(v_full) >= length(p_path) THEN ''
                     ELSE substr(p_path, length(v_full) + 2) END;
    END IF;
END
$$;

CREATE OR REPLACE FUNCTION registry_repository_id(p_path text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_project bigint;
    v_name text;
    v_id bigint;
BEGIN
    SELECT x.project_id, x.name INTO v_project, v_name FROM registry_resolve(p_path) x;
    IF v_project IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT r.id INTO v_id FROM repositories r WHERE r.project_id = v_project AND r.name = v_name;
    RETURN v_id;
END
$$;

CREATE OR REPLACE FUNCTION registry_user_can_pull(p_user bigint, p_admin boolean, p_project bigint)
RETURNS boolean LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_level text;
    v_visibility text;
BEGIN
    SELECT p.container_registry_access_level, p.visibility INTO v_level, v_visibility
      FROM projects p WHERE p.id = p_project;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF v_level = 'disabled' THEN
        RETURN false;
    END IF;
    IF p_admin THEN
        RETURN true;
    END IF;
    IF v_level = 'enabled' AND (v_visibility = 'public' OR (v_visibility = 'internal' AND p_user > 0)) THEN
        RETURN true;
    END IF;
    RETURN p_user > 0 AND project_access_level(p_user, p_project) >= 20;
END
$$;

CREATE OR REPLACE FUNCTION deploy_token_covers(p_token bigint, p_project bigint) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (
        SELECT 1 FROM deploy_tokens t, projects p
          JOIN namespaces n ON n.id = p.namespace_id
         WHERE t.id = p_token AND p.id = p_project
           AND (t.project_id = p.id OR t.namespace_id = ANY (n.traversal_ids)));
END
$$;

CREATE OR REPLACE FUNCTION registry_can_pull(p_user bigint, p_admin boolean, p_deploy_token bigint,
                                             p_project bigint) RETURNS boolean
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_deploy_token > 0 THEN
        RETURN EXISTS (
            SELECT 1 FROM deploy_tokens t, projects p
             WHERE t.id = p_deploy_token AND p.id = p_project
               AND NOT t.revoked AND (t.expires_at IS NULL OR t.expires_at > now())
               AND 'read_registry' = ANY (t.scopes)
               AND p.container_registry_access_level <> 'disabled'
               AND deploy_token_covers(p_deploy_token, p_project))
            OR coalesce(registry_user_can_pull(0, false, p_project), false);
    END IF;
    RETURN coalesce(registry_user_can_pull(p_user, p_admin, p_project), false);
END
$$;

CREATE OR REPLACE FUNCTION project_visible(p_user bigint, p_admin boolean, p_project bigint)
RETURNS boolean LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_visibility text;
BEGIN
    SELECT p.visibility INTO v_visibility FROM projects p WHERE p.id = p_project;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    RETURN p_admin OR v_visibility = 'public' OR (v_visibility = 'internal' AND p_user > 0)
        OR (p_user > 0 AND project_access_level(p_user, p_project) >= 10);
END
$$;
