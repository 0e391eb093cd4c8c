-- Protection rules of a project's container registry (GitLab's protected and immutable container
-- tags, protected container repositories; tables in migrations/041_registry_protection.sql): the
-- one check every tag change asks (registry_tag_refusal: /v2 pushes and deletes, the API's tag
-- deletion, bulk deletion and cleanup policies), and the rules' writes.

-- The level a caller holds on a project for protection rules: admins 60 (GitLab's admin level),
-- users their role, anyone else (anonymous, deploy tokens) 0.
CREATE OR REPLACE FUNCTION registry_caller_level(p_user bigint, p_admin boolean, p_project bigint)
RETURNS integer
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_admin THEN
        RETURN 60;
    END IF;
    IF coalesce(p_user, 0) <= 0 THEN
        RETURN 0;
    END IF;
    RETURN project_access_level(p_user, p_project);
END
$$;

-- Why the tag rules of p_project refuse p_action ('push' or 'delete') on the tag p_tag to a
-- caller of level p_level (registry_caller_level; NULL: no caller, a cleanup policy, which every
-- rule stops), or NULL when none does. A pattern matches anywhere in the name (GitLab's
-- untrusted regexps are searched, not anchored). An immutable rule refuses every delete and a
-- push that moves an existing tag (p_moves); admins pass the other rules, whose levels they
-- always hold. The text names the rule (clients print it: "denied: <text>").
CREATE OR REPLACE FUNCTION registry_tag_refusal(p_project bigint, p_tag text, p_action text,
                                                p_level integer, p_moves boolean) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r registry_protection_tag_rules%ROWTYPE;
    v_need smallint;
BEGIN
    FOR r IN SELECT * FROM registry_protection_tag_rules x
              WHERE x.project_id = p_project ORDER BY x.id LOOP
        CONTINUE WHEN NOT p_tag ~ r.tag_name_pattern;
        IF r.minimum_access_level_for_push IS NULL THEN
            IF p_action = 'delete' OR p_moves THEN
                RETURN format('tag %s is immutable (protection rule %s, pattern %s)', p_tag, r.id,
                              r.tag_name_pattern);
            END IF;
            CONTINUE;
        END IF;
        v_need := CASE p_action WHEN 'push' THEN r.minimum_access_level_for_push
                                ELSE r.minimum_access_level_for_delete END;
        IF p_level IS NULL OR p_level < v_need THEN
            RETURN format('tag %s is protected (protection rule %s, pattern %s): %s needs the %s role',
                          p_tag, r.id, r.tag_name_pattern,
                          CASE p_action WHEN 'push' THEN 'pushing it' ELSE 'deleting it' END,
                          registry_protection_level_name(v_need));
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

-- Why deleting the manifest p_manifest is refused: the first tag pointing at it that
-- registry_tag_refusal keeps from being deleted by a caller of level p_level, or NULL.
CREATE OR REPLACE FUNCTION registry_manifest_refusal(p_project bigint, p_manifest bigint,
                                                     p_level integer) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT x.why FROM tags t,
           LATERAL (SELECT registry_tag_refusal(p_project, t.name, 'delete', p_level, false) AS why) x
     WHERE t.manifest_id = p_manifest AND x.why IS NOT NULL
     ORDER BY t.name LIMIT 1
$$;

-- A rule's level as GitLab's API names it (maintainer, owner, admin), and back.
CREATE OR REPLACE FUNCTION registry_protection_level_name(p_level integer) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_level WHEN 40 THEN 'maintainer' WHEN 50 THEN 'owner' WHEN 60 THEN 'admin' END
$$;

CREATE OR REPLACE FUNCTION registry_protection_level(p_name text) RETURNS smallint
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_name WHEN 'maintainer' THEN 40 WHEN 'owner' THEN 50 WHEN 'admin' THEN 60 END::smallint
$$;

-- A tag rule as GitLab's API shows it (immutable rules have no levels).
CREATE OR REPLACE FUNCTION registry_tag_rule_json(r registry_protection_tag_rules) RETURNS json
LANGUAGE sql IMMUTABLE AS $$
    SELECT json_build_object(
               'id', r.id, 'project_id', r.project_id, 'tag_name_pattern', r.tag_name_pattern,
               'minimum_access_level_for_push',
               registry_protection_level_name(r.minimum_access_level_for_push),
               'minimum_access_level_for_delete',
               registry_protection_level_name(r.minimum_access_level_for_delete),
               'immutable', r.minimum_access_level_for_push IS NULL)
$$;

-- Whether a caller may manage a project's protection rules (GitLab's admin_container_image:
-- Maintainer, or admin), or with p_owner the immutable ones (Owner, or admin).
CREATE OR REPLACE FUNCTION registry_protection_can(p_user bigint, p_admin boolean, p_project bigint,
                                                   p_owner boolean) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT registry_caller_level(p_user, p_admin, p_project) >= CASE WHEN p_owner THEN 50 ELSE 40 END
$$;

-- What is wrong with a tag rule's pattern, as GitLab's model words it after "Tag name pattern ":
-- p_invalid (metad's check, as GitLab's: length, RE2 syntax), else PostgreSQL's refusal of it as
-- a regex (the rules are matched here), else NULL.
CREATE OR REPLACE FUNCTION registry_pattern_error(p_pattern text, p_invalid text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_invalid IS NOT NULL THEN
        RETURN p_invalid;
    END IF;
    PERFORM '' ~ p_pattern;
    RETURN NULL;
EXCEPTION WHEN invalid_regular_expression THEN
    RETURN 'not valid RE2 syntax: ' || SQLERRM;
END
$$;

-- GET .../protection/tag/rules: status (forbidden below Maintainer) and the rules.
CREATE OR REPLACE FUNCTION registry_tag_rules(p_user bigint, p_admin boolean, p_project bigint,
                                              OUT status status_word, OUT rules json)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF NOT registry_protection_can(p_user, p_admin, p_project, false) THEN
        status := 'forbidden';
        RETURN;
    END IF;
    SELECT coalesce(json_agg(registry_tag_rule_json(r) ORDER BY r.id), '[]') INTO rules
      FROM registry_protection_tag_rules r WHERE r.project_id = p_project;
    status := 'ok';
END
$$;

-- POST .../protection/tag/rules (levels NULL: an immutable rule, Owner only): forbidden,
-- rule_limit (five rules a project), immutable_forbidden, rule_pattern_invalid (detail: why,
-- p_invalid when metad found it wrong), rule_taken, or ok with the rule; in GitLab's order.
CREATE OR REPLACE FUNCTION registry_tag_rule_create(p_user bigint, p_admin boolean, p_project bigint,
                                                    p_pattern text, p_invalid text, p_push smallint,
                                                    p_delete smallint, OUT status status_word,
                                                    OUT detail text, OUT rule json)
LANGUAGE plpgsql AS $$
DECLARE
    r registry_protection_tag_rules%ROWTYPE;
BEGIN
    IF NOT registry_protection_can(p_user, p_admin, p_project, false) THEN
        status := 'forbidden';
        RETURN;
    END IF;
    -- one writer of a project's rules at a time, so that the count holds
    PERFORM 1 FROM projects WHERE id = p_project FOR UPDATE;
    IF (SELECT count(*) FROM registry_protection_tag_rules x WHERE x.project_id = p_project) >= 5 THEN
        status := 'rule_limit';
        RETURN;
    END IF;
    IF p_push IS NULL AND NOT registry_protection_can(p_user, p_admin, p_project, true) THEN
        status := 'immutable_forbidden';
        RETURN;
    END IF;
    detail := registry_pattern_error(p_pattern, p_invalid);
    IF detail IS NOT NULL THEN
        status := 'rule_pattern_invalid';
        RETURN;
    END IF;
    INSERT INTO registry_protection_tag_rules (project_id, tag_name_pattern,
                                               minimum_access_level_for_push,
                                               minimum_access_level_for_delete)
    VALUES (p_project, p_pattern, p_push, p_delete)
    ON CONFLICT (project_id, tag_name_pattern) DO NOTHING
    RETURNING * INTO r;
    IF r.id IS NULL THEN
        status := 'rule_taken';
        RETURN;
    END IF;
    rule := registry_tag_rule_json(r);
    PERFORM audit_record(p_user, 'Project', p_project, 'ContainerRegistry::Protection::TagRule', r.id::text, r.tag_name_pattern,
                         jsonb_build_object('custom_message', format(
                             'Created container registry tag protection rule %s', r.tag_name_pattern)));
    status := 'ok';
END
$$;

-- PATCH .../protection/tag/rules/:id with the attributes present in p_attrs (tag_name_pattern,
-- minimum_access_level_for_push, minimum_access_level_for_delete, validated by metad):
-- rule_not_found (not this project's), forbidden, rule_immutable (immutable rules are only
-- created and deleted), rule_pattern_invalid, rule_taken, or ok with the rule.
CREATE OR REPLACE FUNCTION registry_tag_rule_update(p_user bigint, p_admin boolean, p_project bigint,
                                                    p_rule bigint, p_attrs jsonb, p_invalid text,
                                                    OUT status status_word, OUT detail text,
                                                    OUT rule json)
LANGUAGE plpgsql AS $$
DECLARE
    r registry_protection_tag_rules%ROWTYPE;
BEGIN
    SELECT * INTO r FROM registry_protection_tag_rules x
     WHERE x.id = p_rule AND x.project_id = p_project FOR UPDATE;
    IF NOT FOUND THEN
        status := 'rule_not_found';
        RETURN;
    END IF;
    IF NOT registry_protection_can(p_user, p_admin, p_project, false) THEN
        status := 'forbidden';
        RETURN;
    END IF;
    IF r.minimum_access_level_for_push IS NULL THEN
        status := 'rule_immutable';
        RETURN;
    END IF;
    IF p_attrs ? 'tag_name_pattern' THEN
        detail := registry_pattern_error(p_attrs ->> 'tag_name_pattern', p_invalid);
        IF detail IS NOT NULL THEN
            status := 'rule_pattern_invalid';
            RETURN;
        END IF;
        IF EXISTS (SELECT 1 FROM registry_protection_tag_rules x
                    WHERE x.project_id = p_project AND x.id <> p_rule
                      AND x.tag_name_pattern = p_attrs ->> 'tag_name_pattern') THEN
            status := 'rule_taken';
            RETURN;
        END IF;
    END IF;
    UPDATE registry_protection_tag_rules x
       SET tag_name_pattern = coalesce(p_attrs ->> 'tag_name_pattern', x.tag_name_pattern),
           minimum_access_level_for_push =
               coalesce(registry_protection_level(p_attrs ->> 'minimum_access_level_for_push'),
                        x.minimum_access_level_for_push),
           minimum_access_level_for_delete =
               coalesce(registry_protection_level(p_attrs ->> 'minimum_access_level_for_delete'),
                        x.minimum_access_level_for_delete),
           updated_at = now()
     WHERE x.id = p_rule
    RETURNING * INTO r;
    rule := registry_tag_rule_json(r);
    PERFORM audit_record(p_user, 'Project', p_project, 'ContainerRegistry::Protection::TagRule', r.id::text, r.tag_name_pattern,
                         jsonb_build_object('custom_message', format(
                             'Updated container registry tag protection rule %s', r.tag_name_pattern)));
    status := 'ok';
EXCEPTION WHEN unique_violation THEN
    status := 'rule_taken';
    rule := NULL;
END
$$;

-- DELETE .../protection/tag/rules/:id: rule_not_found, forbidden (an immutable rule: Owner), ok.
CREATE OR REPLACE FUNCTION registry_tag_rule_delete(p_user bigint, p_admin boolean, p_project bigint,
                                                    p_rule bigint) RETURNS status_word
LANGUAGE plpgsql AS $$
DECLARE
    r registry_protection_tag_rules%ROWTYPE;
BEGIN
    SELECT * INTO r FROM registry_protection_tag_rules x
     WHERE x.id = p_rule AND x.project_id = p_project FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'rule_not_found';
    END IF;
    IF NOT registry_protection_can(p_user, p_admin, p_project, r.minimum_access_level_for_push IS NULL) THEN
        RETURN 'forbidden';
    END IF;
    DELETE FROM registry_protection_tag_rules WHERE id = p_rule;
    PERFORM audit_record(p_user, 'Project', p_project, 'ContainerRegistry::Protection::TagRule', p_rule::text, r.tag_name_pattern,
                         jsonb_build_object('custom_message', format(
                             'Deleted container registry tag protection rule %s', r.tag_name_pattern)));
    RETURN 'ok';
END
$$;

-- ---- container repository protection rules -------------------------------------------------------

-- Whether a repository path matches a rule's pattern: * any characters, the rest literally,
-- whatever the case (GitLab's ILIKE of the glob).
CREATE OR REPLACE FUNCTION registry_path_glob_matches(p_path text, p_pattern text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_path ILIKE replace(replace(replace(replace(p_pattern, '\', '\\'), '%', '\%'), '_', '\_'),
                                '*', '%')
$$;

-- Why the repository rules of p_project refuse p_action ('push' or 'delete') on the repository
-- at p_path to a caller of level p_level (registry_caller_level), or NULL.
CREATE OR REPLACE FUNCTION registry_repository_refusal(p_project bigint, p_path text, p_action text,
                                                       p_level integer) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r registry_protection_repository_rules%ROWTYPE;
    v_need smallint;
BEGIN
    FOR r IN SELECT * FROM registry_protection_repository_rules x
              WHERE x.project_id = p_project ORDER BY x.id LOOP
        v_need := CASE p_action WHEN 'push' THEN r.minimum_access_level_for_push
                                ELSE r.minimum_access_level_for_delete END;
        IF v_need IS NOT NULL AND coalesce(p_level, 0) < v_need
           AND registry_path_glob_matches(p_path, r.repository_path_pattern) THEN
            RETURN format('repository %s is protected (protection rule %s, pattern %s): %s needs the %s role',
                          p_path, r.id, r.repository_path_pattern, p_action,
                          registry_protection_level_name(v_need));
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;

-- A repository rule as GitLab's API shows it.
CREATE OR REPLACE FUNCTION registry_repository_rule_json(r registry_protection_repository_rules)
RETURNS json
LANGUAGE sql IMMUTABLE AS $$
    SELECT json_build_object(
               'id', r.id, 'project_id', r.project_id,
               'repository_path_pattern', r.repository_path_pattern,
               'minimum_access_level_for_push',
               registry_protection_level_name(r.minimum_access_level_for_push),
               'minimum_access_level_for_delete',
               registry_protection_level_name(r.minimum_access_level_for_delete))
$$;

-- What GitLab's model says of a repository path pattern after "Repository path pattern ", or
-- NULL: a container repository path with * wildcards, starting with the project's full path.
CREATE OR REPLACE FUNCTION registry_repository_pattern_error(p_project bigint, p_pattern text)
RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN p_pattern = '' THEN 'can''t be blank'
        WHEN length(p_pattern) > 255 THEN 'is too long (maximum is 255 characters)'
        WHEN p_pattern !~* '^[a-z0-9*]([a-z0-9*._/-]*[a-z0-9*])?$' OR p_pattern ~ '//|[._-]{2}'
            THEN 'should be a valid container repository path with optional wildcard characters.'
        WHEN lower(p_pattern) NOT LIKE (SELECT replace(replace(replace(lower(p.full_path), '\', '\\'),
                                                               '%', '\%'), '_', '\_') || '%'
                                          FROM projects p WHERE p.id = p_project)
            THEN 'should start with the project''s full path'
    END
$$;

-- GET .../protection/repository/rules: status (forbidden below Maintainer) and the rules.
CREATE OR REPLACE FUNCTION registry_repository_rules(p_user bigint, p_admin boolean, p_project bigint,
                                                     OUT status status_word, OUT rules json)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF NOT registry_protection_can(p_user, p_admin, p_project, false) THEN
        status := 'forbidden';
        RETURN;
    END IF;
    SELECT coalesce(json_agg(registry_repository_rule_json(r) ORDER BY r.id), '[]') INTO rules
      FROM registry_protection_repository_rules r WHERE r.project_id = p_project;
    status := 'ok';
END
$$;

-- POST and PATCH .../protection/repository/rules[/:id] (p_rule NULL: create) with the attributes
-- present in p_attrs (a level "" unsets it): rule_not_found, forbidden, rule_pattern_invalid
-- (detail: GitLab's words), rule_taken, rule_levels_missing, or ok with the rule.
CREATE OR REPLACE FUNCTION registry_repository_rule_save(p_user bigint, p_admin boolean,
                                                         p_project bigint, p_rule bigint,
                                                         p_attrs jsonb, OUT status status_word,
                                                         OUT detail text, OUT rule json)
LANGUAGE plpgsql AS $$
DECLARE
    r registry_protection_repository_rules%ROWTYPE;
BEGIN
    IF p_rule IS NOT NULL THEN
        SELECT * INTO r FROM registry_protection_repository_rules x
         WHERE x.id = p_rule AND x.project_id = p_project FOR UPDATE;
        IF NOT FOUND THEN
            status := 'rule_not_found';
            RETURN;
        END IF;
    END IF;
    IF NOT registry_protection_can(p_user, p_admin, p_project, false) THEN
        status := 'forbidden';
        RETURN;
    END IF;
    IF p_attrs ? 'repository_path_pattern' THEN
        r.repository_path_pattern := p_attrs ->> 'repository_path_pattern';
        detail := registry_repository_pattern_error(p_project, r.repository_path_pattern);
        IF detail IS NOT NULL THEN
            status := 'rule_pattern_invalid';
            RETURN;
        END IF;
    END IF;
    IF p_attrs ? 'minimum_access_level_for_push' THEN
        r.minimum_access_level_for_push :=
            registry_protection_level(p_attrs ->> 'minimum_access_level_for_push');
    END IF;
    IF p_attrs ? 'minimum_access_level_for_delete' THEN
        r.minimum_access_level_for_delete :=
            registry_protection_level(p_attrs ->> 'minimum_access_level_for_delete');
    END IF;
    IF r.minimum_access_level_for_push IS NULL AND r.minimum_access_level_for_delete IS NULL THEN
        status := 'rule_levels_missing';
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM registry_protection_repository_rules x
                WHERE x.project_id = p_project AND x.id IS DISTINCT FROM p_rule
                  AND x.repository_path_pattern = r.repository_path_pattern) THEN
        status := 'rule_taken';
        RETURN;
    END IF;
    IF p_rule IS NULL THEN
        INSERT INTO registry_protection_repository_rules (project_id, repository_path_pattern,
                                                          minimum_access_level_for_push,
                                                          minimum_access_level_for_delete)
        VALUES (p_project, r.repository_path_pattern, r.minimum_access_level_for_push,
                r.minimum_access_level_for_delete)
        RETURNING * INTO r;
    ELSE
        UPDATE registry_protection_repository_rules x
           SET repository_path_pattern = r.repository_path_pattern,
               minimum_access_level_for_push = r.minimum_access_level_for_push,
               minimum_access_level_for_delete = r.minimum_access_level_for_delete,
               updated_at = now()
         WHERE x.id = p_rule
        RETURNING * INTO r;
    END IF;
    rule := registry_repository_rule_json(r);
    PERFORM audit_record(p_user, 'Project', p_project, 'ContainerRegistry::Protection::Rule', r.id::text, r.repository_path_pattern,
                         jsonb_build_object('custom_message', format(
                             '%s container registry protection rule %s',
                             CASE WHEN p_rule IS NULL THEN 'Created' ELSE 'Updated' END,
                             r.repository_path_pattern)));
    status := 'ok';
EXCEPTION WHEN unique_violation THEN
    status := 'rule_taken';
    rule := NULL;
END
$$;

-- DELETE .../protection/repository/rules/:id: rule_not_found, forbidden, ok.
CREATE OR REPLACE FUNCTION registry_repository_rule_delete(p_user bigint, p_admin boolean,
                                                           p_project bigint, p_rule bigint)
RETURNS status_word
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM registry_protection_repository_rules x
     WHERE x.id = p_rule AND x.project_id = p_project FOR UPDATE;
    IF NOT FOUND THEN
        RETURN 'rule_not_found';
    END IF;
    IF NOT registry_protection_can(p_user, p_admin, p_project, false) THEN
        RETURN 'forbidden';
    END IF;
    PERFORM audit_record(p_user, 'Project', p_project, 'ContainerRegistry::Protection::Rule', p_rule::text, x.repository_path_pattern,
                         jsonb_build_object('custom_message', format(
                             'Deleted container registry protection rule %s', x.repository_path_pattern)))
       FROM registry_protection_repository_rules x WHERE x.id = p_rule;
    DELETE FROM registry_protection_repository_rules WHERE id = p_rule;
    RETURN 'ok';
END
$$;

-- Whether tag rules keep a caller of level p_level from deleting the repository p_repo (GitLab's
-- ContainerRepository#protected_from_delete_by_tag_rules?): it has tags, and a rule of the
-- project would refuse the caller a tag's deletion (an immutable one refuses everybody).
CREATE OR REPLACE FUNCTION registry_repository_tags_protected(p_project bigint, p_repo bigint,
                                                              p_level integer) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM registry_protection_tag_rules x
                    WHERE x.project_id = p_project
                      AND (x.minimum_access_level_for_delete IS NULL
                           OR p_level < x.minimum_access_level_for_delete))
       AND EXISTS (SELECT 1 FROM tags t WHERE t.repository_id = p_repo)
$$;
