-- The registry's rules over its tables (/v2 and the token service): the project a repository path
-- belongs to, what a caller may do there (registry_access, from the rules of rights.sql),
-- pushes, blob links and mounts, manifests and their references, and the tags_version counter
-- that keeps tags/list answers current.
--
-- The functions every /v2 request calls are PL/pgSQL, not SQL: PostgreSQL cannot inline
-- SQL-language functions that read tables, so it parsed and planned their bodies on every call
-- (half of all CPU under a manifest GET load), while PL/pgSQL keeps each statement's plan for the
-- life of the connection.

-- The one home of path resolution: the project a repository path belongs to is the one whose
-- full_path (lowercased) is its longest prefix at a '/' boundary; name is the rest ('' for the
-- project's own image). Both NULL when no project prefixes the path. Whether the name may hold
-- a repository is registry_name_fits(). The path's syntax is the caller's to check
-- (common/names.c: lowercase, no empty segment).
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

-- Whether a name below a project may hold a repository: at most two segments.
CREATE OR REPLACE FUNCTION registry_name_fits(p_name text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_name = '' OR array_length(string_to_array(p_name, '/'), 1) <= 2
$$;

-- What a caller may do with the repository at p_path (the token service's question): the
-- project it belongs to and, of the actions p_want names, those the caller's rights there allow.
-- None when no project holds the path, the name does not fit below it, or its registry is
-- disabled. Pull by the pull rule (registry_pull_open / registry_pull_standing, as
-- registry_can_pull); users push and delete with the role registry_action_level names (admins
-- always), anonymous callers (p_user 0) only pull, a deploy token pushes into the projects it
-- covers with write_registry. The caller's role is looked up only when an answer needs it. A
-- container repository protection rule matching the path takes push or delete away from a
-- caller below its level (registry_repository_refusal; deploy tokens hold no level). A
-- personal access token's scopes narrow the answer further (authd).
CREATE OR REPLACE FUNCTION registry_access(p_path text, p_user bigint, p_admin boolean,
                                           p_deploy_token bigint, p_want text[],
                                           OUT project_id bigint, OUT actions text[])
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_name text;
    v_registry text;
    v_visibility text;
    v_level integer;
    v_covers boolean;
    v_at record := registry_resolve(p_path);
BEGIN
    actions := '{}';
    project_id := v_at.project_id;
    v_name := v_at.name;
    IF project_id IS NULL OR NOT registry_name_fits(v_name) THEN
        RETURN;
    END IF;
    SELECT p.container_registry_access_level, p.visibility INTO v_registry, v_visibility
      FROM projects p WHERE p.id = project_id;
    IF v_registry = 'disabled' THEN
        RETURN;
    END IF;
    IF p_deploy_token > 0 THEN
        v_covers := deploy_token_covers(p_deploy_token, project_id);
        IF 'pull' = ANY (p_want) AND (registry_pull_open(0, false, v_registry, v_visibility)
               OR registry_pull_standing(v_registry, NULL,
                                         v_covers AND deploy_token_can(p_deploy_token, 'read_registry'))) THEN
            actions := actions || 'pull'::text;
        END IF;
        IF 'push' = ANY (p_want) AND v_covers AND deploy_token_can(p_deploy_token, 'write_registry')
           AND registry_repository_refusal(project_id, p_path, 'push', 0) IS NULL THEN
            actions := actions || 'push'::text;
        END IF;
        RETURN;
    END IF;
    IF 'pull' = ANY (p_want) THEN
        IF registry_pull_open(p_user, p_admin, v_registry, v_visibility) THEN
            actions := actions || 'pull'::text;
        ELSIF p_user > 0 THEN
            v_level := project_access_level(p_user, project_id);
            IF registry_pull_standing(v_registry, v_level, false) THEN
                actions := actions || 'pull'::text;
            END IF;
        END IF;
    END IF;
    IF p_user <= 0 OR NOT (p_want && '{push,delete}') THEN
        RETURN;
    END IF;
    IF NOT p_admin AND v_level IS NULL THEN
        v_level := project_access_level(p_user, project_id);
    END IF;
    IF 'push' = ANY (p_want) AND (p_admin OR v_level >= registry_action_level('push'))
       AND registry_repository_refusal(project_id, p_path, 'push',
                                       CASE WHEN p_admin THEN 60 ELSE v_level END) IS NULL THEN
        actions := actions || 'push'::text;
    END IF;
    IF 'delete' = ANY (p_want) AND (p_admin OR v_level >= registry_action_level('delete'))
       AND registry_repository_refusal(project_id, p_path, 'delete',
                                       CASE WHEN p_admin THEN 60 ELSE v_level END) IS NULL THEN
        actions := actions || 'delete'::text;
    END IF;
END
$$;

-- The one check of a registry token's binding. A grant on a repository path names the project it
-- was granted on and that project's path generation (the gateway forwards them, X-Registry-Grant);
-- p_resolved is the project the path belongs to now. When that is another project, or the same
-- project after its path changed hands (projects_path_generation), the grant no longer holds and
-- the statement fails with SQLSTATE RG401, which metad answers with the 401 challenge that sends
-- the client for a new token (common/rest_db.c). A path no project holds has nothing to protect:
-- the caller answers as for any path without a project.
CREATE OR REPLACE FUNCTION registry_grant_check(p_resolved bigint, p_project bigint,
                                                p_generation bigint) RETURNS void
LANGUAGE plpgsql STABLE AS $$
BEGIN
    IF p_resolved IS NULL THEN
        RETURN;
    END IF;
    IF p_resolved IS DISTINCT FROM p_project
       OR NOT EXISTS (SELECT 1 FROM projects p
                       WHERE p.id = p_resolved AND p.path_generation = p_generation) THEN
        RAISE EXCEPTION 'the registry token was granted on another project at this path'
              USING ERRCODE = 'RG401';
    END IF;
END
$$;

-- p_path once the grant on it holds (registry_grant_check), for the statements that take a path.
CREATE OR REPLACE FUNCTION registry_grant_path(p_path text, p_project bigint, p_generation bigint)
RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_at record := registry_resolve(p_path);
BEGIN
    PERFORM registry_grant_check(v_at.project_id, p_project, p_generation);
    RETURN p_path;
END
$$;

-- The repository at p_path (NULL when there is none) for a caller whose grant on the path names
-- p_project at p_generation: registry_repository_id with the grant checked, resolving once.
CREATE OR REPLACE FUNCTION registry_grant_repository_id(p_path text, p_project bigint,
                                                  p_generation bigint) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_at record := registry_resolve(p_path);
    v_project bigint := v_at.project_id;
    v_id bigint;
BEGIN
    IF v_project IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM registry_grant_check(v_project, p_project, p_generation);
    SELECT r.id INTO v_id FROM repositories r WHERE r.project_id = v_project AND r.name = v_at.name;
    RETURN v_id;
END
$$;

-- projects BEFORE UPDATE (row): a project's path changing hands (its full path, by a rename, a
-- transfer or a namespace's move or rename; or its namespace) bumps its path generation, so that
-- no registry token granted before reaches it at its new path, nor at its old one should it come
-- back there (registry_grant_check).
CREATE OR REPLACE FUNCTION projects_path_generation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.full_path IS DISTINCT FROM OLD.full_path
       OR NEW.namespace_id IS DISTINCT FROM OLD.namespace_id THEN
        NEW.path_generation := OLD.path_generation + 1;
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER projects_path_generation BEFORE UPDATE ON projects
    FOR EACH ROW EXECUTE FUNCTION projects_path_generation();

CREATE OR REPLACE FUNCTION registry_repository_id(p_path text) RETURNS bigint
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_at record := registry_resolve(p_path);
    v_project bigint := v_at.project_id;
    v_id bigint;
BEGIN
    IF v_project IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT r.id INTO v_id FROM repositories r WHERE r.project_id = v_project AND r.name = v_at.name;
    RETURN v_id;
END
$$;

-- The repository a push into p_path writes to, created on first use when p_create. status is
-- ok, or (repository_id NULL) why the path refuses pushes: no_project, too_deep (more than two
-- segments below its project), registry_disabled, repository_deleting.
CREATE OR REPLACE FUNCTION registry_push_repository(p_path text, p_create boolean,
                                         OUT repository_id bigint, OUT status status_word)
LANGUAGE plpgsql AS $$
DECLARE
    v_at record := registry_resolve(p_path);
    v_push record := registry_push_repository_at(v_at.project_id, v_at.name, p_create);
BEGIN
    repository_id := v_push.repository_id;
    status := v_push.status;
END
$$;

-- registry_push_repository for a path resolved already (registry_resolve: p_project NULL when
-- no project holds it, p_name the rest), for a caller that needs the project too.
CREATE OR REPLACE FUNCTION registry_push_repository_at(p_project bigint, p_name text,
                                                       p_create boolean,
                                                       OUT repository_id bigint,
                                                       OUT status status_word)
LANGUAGE plpgsql AS $$
DECLARE
    v_status text;
BEGIN
    IF p_project IS NULL THEN
        status := 'no_project';
        RETURN;
    END IF;
    IF NOT registry_name_fits(p_name) THEN
        status := 'too_deep';
        RETURN;
    END IF;
    IF (SELECT container_registry_access_level FROM projects WHERE id = p_project) = 'disabled' THEN
        status := 'registry_disabled';
        RETURN;
    END IF;
    SELECT r.id, r.status INTO repository_id, v_status
      FROM repositories r WHERE r.project_id = p_project AND r.name = p_name;
    IF repository_id IS NULL AND p_create THEN
        INSERT INTO repositories (project_id, name) VALUES (p_project, p_name)
            ON CONFLICT (project_id, name) DO NOTHING
            RETURNING id INTO repository_id;
        IF repository_id IS NULL THEN  -- created concurrently
            SELECT r.id, r.status INTO repository_id, v_status
              FROM repositories r WHERE r.project_id = p_project AND r.name = p_name;
        END IF;
    END IF;
    IF v_status IN ('delete_scheduled', 'delete_ongoing') THEN
        repository_id := NULL;
        status := 'repository_deleting';
        RETURN;
    END IF;
    status := 'ok';
END
$$;

-- Links a verified, stored blob into the repository at p_path (created on first push); status
-- is ok, why the path refuses pushes (registry_push_repository), or blob_deleting: the blob's
-- file is being deleted (blobd stores it again and asks again).
CREATE OR REPLACE FUNCTION registry_link_blob(p_path text, p_digest text, p_size bigint,
                                   OUT repository_id bigint, OUT status status_word)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT x.repository_id, x.status INTO repository_id, status
      FROM registry_push_repository(p_path, true) x;
    IF status <> 'ok' THEN
        RETURN;
    END IF;
    -- the blob's row, held against garbage collection (or made again): gc.sql
    status := gc_blob_hold(p_digest, p_size);
    IF status <> 'ok' THEN
        RETURN;
    END IF;
    INSERT INTO repository_blobs (repository_id, blob_digest) VALUES (repository_id, p_digest)
        ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        PERFORM gc_blob_relinked(p_digest);
    END IF;
END
$$;

-- Links a blob the caller can already read elsewhere into the repository at p_path, without a
-- copy. With p_from, from that repository only (the caller's token must grant pull on it:
-- p_from_pull); without, from any repository the caller may pull. status is ok, with size NULL
-- when there is nothing to mount, or why p_path refuses pushes.
CREATE OR REPLACE FUNCTION registry_mount_blob(p_path text, p_digest text, p_from text, p_from_pull boolean,
                                    p_user bigint, p_admin boolean, p_deploy_token bigint,
                                    OUT size bigint, OUT status status_word)
LANGUAGE plpgsql AS $$
DECLARE
    v_repo bigint;
    s record;
BEGIN
    SELECT x.status INTO status FROM registry_push_repository(p_path, false) x;
    IF status <> 'ok' THEN
        RETURN;
    END IF;
    IF p_from IS NOT NULL THEN
        IF NOT p_from_pull THEN
            RETURN;
        END IF;
        SELECT b.size INTO size
          FROM repository_blobs rb JOIN blobs b ON b.digest = rb.blob_digest
         WHERE rb.repository_id = registry_repository_id(p_from) AND rb.blob_digest = p_digest;
    ELSE
        -- the caller's pull rights as sets, computed once, not per repository holding the blob
        SELECT * INTO s FROM registry_pull_scope(p_user, p_admin, p_deploy_token);
        SELECT b.size INTO size
          FROM repository_blobs rb
          JOIN blobs b ON b.digest = rb.blob_digest
          JOIN repositories r ON r.id = rb.repository_id
          JOIN projects p ON p.id = r.project_id
         WHERE rb.blob_digest = p_digest
           AND registry_scope_pulls(s.all_projects, s.visibilities, s.project_ids,
                                    p.container_registry_access_level, p.visibility, p.id)
         LIMIT 1;
    END IF;
    IF size IS NULL THEN
        RETURN;
    END IF;
    -- held against garbage collection; a review that deleted it meanwhile leaves nothing to mount
    PERFORM 1 FROM blobs b WHERE b.digest = p_digest FOR KEY SHARE;
    IF NOT FOUND THEN
        size := NULL;
        RETURN;
    END IF;
    SELECT x.repository_id, x.status INTO v_repo, status FROM registry_push_repository(p_path, true) x;
    IF status <> 'ok' THEN
        size := NULL;
        RETURN;
    END IF;
    INSERT INTO repository_blobs (repository_id, blob_digest) VALUES (v_repo, p_digest)
        ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        PERFORM gc_blob_relinked(p_digest);
    END IF;
END
$$;

-- Stores a validated manifest (and tags it when p_tag is given) in one transaction, into the
-- repository at p_path for a caller whose grant on the path names p_grant_project at
-- p_grant_generation (registry_grant_check: SQLSTATE RG401 when it no longer holds). Every blob
-- in p_blobs must be linked in the repository with the size p_blob_sizes declares, and every
-- manifest in p_children must exist there. status is ok, why the path refuses pushes
-- (registry_push_repository), blob_unknown, size_mismatch, manifest_unknown with detail naming
-- the culprit, quota_exceeded (usage_quota_manifest, detail: the usage, the limit, the push), or
-- tag_denied: a protection rule keeps the pusher (p_user, p_admin) from setting the tag
-- (registry_tag_refusal, detail: why). p_request: the request's context for the events of the
-- push (registry_request); a quota refusal is a quota_exceeded webhook event. The path is
-- resolved once; a tag that names the manifest already is left as it is (the push is audited
-- all the same).
CREATE OR REPLACE FUNCTION registry_put_manifest(
    p_path text, p_grant_project bigint, p_grant_generation bigint, p_digest text,
    p_media_type text, p_artifact_type text, p_config_digest text, p_config_media_type text,
    p_subject text, p_annotations jsonb, p_payload bytea, p_blobs text[], p_blob_sizes bigint[],
    p_children text[], p_tag text, p_user bigint, p_admin boolean, p_request jsonb,
    OUT manifest_id bigint, OUT status status_word, OUT detail text)
LANGUAGE plpgsql AS $$
DECLARE
    v_at record;
    v_push record;
    v_project bigint;
    v_name text;
    v_repo bigint;
    v_tagged bigint;
    v_tagged_digest text;
    v_protected boolean := false;
    v_held bigint;
    v_total bigint;
    v_changed boolean := false;
BEGIN
    -- (the functions' records assigned, not selected from: no executor run for each)
    v_at := registry_resolve(p_path);
    v_project := v_at.project_id;
    v_name := v_at.name;
    PERFORM registry_grant_check(v_project, p_grant_project, p_grant_generation),
            hooks_actor(p_user), registry_request(p_request);
    -- look the repository up first: a manifest that fails validation creates nothing
    v_push := registry_push_repository_at(v_project, v_name, false);
    v_repo := v_push.repository_id;
    status := v_push.status;
    IF status <> 'ok' THEN
        RETURN;
    END IF;
    -- what the tag names now, and whether the project protects tags at all
    IF p_tag IS NOT NULL THEN
        SELECT m.id, m.digest,
               EXISTS (SELECT 1 FROM registry_protection_tag_rules r WHERE r.project_id = v_project)
          INTO v_tagged, v_tagged_digest, v_protected
          FROM (SELECT 1) one
          LEFT JOIN (tags t JOIN manifests m ON m.id = t.manifest_id)
            ON t.repository_id = v_repo AND t.name = p_tag;
    END IF;
    -- a tag protection rule may refuse this pusher the tag, or moving it
    IF v_protected THEN
        detail := registry_tag_refusal(
            v_project, p_tag, 'push', registry_caller_level(p_user, p_admin, v_project),
            coalesce(v_tagged_digest <> p_digest, false));
        IF detail IS NOT NULL THEN
            status := 'tag_denied';
            RETURN;
        END IF;
    END IF;
    -- what the manifest names is held against garbage collection until it is stored (FOR KEY
    -- SHARE, in one order): a review deleting one of them finishes first, and is then not
    -- among the blobs linked here with the size declared, which are all of them when all is well
    PERFORM 1 FROM unnest(p_blobs, p_blob_sizes) AS x(d, s)
      JOIN blobs b ON b.digest = x.d
      JOIN repository_blobs rb ON rb.repository_id = v_repo AND rb.blob_digest = x.d
     WHERE b.size = x.s
     ORDER BY b.digest FOR KEY SHARE OF b;
    GET DIAGNOSTICS v_held = ROW_COUNT;
    -- else the first blob not linked in the repository, or the first whose size is not the one
    -- declared
    IF v_held < coalesce(cardinality(p_blobs), 0) THEN
        SELECT x.d, CASE WHEN rb.blob_digest IS NULL THEN 'blob_unknown' ELSE 'size_mismatch' END
          INTO detail, status
          FROM unnest(p_blobs, p_blob_sizes) WITH ORDINALITY AS x(d, s, i)
          LEFT JOIN repository_blobs rb ON rb.repository_id = v_repo AND rb.blob_digest = x.d
          LEFT JOIN blobs b ON b.digest = x.d
         WHERE rb.blob_digest IS NULL OR b.size <> x.s
         ORDER BY rb.blob_digest IS NOT NULL, x.i
         LIMIT 1;
        IF detail IS NOT NULL THEN
            RETURN;
        END IF;
        status := 'ok';
        -- (linked meanwhile: held as the others)
        PERFORM 1 FROM unnest(p_blobs) AS d JOIN blobs b ON b.digest = d
         ORDER BY b.digest FOR KEY SHARE OF b;
    END IF;
    IF p_children <> '{}' THEN
        PERFORM 1 FROM manifests m WHERE m.repository_id = v_repo AND m.digest = ANY (p_children)
          ORDER BY m.id FOR KEY SHARE;
        SELECT d INTO detail FROM unnest(p_children) AS d
         WHERE NOT EXISTS (SELECT 1 FROM manifests m WHERE m.repository_id = v_repo AND m.digest = d)
         LIMIT 1;
        IF detail IS NOT NULL THEN
            status := 'manifest_unknown';
            RETURN;
        END IF;
    END IF;
    -- a tag makes the manifest count: refused when what it adds takes the namespace over its
    -- limit (a tag naming the manifest already adds nothing)
    IF p_tag IS NOT NULL AND v_repo IS NOT NULL AND v_tagged_digest IS DISTINCT FROM p_digest THEN
        detail := usage_quota_manifest(v_repo, p_blobs, p_children);
        IF detail IS NOT NULL THEN
            status := 'quota_exceeded';
            PERFORM hooks_quota_exceeded(p_path, p_tag, detail, p_user);
            RETURN;
        END IF;
    END IF;
    IF v_repo IS NULL THEN
        v_push := registry_push_repository_at(v_project, v_name, true);
        v_repo := v_push.repository_id;
        status := v_push.status;
        IF status <> 'ok' THEN
            RETURN;
        END IF;
    END IF;
    -- the manifest stored before, held against garbage collection (gone meanwhile: stored again)
    SELECT m.id INTO manifest_id FROM manifests m WHERE m.repository_id = v_repo AND m.digest = p_digest
       FOR KEY SHARE;
    IF manifest_id IS NOT NULL AND p_tag IS NULL THEN
        PERFORM gc_manifest_repushed(manifest_id);
    END IF;
    IF manifest_id IS NULL THEN
        v_total := length(p_payload)
                   + coalesce((SELECT sum(s) FROM unnest(p_blob_sizes) AS s), 0)
                   + coalesce((SELECT sum(m.total_size) FROM manifests m
                                WHERE m.repository_id = v_repo
                                  AND m.digest = ANY (p_children)), 0);
        INSERT INTO manifests (repository_id, digest, media_type, artifact_type, config_digest,
                               config_media_type, subject_digest, annotations, payload, total_size)
        VALUES (v_repo, p_digest, p_media_type, p_artifact_type, p_config_digest,
                p_config_media_type, p_subject, p_annotations, p_payload, v_total)
        ON CONFLICT (repository_id, digest) DO NOTHING
        RETURNING id INTO manifest_id;
        v_changed := manifest_id IS NOT NULL;
        IF manifest_id IS NULL THEN  -- stored concurrently
            SELECT m.id INTO manifest_id FROM manifests m
             WHERE m.repository_id = v_repo AND m.digest = p_digest FOR KEY SHARE;
        ELSE
            INSERT INTO manifest_blobs (manifest_id, blob_digest)
                SELECT DISTINCT manifest_id, d FROM unnest(p_blobs) AS d ON CONFLICT DO NOTHING;
            INSERT INTO manifest_references (parent_id, child_digest)
                SELECT DISTINCT manifest_id, d FROM unnest(p_children) AS d ON CONFLICT DO NOTHING;
        END IF;
    END IF;
    IF p_tag IS NOT NULL THEN
        -- a tag naming the manifest already stays as it is (and unlocked: a concurrent move or
        -- delete of the tag then simply comes after this push)
        IF v_tagged IS DISTINCT FROM manifest_id THEN
            INSERT INTO tags (repository_id, name, manifest_id) VALUES (v_repo, p_tag, manifest_id)
            ON CONFLICT (repository_id, name) DO UPDATE
                SET manifest_id = EXCLUDED.manifest_id, updated_at = now()
                WHERE tags.manifest_id <> EXCLUDED.manifest_id;
            v_changed := v_changed OR FOUND;
        END IF;
        PERFORM audit_record(p_user, 'Project', v_project, 'ContainerRepository', v_repo::text,
                             p_path, jsonb_build_object('custom_message', format(
                                 'Pushed tag %s (%s) to container repository %s', p_tag,
                                 p_digest, p_path)));
    END IF;
    -- only when something was stored: a PUT of what the repository holds already changes
    -- nothing, and the row's lock would line up every concurrent push to the repository
    IF v_changed THEN
        UPDATE repositories SET updated_at = now() WHERE id = v_repo;
    END IF;
END
$$;

-- DELETE /v2/<name>/manifests/<reference> in the repository p_repo (NULL: none at the path): the
-- tag p_tag, or the manifest p_digest with its tags. not_found, tag_denied (a protection rule
-- keeps the caller from deleting the tag, or a tag pointing at the manifest: detail, why), ok.
-- p_request: the request's context for the events of the deletion (registry_request).
CREATE OR REPLACE FUNCTION registry_delete_reference(p_repo bigint, p_tag text, p_digest text,
                                                     p_user bigint, p_admin boolean,
                                                     p_request jsonb DEFAULT NULL,
                                                     OUT status status_word, OUT detail text)
LANGUAGE plpgsql AS $$
DECLARE
    v_project bigint;
    v_manifest bigint;
BEGIN
    PERFORM hooks_actor(p_user);
    PERFORM registry_request(p_request);
    SELECT r.project_id INTO v_project FROM repositories r WHERE r.id = p_repo;
    IF p_tag IS NOT NULL THEN
        SELECT t.manifest_id INTO v_manifest FROM tags t
         WHERE t.repository_id = p_repo AND t.name = p_tag FOR UPDATE;
    ELSE
        SELECT m.id INTO v_manifest FROM manifests m
         WHERE m.repository_id = p_repo AND m.digest = p_digest FOR UPDATE;
    END IF;
    IF v_manifest IS NULL THEN
        status := 'not_found';
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM registry_protection_tag_rules r WHERE r.project_id = v_project) THEN
        detail := CASE WHEN p_tag IS NOT NULL
                       THEN registry_tag_refusal(v_project, p_tag, 'delete',
                                                 registry_caller_level(p_user, p_admin, v_project),
                                                 false)
                       ELSE registry_manifest_refusal(v_project, v_manifest,
                                                      registry_caller_level(p_user, p_admin, v_project))
                  END;
        IF detail IS NOT NULL THEN
            status := 'tag_denied';
            RETURN;
        END IF;
    END IF;
    IF p_tag IS NOT NULL THEN
        DELETE FROM tags WHERE repository_id = p_repo AND name = p_tag;
    ELSE
        DELETE FROM manifests WHERE id = v_manifest;
    END IF;
    PERFORM audit_record(p_user, 'Project', v_project, 'ContainerRepository', p_repo::text,
                         (SELECT path FROM repositories WHERE id = p_repo),
                         jsonb_build_object('custom_message', CASE WHEN p_tag IS NOT NULL
                             THEN format('Deleted tag %s', p_tag)
                             ELSE format('Deleted manifest %s and its tags', p_digest) END));
    status := 'ok';
END
$$;

CREATE OR REPLACE FUNCTION tags_bump_version_row() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE repositories SET tags_version = tags_version + 1 WHERE id = NEW.repository_id;
    IF TG_OP = 'UPDATE' AND OLD.repository_id <> NEW.repository_id THEN
        UPDATE repositories SET tags_version = tags_version + 1 WHERE id = OLD.repository_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION tags_bump_version_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE repositories SET tags_version = tags_version + 1
     WHERE id IN (SELECT repository_id FROM old_rows);
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER tags_version_write AFTER INSERT OR UPDATE ON tags
    FOR EACH ROW EXECUTE FUNCTION tags_bump_version_row();

CREATE OR REPLACE TRIGGER tags_version_delete AFTER DELETE ON tags
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tags_bump_version_deleted();
