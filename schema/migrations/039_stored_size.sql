-- The bytes blobs take on disk (after compression at rest), for administrators: per blob, told by
-- blobd when it changes (POST /internal/blobs/stored), and per top-level namespace over the same
-- distinct blobs usage counts (schema/functions/usage.sql keeps it with the usage figure).

-- NULL: the file is as pushed (plain), so it takes size bytes.
ALTER TABLE blobs ADD COLUMN stored_size bigint CHECK (stored_size >= 0);

-- The stored bytes of the blobs a top-level namespace counts (next to size, their original bytes).
-- Every blob stored so far counts as pushed (stored_size NULL) until blobd tells its stored size:
-- after a compression, or when the blob is pushed again and its file is found compressed.
ALTER TABLE registry_usage_roots ADD COLUMN stored_size bigint;
UPDATE registry_usage_roots SET stored_size = size;
ALTER TABLE registry_usage_roots ALTER COLUMN stored_size SET NOT NULL,
                                 ALTER COLUMN stored_size SET DEFAULT 0;

-- A blob's stored size changed: the namespaces counting it.
CREATE INDEX registry_usage_root_blobs_digest_idx ON registry_usage_root_blobs (blob_digest);
