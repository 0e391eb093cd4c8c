-- Upload sessions that every node reads, when blobs live in S3 ([blobd] storage = s3; blobd's
-- sessions on a filesystem stay in storage_root/uploads). blobd keeps the bytes as an S3
-- multipart upload <s3_prefix>/uploads/<id>/data plus a tail object under the 5 MiB part minimum,
-- and the rest here, through metad's internal endpoints (schema/functions/uploads.sql).
CREATE TABLE upload_sessions (
    id text PRIMARY KEY CHECK (id ~ '^[0-9a-f]{32}$'),
    repository text NOT NULL,
    -- what the token's push was granted on (0: not bound), checked on every request
    project_id bigint NOT NULL DEFAULT 0,
    generation bigint NOT NULL DEFAULT 0,
    algorithm text NOT NULL,
    -- bytes received and acknowledged; the running hash state over them (digest_state_save)
    byte_count bigint NOT NULL DEFAULT 0 CHECK (byte_count >= 0),
    hash_state text NOT NULL,
    -- the S3 multipart upload and its parts [{"number": n, "etag": "..."}], ascending
    upload_id text NOT NULL,
    parts jsonb NOT NULL DEFAULT '[]',
    -- the next part number a writer may reserve (numbers are never used twice)
    next_part integer NOT NULL DEFAULT 1,
    -- the object holding the last tail_length bytes, not yet a part (NULL: none)
    tail_name text,
    tail_length bigint NOT NULL DEFAULT 0 CHECK (tail_length >= 0 AND tail_length <= byte_count),
    -- compare-and-set: every change names the version it read and moves it on
    version bigint NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX upload_sessions_updated_idx ON upload_sessions (updated_at);

-- A session another request changed since this one read it.
ALTER TYPE status_word ADD VALUE 'upload_moved';
