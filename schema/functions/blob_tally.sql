-- The storage gauges kept from the blob rows (table blob_tally, schema/migrations/047): every
-- INSERT, DELETE and UPDATE of blobs appends its differences by form, in its own transaction;
-- blobd reads the sums (blob_tally_read) when its metrics are scraped with storage = s3
-- (docs/S3.md, "The storage gauges").

-- blobs AFTER INSERT / DELETE / UPDATE (statement): one row of differences per form the
-- statement changed (an UPDATE takes the old rows back and adds the new ones: a stored size told
-- after a compression moves a blob from plain to zstd).
CREATE OR REPLACE FUNCTION blob_tally_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO blob_tally (zstd, files, stored, original)
        SELECT n.stored_size IS NOT NULL, count(*), sum(coalesce(n.stored_size, n.size)),
               sum(n.size)
          FROM new_rows n GROUP BY 1;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO blob_tally (zstd, files, stored, original)
        SELECT o.stored_size IS NOT NULL, -count(*), -sum(coalesce(o.stored_size, o.size)),
               -sum(o.size)
          FROM old_rows o GROUP BY 1;
    ELSE
        INSERT INTO blob_tally (zstd, files, stored, original)
        SELECT x.zstd, sum(x.files), sum(x.stored), sum(x.original)
          FROM (SELECT n.stored_size IS NOT NULL AS zstd, 1 AS files,
                       coalesce(n.stored_size, n.size) AS stored, n.size AS original
                  FROM new_rows n
                UNION ALL
                SELECT o.stored_size IS NOT NULL, -1, -coalesce(o.stored_size, o.size), -o.size
                  FROM old_rows o) x
         GROUP BY x.zstd
        HAVING sum(x.files) <> 0 OR sum(x.stored) <> 0 OR sum(x.original) <> 0;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER blob_tally_insert AFTER INSERT ON blobs
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION blob_tally_changed();
CREATE OR REPLACE TRIGGER blob_tally_delete AFTER DELETE ON blobs
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION blob_tally_changed();
CREATE OR REPLACE TRIGGER blob_tally_update AFTER UPDATE ON blobs
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION blob_tally_changed();

-- The gauges: blobs, bytes stored and bytes as pushed, by form ('plain', 'zstd'), both forms
-- always answered. The rows appended since the last read are folded into one per form first,
-- by one reader at a time (the others just sum: a fold changes no sum); a row appended by a
-- transaction not committed yet is left for the next fold.
CREATE OR REPLACE FUNCTION blob_tally_read()
RETURNS TABLE (form text, files bigint, stored bigint, original bigint)
LANGUAGE plpgsql AS $$
BEGIN
    IF pg_try_advisory_xact_lock(hashtextextended('blob_tally', 0)) THEN
        WITH gone AS (DELETE FROM blob_tally RETURNING *)
        INSERT INTO blob_tally (zstd, files, stored, original)
        SELECT g.zstd, sum(g.files), sum(g.stored), sum(g.original) FROM gone g GROUP BY g.zstd;
    END IF;
    RETURN QUERY
    SELECT CASE WHEN z.zstd THEN 'zstd' ELSE 'plain' END, coalesce(sum(t.files), 0)::bigint,
           coalesce(sum(t.stored), 0)::bigint, coalesce(sum(t.original), 0)::bigint
      FROM (VALUES (false), (true)) AS z(zstd)
      LEFT JOIN blob_tally t ON t.zstd = z.zstd
     GROUP BY z.zstd ORDER BY z.zstd;
END
$$;
