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
