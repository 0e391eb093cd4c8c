-- The registry: repositories below projects, the blobs they link, manifests (payloads kept here,
-- byte-exact) with what they reference, and tags. Blob bytes live in blobd's content-addressed
-- storage, one file per digest for the whole instance; a repository reads a blob only through a
-- repository_blobs row, so knowing a digest is not enough to read it.
--
-- Names and digests compare bytewise (COLLATE "C"): tag lists and the catalog are in lexical
-- order, as the distribution spec asks.

CREATE TABLE repositories (
    id bigserial PRIMARY KEY,
    project_id bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    -- the path below the project: '' for the project's own image, 'a' or 'a/b'
    name text COLLATE "C" NOT NULL CHECK (name = '' OR array_length(string_to_array(name, '/'), 1) <= 2),
    -- NULL while active; GitLab's values while a deletion is pending or failed
    status text CHECK (status IN ('delete_scheduled', 'delete_ongoing', 'delete_failed')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    cleanup_policy_started_at timestamptz
);
CREATE UNIQUE INDEX repositories_project_name_key ON repositories (project_id, name);

CREATE TABLE blobs (
    digest text COLLATE "C" PRIMARY KEY,   -- "sha256:<hex>" or "sha512:<hex>"
    size bigint NOT NULL CHECK (size >= 0),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE repository_blobs (
    repository_id bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    blob_digest text COLLATE "C" NOT NULL REFERENCES blobs (digest),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (repository_id, blob_digest)
);
CREATE INDEX repository_blobs_digest_idx ON repository_blobs (blob_digest);

CREATE TABLE manifests (
    id bigserial PRIMARY KEY,
    repository_id bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    digest text COLLATE "C" NOT NULL,
    media_type text NOT NULL,
    schema_version integer NOT NULL DEFAULT 2,
    artifact_type text,                    -- the manifest's own artifactType, if any
    config_digest text COLLATE "C",        -- image manifests
    config_media_type text,
    subject_digest text COLLATE "C",       -- the manifest this one refers to (referrers API)
    annotations jsonb,
    payload bytea NOT NULL,                -- the bytes the client pushed, served unchanged
    -- the payload plus what it references: config and layers of an image, the children's
    -- total sizes for an index
    total_size bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX manifests_repository_digest_key ON manifests (repository_id, digest);
CREATE INDEX manifests_subject_idx ON manifests (repository_id, subject_digest)
    WHERE subject_digest IS NOT NULL;

-- Blobs an image manifest references (config and layers), for garbage collection and sizes.
CREATE TABLE manifest_blobs (
    manifest_id bigint NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
    blob_digest text COLLATE "C" NOT NULL REFERENCES blobs (digest),
    PRIMARY KEY (manifest_id, blob_digest)
);
CREATE INDEX manifest_blobs_digest_idx ON manifest_blobs (blob_digest);

-- Manifests an index (or manifest list) references, by digest within the same repository.
CREATE TABLE manifest_references (
    parent_id bigint NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
    child_digest text COLLATE "C" NOT NULL,
    PRIMARY KEY (parent_id, child_digest)
);

CREATE TABLE tags (
    id bigserial PRIMARY KEY,
    repository_id bigint NOT NULL REFERENCES repositories (id) ON DELETE CASCADE,
    name text COLLATE "C" NOT NULL,
    manifest_id bigint NOT NULL REFERENCES manifests (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX tags_repository_name_key ON tags (repository_id, name);
CREATE INDEX tags_manifest_idx ON tags (manifest_id);
