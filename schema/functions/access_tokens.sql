-- Project and group access tokens (GitLab's resource access tokens, authd/restokens.c). A token
-- is a personal access token of a bot user made for it (users.user_type 'project_bot', with
-- bot_project_id or bot_group_id), a member of its project or group at the token's access level
-- until the token expires: the rules of rights.sql apply to the bot as to anyone, and authd
-- checks the token as any personal access token. Revoking a token blocks its bot.

-- The lifetime limits of a token, in days (GitLab's MAX_PERSONAL_ACCESS_TOKEN_LIFETIME_IN_DAYS,
-- and the expiry a rotation gives when none is asked for).
CREATE OR REPLACE FUNCTION access_token_max_days() RETURNS integer
LANGUAGE sql IMMUTABLE AS $$ SELECT 365 $$;

-- The project (p_group false) or group named by p_id or p_path as the caller sees it: its id,
-- the caller's role on it (50 for admins), and whether that role manages its access tokens
-- (Maintainer of a project, Owner of a group). Statuses: not_found, ok.
CREATE OR REPLACE FUNCTION access_token_resource(p_user bigint, p_admin boolean,
                                                 p_group boolean, p_id bigint, p_path text,
                                                 OUT status status_word,
                                                 OUT resource_id bigint, OUT level integer,
                                                 OUT manages boolean)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_group THEN
        resource_id := group_ref(p_id, p_path);
        IF resource_id IS NULL OR NOT coalesce(group_visible(p_user, p_admin, resource_id), false)
        THEN
            status := 'not_found';
            RETURN;
        END IF;
        level := CASE WHEN p_admin THEN 50 ELSE group_access_level(p_user, resource_id) END;
    ELSE
        resource_id := project_ref(p_id, p_path);
        IF resource_id IS NULL
           OR NOT coalesce(project_visible(p_user, p_admin, resource_id), false) THEN
            status := 'not_found';
            RETURN;
        END IF;
        level := CASE WHEN p_admin THEN 50 ELSE project_access_level(p_user, resource_id) END;
    END IF;
    manages := level >= CASE WHEN p_group THEN 50 ELSE 40 END;
    status := 'ok';
END
$$;

-- The expiry a token may have: not today or before, at most access_token_max_days() ahead.
-- Statuses: token_expires_past, token_expires_far (detail: the last day allowed), ok.
CREATE OR REPLACE FUNCTION access_token_expiry_check(p_expires date, OUT status status_word,
                                                     OUT detail text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_expires <= current_date THEN
        status := 'token_expires_past';
    ELSIF p_expires > current_date + access_token_max_days() THEN
        status := 'token_expires_far';
        detail := (current_date + access_token_max_days())::text;
    ELSE
        status := 'ok';
    END IF;
END
$$;

-- The bot of token p_token if it belongs to the resource, with its role there.
CREATE OR REPLACE FUNCTION access_token_bot(p_group boolean, p_resource bigint, p_token bigint,
                                            OUT bot_id bigint, OUT bot_name text,
                                            OUT revoked boolean, OUT level integer)
LANGUAGE sql STABLE AS $$
    SELECT u.id, u.name, t.revoked,
           coalesce((SELECT pm.access_level FROM project_members pm
                      WHERE pm.user_id = u.id AND pm.project_id = u.bot_project_id),
                    (SELECT gm.access_level FROM group_members gm
                      WHERE gm.user_id = u.id AND gm.namespace_id = u.bot_group_id))
      FROM personal_access_tokens t JOIN users u ON u.id = t.user_id
     WHERE t.id = p_token AND NOT t.impersonation
       AND CASE WHEN p_group THEN u.bot_group_id ELSE u.bot_project_id END = p_resource
$$;

-- Creates a token of the project or group named by p_id or p_path: its bot user
-- (<project|group>_<id>_bot_<p_suffix>, noreply.<p_host> email), the bot's membership at
-- p_level until p_expires, and the token (lookup prefix and hash made by authd).
-- Statuses: not_found, token_create_denied (detail: project or group), token_owner_level,
-- token_level_above, token_expires_past, token_expires_far (detail), ok.
CREATE OR REPLACE FUNCTION access_token_create(p_user bigint, p_admin boolean, p_group boolean,
                                               p_id bigint, p_path text, p_name text,
                                               p_scopes text[],
                                               p_level integer, p_expires date, p_lookup text,
                                               p_hash text, p_suffix text, p_host text,
                                               OUT status status_word, OUT detail text,
                                               OUT token_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_res record;
    v_kind text := CASE WHEN p_group THEN 'group' ELSE 'project' END;
    v_username text;
    v_bot bigint;
    v_ns bigint;
BEGIN
    SELECT * INTO v_res FROM access_token_resource(p_user, p_admin, p_group, p_id, p_path);
    IF v_res.status <> 'ok' THEN
        status := v_res.status;
        RETURN;
    END IF;
    IF NOT v_res.manages THEN
        status := 'token_create_denied';
        detail := v_kind;
        RETURN;
    END IF;
    -- GitLab's order: Owner of a project only by Owners, then no role above the creator's own
    IF NOT p_group AND p_level = 50 AND v_res.level < 50 THEN
        status := 'token_owner_level';
        RETURN;
    END IF;
    IF p_level > v_res.level THEN
        status := 'token_level_above';
        RETURN;
    END IF;
    SELECT c.status, c.detail INTO status, detail FROM access_token_expiry_check(p_expires) c;
    IF status <> 'ok' THEN
        RETURN;
    END IF;
    v_username := v_kind || '_' || v_res.resource_id || '_bot_' || p_suffix;
    PERFORM tenancy_path_lock();
    INSERT INTO users (username, name, email, user_type, bot_project_id, bot_group_id,
                       can_create_group, projects_limit)
    VALUES (v_username, p_name, v_username || '@noreply.' || p_host, 'project_bot',
            CASE WHEN NOT p_group THEN v_res.resource_id END,
            CASE WHEN p_group THEN v_res.resource_id END,
            false, 0)
    RETURNING id INTO v_bot;
    v_ns := nextval(pg_get_serial_sequence('namespaces', 'id'));
    INSERT INTO namespaces (id, kind, name, path, full_path, full_name, traversal_ids, owner_id)
    VALUES (v_ns, 'user', p_name, v_username, v_username, p_name, ARRAY[v_ns], v_bot);
    IF p_group THEN
        INSERT INTO group_members (namespace_id, user_id, access_level, expires_at, created_by)
        VALUES (v_res.resource_id, v_bot, p_level, p_expires, nullif(p_user, 0));
    ELSE
        INSERT INTO project_members (project_id, user_id, access_level, expires_at, created_by)
        VALUES (v_res.resource_id, v_bot, p_level, p_expires, nullif(p_user, 0));
    END IF;
    INSERT INTO personal_access_tokens (user_id, name, scopes, token_lookup, token_hash,
                                        expires_at)
    VALUES (v_bot, p_name, p_scopes, p_lookup, p_hash, p_expires)
    RETURNING id INTO token_id;
    PERFORM audit_record(p_user, initcap(v_kind), v_res.resource_id, 'PersonalAccessToken',
                         token_id::text, p_name, jsonb_build_object('custom_message', format(
                             'Created %s access token with token_id: %s with scopes: %s and %s access level.',
                             v_kind, token_id, p_scopes, access_level_name(p_level))));
    status := 'ok';
END
$$;

-- Revokes token p_token of the resource and blocks its bot (its membership stays, as the
-- token's record of its role, and grants nothing to a bot nobody can sign in as). A token
-- revoked already (by a rotation) is left alone, so that the bot's newer token lives on.
-- Statuses: not_found, token_not_found, token_revoke_denied
-- (detail: GitLab's "<caller> cannot delete <bot>"), ok.
CREATE OR REPLACE FUNCTION access_token_revoke(p_user bigint, p_admin boolean, p_group boolean,
                                               p_id bigint, p_path text, p_token bigint,
                                               OUT status status_word, OUT detail text)
LANGUAGE plpgsql AS $$
DECLARE
    v_res record;
    v_bot record;
BEGIN
    SELECT * INTO v_res FROM access_token_resource(p_user, p_admin, p_group, p_id, p_path);
    IF v_res.status <> 'ok' THEN
        status := v_res.status;
        RETURN;
    END IF;
    PERFORM 1 FROM personal_access_tokens WHERE id = p_token FOR UPDATE;
    SELECT * INTO v_bot FROM access_token_bot(p_group, v_res.resource_id, p_token);
    IF v_bot.bot_id IS NULL THEN
        status := 'token_not_found';
        RETURN;
    END IF;
    IF NOT v_res.manages THEN
        status := 'token_revoke_denied';
        detail := coalesce((SELECT name FROM users WHERE id = p_user), '') || ' cannot delete '
                  || v_bot.bot_name;
        RETURN;
    END IF;
    IF NOT v_bot.revoked THEN
        UPDATE personal_access_tokens SET revoked = true WHERE user_id = v_bot.bot_id;
        UPDATE users SET state = 'blocked', updated_at = now() WHERE id = v_bot.bot_id;
        PERFORM audit_record(p_user, CASE WHEN p_group THEN 'Group' ELSE 'Project' END,
                             v_res.resource_id, 'PersonalAccessToken', p_token::text, v_bot.bot_name,
                             jsonb_build_object('custom_message', format(
                                 'Revoked %s access token with token_id: %s',
                                 CASE WHEN p_group THEN 'group' ELSE 'project' END, p_token)));
    END IF;
    status := 'ok';
END
$$;

-- Rotates token p_token of the resource, or with p_self_lookup the caller's own (a bot rotating
-- the token it signed in with, found by its lookup prefix): revokes it and makes the bot a new
-- one with the same name and scopes, expiring on p_expires (NULL: a week from today), as its
-- membership then does. Statuses: not_found, not_allowed (self: the caller is not a bot),
-- unauthorized (a caller who may not manage the tokens, or a token not there: GitLab tells only
-- admins, who get token_not_found), token_revoked, token_rotate_level, token_expires_past,
-- token_expires_far (detail), ok.
CREATE OR REPLACE FUNCTION access_token_rotate(p_user bigint, p_admin boolean, p_group boolean,
                                               p_id bigint, p_path text, p_token bigint,
                                               p_self_lookup text, p_expires date,
                                               p_lookup text, p_hash text,
                                               OUT status status_word, OUT detail text,
                                               OUT token_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_res record;
    v_bot record;
    v_token bigint := p_token;
    v_expires date := coalesce(p_expires, current_date + 7);
BEGIN
    IF p_self_lookup IS NOT NULL AND NOT EXISTS (SELECT 1 FROM users u WHERE u.id = p_user
                                                    AND u.user_type = 'project_bot') THEN
        status := 'not_allowed';
        RETURN;
    END IF;
    SELECT * INTO v_res FROM access_token_resource(p_user, p_admin, p_group, p_id, p_path);
    IF v_res.status <> 'ok' THEN
        status := v_res.status;
        RETURN;
    END IF;
    IF p_self_lookup IS NOT NULL THEN
        v_token := (SELECT t.id FROM personal_access_tokens t
                     WHERE t.token_lookup = p_self_lookup AND t.user_id = p_user);
    ELSIF NOT v_res.manages THEN
        status := 'unauthorized';
        RETURN;
    END IF;
    PERFORM 1 FROM personal_access_tokens WHERE id = v_token FOR UPDATE;
    SELECT * INTO v_bot FROM access_token_bot(p_group, v_res.resource_id, v_token);
    IF v_bot.bot_id IS NULL THEN
        status := CASE WHEN p_admin AND p_self_lookup IS NULL THEN 'token_not_found'
                       ELSE 'unauthorized' END;
        RETURN;
    END IF;
    IF v_bot.revoked THEN
        status := 'token_revoked';
        RETURN;
    END IF;
    -- GitLab: a Maintainer does not renew an Owner's token; a bot renews its own
    IF p_self_lookup IS NULL AND coalesce(v_bot.level, 0) > v_res.level THEN
        status := 'token_rotate_level';
        RETURN;
    END IF;
    SELECT c.status, c.detail INTO status, detail FROM access_token_expiry_check(v_expires) c;
    IF status <> 'ok' THEN
        RETURN;
    END IF;
    UPDATE personal_access_tokens SET revoked = true WHERE id = v_token;
    INSERT INTO personal_access_tokens (user_id, name, scopes, token_lookup, token_hash,
                                        expires_at)
    SELECT t.user_id, t.name, t.scopes, p_lookup, p_hash, v_expires
      FROM personal_access_tokens t WHERE t.id = v_token
    RETURNING id INTO token_id;
    UPDATE project_members SET expires_at = v_expires WHERE user_id = v_bot.bot_id;
    UPDATE group_members SET expires_at = v_expires WHERE user_id = v_bot.bot_id;
    PERFORM audit_record(p_user, CASE WHEN p_group THEN 'Group' ELSE 'Project' END,
                         v_res.resource_id, 'PersonalAccessToken', token_id::text, v_bot.bot_name,
                         jsonb_build_object('custom_message', format(
                             'Rotated %s access token with token_id: %s (was %s)',
                             CASE WHEN p_group THEN 'group' ELSE 'project' END, token_id, v_token)));
    status := 'ok';
END
$$;
