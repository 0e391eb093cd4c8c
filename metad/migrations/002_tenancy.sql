-- Tenancy: users, namespaces (user namespaces and nested groups), projects, members, and the
-- credentials authd checks. Paths are materialised (full_path, traversal_ids) so that a lookup
-- is one index probe and a rename or transfer rewrites every descendant in one statement.

CREATE TABLE users (
    id bigserial PRIMARY KEY,
    username text NOT NULL,
    name text NOT NULL,
    email text NOT NULL,
    password_hash text,                     -- Argon2id (libsodium crypto_pwhash_str)
    is_admin boolean NOT NULL DEFAULT false,
    state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'blocked')),
    bio text NOT NULL DEFAULT '',
    can_create_group boolean NOT NULL DEFAULT true,
    projects_limit integer NOT NULL DEFAULT 100000,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    last_activity_on date
);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE namespaces (
    id bigserial PRIMARY KEY,
    kind text NOT NULL CHECK (kind IN ('user', 'group')),
    name text NOT NULL,
    path text NOT NULL,
    full_path text NOT NULL,                -- "acme/platform"
    full_name text NOT NULL,                -- "Acme / Platform"
    parent_id bigint REFERENCES namespaces (id) ON DELETE CASCADE,
    traversal_ids bigint[] NOT NULL,        -- ids from the root down to this namespace
    owner_id bigint REFERENCES users (id) ON DELETE CASCADE,  -- user namespaces only
    visibility text NOT NULL DEFAULT 'private'
        CHECK (visibility IN ('private', 'internal', 'public')),
    description text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'user') = (owner_id IS NOT NULL)),
    CHECK (kind = 'group' OR parent_id IS NULL)
);
CREATE UNIQUE INDEX namespaces_full_path_key ON namespaces (lower(full_path));
CREATE UNIQUE INDEX namespaces_owner_key ON namespaces (owner_id) WHERE kind = 'user';
CREATE INDEX namespaces_parent_idx ON namespaces (parent_id);
CREATE INDEX namespaces_traversal_idx ON namespaces USING gin (traversal_ids);

CREATE TABLE projects (
    id bigserial PRIMARY KEY,
    namespace_id bigint NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    name text NOT NULL,
    path text NOT NULL,
    full_path text NOT NULL,                -- namespace full_path || '/' || path
    description text NOT NULL DEFAULT '',
    visibility text NOT NULL DEFAULT 'private'
        CHECK (visibility IN ('private', 'internal', 'public')),
    container_registry_access_level text NOT NULL DEFAULT 'enabled'
        CHECK (container_registry_access_level IN ('enabled', 'private', 'disabled')),
    creator_id bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_activity_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX projects_full_path_key ON projects (lower(full_path));
CREATE INDEX projects_full_path_exact_idx ON projects (full_path);
CREATE INDEX projects_namespace_idx ON projects (namespace_id);

CREATE TABLE group_members (
    namespace_id bigint NOT NULL REFERENCES namespaces (id) ON DELETE CASCADE,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    access_level integer NOT NULL CHECK (access_level IN (10, 20, 30, 40, 50)),
    expires_at date,
    created_by bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (namespace_id, user_id)
);
CREATE INDEX group_members_user_idx ON group_members (user_id);

CREATE TABLE project_members (
    project_id bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    access_level integer NOT NULL CHECK (access_level IN (10, 20, 30, 40, 50)),
    expires_at date,
    created_by bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX project_members_user_idx ON project_members (user_id);

-- Credentials. Every secret is stored as an Argon2id hash; token_lookup is a non-secret prefix
-- of the token that finds its row without a scan.
CREATE TABLE personal_access_tokens (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name text NOT NULL,
    scopes text[] NOT NULL,
    token_lookup text NOT NULL UNIQUE,
    token_hash text NOT NULL,
    expires_at date,
    revoked boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz
);
CREATE INDEX personal_access_tokens_user_idx ON personal_access_tokens (user_id);

CREATE TABLE deploy_tokens (
    id bigserial PRIMARY KEY,
    project_id bigint REFERENCES projects (id) ON DELETE CASCADE,
    namespace_id bigint REFERENCES namespaces (id) ON DELETE CASCADE,
    name text NOT NULL,
    username text NOT NULL,
    scopes text[] NOT NULL,
    token_lookup text NOT NULL UNIQUE,
    token_hash text NOT NULL,
    expires_at timestamptz,
    revoked boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK ((project_id IS NULL) <> (namespace_id IS NULL))
);
CREATE INDEX deploy_tokens_project_idx ON deploy_tokens (project_id);
CREATE INDEX deploy_tokens_namespace_idx ON deploy_tokens (namespace_id);
CREATE INDEX deploy_tokens_username_idx ON deploy_tokens (username);

CREATE TABLE oauth_access_tokens (
    id bigserial PRIMARY KEY,
    user_id bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_lookup text NOT NULL UNIQUE,
    token_hash text NOT NULL,
    scopes text[] NOT NULL DEFAULT '{api}',
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Failed sign-ins per client address, for slowing down guessing.
CREATE TABLE auth_failures (
    client text PRIMARY KEY,
    failures integer NOT NULL,
    window_start timestamptz NOT NULL,
    last_failure_at timestamptz NOT NULL
);

-- Access level of a user on a project: the highest of a direct membership, a membership of any
-- ancestor group (inherited), and 50 (Owner) for the owner of a personal namespace. 0: none.
CREATE FUNCTION project_access_level(p_user bigint, p_project bigint) RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT coalesce(max(lvl), 0) FROM (
        SELECT pm.access_level AS lvl
          FROM project_members pm
         WHERE pm.project_id = p_project AND pm.user_id = p_user
           AND (pm.expires_at IS NULL OR pm.expires_at > current_date)
        UNION ALL
        SELECT gm.access_level
          FROM projects p
          JOIN namespaces n ON n.id = p.namespace_id
          JOIN group_members gm ON gm.namespace_id = ANY (n.traversal_ids)
         WHERE p.id = p_project AND gm.user_id = p_user
           AND (gm.expires_at IS NULL OR gm.expires_at > current_date)
        UNION ALL
        SELECT 50
          FROM projects p
          JOIN namespaces n ON n.id = p.namespace_id
         WHERE p.id = p_project AND n.kind = 'user' AND n.owner_id = p_user
    ) levels
$$;

-- Access level of a user on a group: its own membership or an ancestor's. 0: none.
CREATE FUNCTION group_access_level(p_user bigint, p_namespace bigint) RETURNS integer
LANGUAGE sql STABLE AS $$
    SELECT coalesce(max(gm.access_level), 0)
      FROM namespaces n
      JOIN group_members gm ON gm.namespace_id = ANY (n.traversal_ids)
     WHERE n.id = p_namespace AND gm.user_id = p_user
       AND (gm.expires_at IS NULL OR gm.expires_at > current_date)
$$;

-- Whether a caller may see a project at all (GitLab answers 404 otherwise).
-- p_user 0 is anonymous.
CREATE FUNCTION project_visible(p_user bigint, p_admin boolean, p_project bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT p_admin
        OR p.visibility = 'public'
        OR (p.visibility = 'internal' AND p_user > 0)
        OR (p_user > 0 AND project_access_level(p_user, p.id) >= 10)
      FROM projects p WHERE p.id = p_project
$$;

CREATE FUNCTION group_visible(p_user bigint, p_admin boolean, p_namespace bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT p_admin
        OR n.visibility = 'public'
        OR (n.visibility = 'internal' AND p_user > 0)
        OR (p_user > 0 AND group_access_level(p_user, n.id) >= 10)
        OR (p_user > 0 AND EXISTS (
               -- a member of something inside a group may see the group
               SELECT 1 FROM namespaces d
                 JOIN group_members gm ON gm.namespace_id = d.id AND gm.user_id = p_user
                WHERE d.traversal_ids @> ARRAY[n.id]
               UNION ALL
               SELECT 1 FROM namespaces d
                 JOIN projects p ON p.namespace_id = d.id
                 JOIN project_members pm ON pm.project_id = p.id AND pm.user_id = p_user
                WHERE d.traversal_ids @> ARRAY[n.id]))
      FROM namespaces n WHERE n.id = p_namespace AND n.kind = 'group'
$$;

-- Whether a user (not a deploy token) may pull a project's images: GitLab's rules.
-- enabled: public -> anyone, internal -> any signed-in user, private -> Reporter+;
-- private (the access level): Reporter+ only; disabled: nobody. Admins always.
CREATE FUNCTION registry_user_can_pull(p_user bigint, p_admin boolean, p_project bigint)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT CASE
        WHEN p.container_registry_access_level = 'disabled' THEN false
        WHEN p_admin THEN true
        WHEN p.container_registry_access_level = 'enabled' AND p.visibility = 'public' THEN true
        WHEN p.container_registry_access_level = 'enabled' AND p.visibility = 'internal'
             AND p_user > 0 THEN true
        ELSE p_user > 0 AND project_access_level(p_user, p.id) >= 20
    END
      FROM projects p WHERE p.id = p_project
$$;

-- The project a deploy token belongs to, directly or through a group (and its subgroups).
CREATE FUNCTION deploy_token_covers(p_token bigint, p_project bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1 FROM deploy_tokens t, projects p
          JOIN namespaces n ON n.id = p.namespace_id
         WHERE t.id = p_token AND p.id = p_project
           AND (t.project_id = p.id OR t.namespace_id = ANY (n.traversal_ids)))
$$;

-- Timestamps as GitLab's API prints them: 2026-11-28T10:00:00.123Z
CREATE FUNCTION gl_time(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;
