-- The storage gauges of an instance whose blobs live in object storage ([blobd] storage = s3):
-- how many blobs the database names and the bytes they take, by form (plain: stored_size NULL,
-- the object holds size bytes; zstd: the compressed object holds stored_size bytes).
--
-- Rows of differences: the triggers of schema/functions/blob_tally.sql append one row per form a
-- statement on blobs changed, in that statement's transaction, and a read (blob_tally_read, on
-- each scrape of blobd's metrics) sums the rows after folding them into one per form. Appending
-- takes no lock another writer waits for, so pushes and garbage collection never take turns
-- here, and the sums are exact at every commit. No key: rows are only appended and folded.
CREATE TABLE blob_tally (
    zstd boolean NOT NULL,
    files bigint NOT NULL,
    stored bigint NOT NULL,
    original bigint NOT NULL
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000,
        autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 1000);

-- The blobs there already.
INSERT INTO blob_tally (zstd, files, stored, original)
SELECT b.stored_size IS NOT NULL, count(*), sum(coalesce(b.stored_size, b.size)), sum(b.size)
  FROM blobs b GROUP BY 1;
