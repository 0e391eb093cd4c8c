-- Online garbage collection (docs/INTERNALS.md, "Garbage collection"): review queues fed by
-- triggers wherever a reference goes (schema/functions/gc.sql), the files blobd is to delete, and
-- the review delay the triggers read.
--
-- The queues are append-only: a trigger only ever inserts, so no writer waits for another on a
-- queue row and none deadlocks there; an object queued twice is reviewed twice (cheaply). An
-- entry names its object without a foreign key: a manifest or blob deleted meanwhile leaves an
-- entry that its review drops.

-- The review delay every entry gets (review_after = now() + review_delay), written by metad's
-- workers from [gc] review_delay when they start. One row.
CREATE TABLE gc_settings (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    review_delay integer NOT NULL DEFAULT 86400 CHECK (review_delay >= 0)
);
INSERT INTO gc_settings DEFAULT VALUES;

-- Manifests that may have lost their last reference (a tag deleted or moved, an index or subject
-- deleted), and every manifest when it is stored (untagged, it is garbage after the delay).
CREATE TABLE gc_manifest_queue (
    id bigserial PRIMARY KEY,
    manifest_id bigint NOT NULL,
    review_after timestamptz NOT NULL,
    event text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX gc_manifest_queue_due_idx ON gc_manifest_queue (review_after);
CREATE INDEX gc_manifest_queue_manifest_idx ON gc_manifest_queue (manifest_id, review_after);

-- Blobs that may have lost their last reference (a manifest deleted, a link removed), and every
-- blob linked by an upload or a mount (unreferenced, it is garbage after the delay).
CREATE TABLE gc_blob_queue (
    id bigserial PRIMARY KEY,
    digest text COLLATE "C" NOT NULL,
    review_after timestamptz NOT NULL,
    event text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX gc_blob_queue_due_idx ON gc_blob_queue (review_after);
CREATE INDEX gc_blob_queue_digest_idx ON gc_blob_queue (digest, review_after);

-- Blob files to delete: their row is gone (or never was: an orphan blobd found). blobd claims a
-- batch for its host (claimed_by) with a lease, deletes the files and acknowledges, which removes
-- the rows; a claim that is never acknowledged is taken again. A link of the digest cancels an
-- unclaimed row and waits for a claimed one (gc_blob_hold).
CREATE TABLE gc_blob_files (
    digest text COLLATE "C" PRIMARY KEY,
    size bigint,                            -- the blob's size when its row went; NULL: an orphan
    queued_at timestamptz NOT NULL DEFAULT now(),
    claimed_by text,
    claimed_until timestamptz,
    attempts integer NOT NULL DEFAULT 0
);
CREATE INDEX gc_blob_files_queued_idx ON gc_blob_files (queued_at);

-- A manifest's review asks whether an index of its repository still lists it (and usage, whether
-- a manifest pushed again is reachable).
CREATE INDEX manifest_references_child_idx ON manifest_references (child_digest);

-- A blob link refused because the blob's file is being deleted: blobd stores it again and retries.
ALTER TYPE status_word ADD VALUE 'blob_deleting';
