-- Online garbage collection (docs/INTERNALS.md, "Garbage collection", draws the protocol).
--
-- What is garbage, in a repository: a manifest that no tag names, that no index of the repository
-- lists, and whose subject (a referrer's) is not in the repository; GC deleting a manifest queues
-- what it held (its blobs, the children it listed, its referrers), so an index's children and an
-- image's referrers go with it and a tagged index keeps them all. Across the instance: a blob that
-- no manifest of any repository references and that no upload or mount linked within the review
-- delay. Its row goes first; its file, on metad's word, after that is committed (blobd).
--
-- Feeding: triggers on the tables, so every path that removes a reference (a tag deleted or moved,
-- a manifest deleted, a repository or project deleted, bulk deletes and cleanup policies, a blob
-- unlinked) queues what it may have freed, with review_after = now() + the review delay; what GC's
-- own deletions free is due at once. Reviewing: gc_review_manifests and gc_review_blobs claim due
-- entries FOR UPDATE SKIP LOCKED, lock the object's row FOR UPDATE SKIP LOCKED (a push holding it
-- FOR KEY SHARE makes the review look again shortly), check again under that lock that nothing
-- references it, and delete it in the same transaction. Pushes hold the rows they re-use FOR KEY
-- SHARE (gc_blob_hold, registry_put_manifest, registry_mount_blob): either they hold it first and
-- the review finds their reference, or they wait for the review and find the row gone.

-- When an entry queued now is due: after the review delay, or at once for what GC's own deletion
-- frees (gc_review_* set registry.gc_cascade for their transaction).
CREATE OR REPLACE FUNCTION gc_review_after() RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN current_setting('registry.gc_cascade', true) = 'on' THEN now()
                ELSE now() + make_interval(secs => (SELECT s.review_delay FROM gc_settings s))
           END
$$;

-- The review delay metad's workers run with ([gc] review_delay, seconds).
CREATE OR REPLACE FUNCTION gc_set_review_delay(p_seconds integer) RETURNS void
LANGUAGE sql AS $$
    UPDATE gc_settings SET review_delay = p_seconds WHERE review_delay <> p_seconds
$$;

-- The advisory lock that orders the birth of a blob row against an orphan's file being queued.
CREATE OR REPLACE FUNCTION gc_lock_key(p_digest text) RETURNS bigint
LANGUAGE sql IMMUTABLE AS $$
    SELECT hashtextextended('gc_blob:' || p_digest, 0)
$$;

-- ---- feeding the queues ------------------------------------------------------------------------

-- manifests AFTER INSERT (statement): every stored manifest is reviewed after the delay (an
-- untagged one, pushed by digest, is garbage then unless something references it).
CREATE OR REPLACE FUNCTION gc_manifests_stored() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM new_rows) THEN
        RETURN NULL;  -- nothing to queue (a cascade that found no row)
    END IF;
    INSERT INTO gc_manifest_queue (manifest_id, review_after, event)
    SELECT n.id, gc_review_after(), 'manifest_upload' FROM new_rows n;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER gc_manifests_stored AFTER INSERT ON manifests
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION gc_manifests_stored();

-- manifests BEFORE DELETE (row): the children an index lists and the referrers of the manifest
-- may have lost their last reference. (Before: the references go with the row.)
CREATE OR REPLACE FUNCTION gc_manifest_deleting() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO gc_manifest_queue (manifest_id, review_after, event)
    SELECT c.id, gc_review_after(), 'index_delete'
      FROM manifest_references r
      JOIN manifests c ON c.repository_id = OLD.repository_id AND c.digest = r.child_digest
     WHERE r.parent_id = OLD.id AND c.id <> OLD.id
    UNION
    SELECT s.id, gc_review_after(), 'subject_delete'
      FROM manifests s
     WHERE s.repository_id = OLD.repository_id AND s.subject_digest = OLD.digest
       AND s.id <> OLD.id;
    RETURN OLD;
END
$$;

CREATE OR REPLACE TRIGGER gc_manifest_deleting BEFORE DELETE ON manifests
    FOR EACH ROW EXECUTE FUNCTION gc_manifest_deleting();

-- manifest_blobs and repository_blobs, AFTER INSERT or DELETE (statement): each blob of the rows
-- is queued for review, with the event the trigger names (TG_ARGV[0]). The blobs of deleted
-- manifests (manifest_delete); a blob uploaded or mounted (blob_link: kept for the delay, the
-- manifest naming it should come by then); a blob unlinked (blob_unlink: DELETE of a blob, a
-- repository deleted), which may have been held by that link alone.
CREATE OR REPLACE FUNCTION gc_blob_rows_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM changed_rows) THEN
        RETURN NULL;  -- nothing to queue (a cascade that found no row)
    END IF;
    INSERT INTO gc_blob_queue (digest, review_after, event)
    SELECT DISTINCT c.blob_digest, gc_review_after(), TG_ARGV[0] FROM changed_rows c;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER gc_manifest_blobs_deleted AFTER DELETE ON manifest_blobs
    REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT
    EXECUTE FUNCTION gc_blob_rows_changed('manifest_delete');

CREATE OR REPLACE TRIGGER gc_blob_links_added AFTER INSERT ON repository_blobs
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT
    EXECUTE FUNCTION gc_blob_rows_changed('blob_link');

CREATE OR REPLACE TRIGGER gc_blob_links_removed AFTER DELETE ON repository_blobs
    REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT
    EXECUTE FUNCTION gc_blob_rows_changed('blob_unlink');

-- tags AFTER DELETE (statement): the manifests of deleted tags (those still there: a manifest
-- deleted takes its tags with it).
CREATE OR REPLACE FUNCTION gc_tags_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM old_rows) THEN
        RETURN NULL;  -- nothing to queue (a cascade that found no row)
    END IF;
    INSERT INTO gc_manifest_queue (manifest_id, review_after, event)
    SELECT DISTINCT m.id, gc_review_after(), 'tag_delete'
      FROM old_rows o JOIN manifests m ON m.id = o.manifest_id;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER gc_tags_deleted AFTER DELETE ON tags
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION gc_tags_deleted();

-- tags AFTER UPDATE (row, the manifest changed): the manifest a tag moved away from.
CREATE OR REPLACE FUNCTION gc_tag_moved() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO gc_manifest_queue (manifest_id, review_after, event)
    VALUES (OLD.manifest_id, gc_review_after(), 'tag_switch');
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER gc_tag_moved AFTER UPDATE OF manifest_id ON tags
    FOR EACH ROW WHEN (OLD.manifest_id IS DISTINCT FROM NEW.manifest_id)
    EXECUTE FUNCTION gc_tag_moved();

-- blobs AFTER DELETE (statement): the files of deleted blob rows are to be deleted, and the
-- database says so in the same transaction (nothing lost, nothing leaked, whenever a crash).
CREATE OR REPLACE FUNCTION gc_blobs_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM old_rows) THEN
        RETURN NULL;  -- nothing to queue (a cascade that found no row)
    END IF;
    INSERT INTO gc_blob_files (digest, size)
    SELECT o.digest, o.size FROM old_rows o
    ON CONFLICT (digest) DO NOTHING;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER gc_blobs_deleted AFTER DELETE ON blobs
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION gc_blobs_deleted();

-- ---- what pushes hold ------------------------------------------------------------------------

-- Holds the blob row of p_digest for a link until the transaction ends (FOR KEY SHARE: a review
-- deleting it waits for us, or we wait for the review), creating it with p_size when there is
-- none. A file queued for deletion that blobd has not claimed yet is kept: it is this blob's
-- again. 'ok', or 'blob_deleting' when blobd is deleting the file: blobd stores the blob again
-- once that is done, and asks again.
CREATE OR REPLACE FUNCTION gc_blob_hold(p_digest text, p_size bigint) RETURNS status_word
LANGUAGE plpgsql AS $$
DECLARE
    v_claimed boolean;
BEGIN
    LOOP
        PERFORM 1 FROM blobs b WHERE b.digest = p_digest FOR KEY SHARE;
        IF FOUND THEN
            RETURN 'ok';
        END IF;
        -- no row: a new one is born under the digest's lock, which the orphan sweep takes too
        PERFORM pg_advisory_xact_lock(gc_lock_key(p_digest));
        PERFORM 1 FROM blobs b WHERE b.digest = p_digest;
        IF NOT FOUND THEN
            SELECT f.claimed_by IS NOT NULL INTO v_claimed
              FROM gc_blob_files f WHERE f.digest = p_digest FOR UPDATE;
            IF v_claimed THEN
                RETURN 'blob_deleting';
            ELSIF v_claimed IS NOT NULL THEN
                DELETE FROM gc_blob_files WHERE digest = p_digest;
            END IF;
            INSERT INTO blobs (digest, size) VALUES (p_digest, p_size)
                ON CONFLICT (digest) DO NOTHING;
            IF FOUND THEN
                RETURN 'ok';  -- our own new row: nobody else can lock it before we commit
            END IF;
        END IF;
        -- a row appeared meanwhile: hold it
    END LOOP;
END
$$;

-- A link that was already there, made again (an upload or a mount of a blob the repository
-- links): the blob is kept for the delay again, as a new link would be.
CREATE OR REPLACE FUNCTION gc_blob_relinked(p_digest text) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO gc_blob_queue (digest, review_after, event)
    VALUES (p_digest, gc_review_after(), 'blob_link')
$$;

-- A manifest pushed again (by tag or digest) that was already stored: reviewed after the delay
-- again, as a new one would be.
CREATE OR REPLACE FUNCTION gc_manifest_repushed(p_manifest bigint) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO gc_manifest_queue (manifest_id, review_after, event)
    VALUES (p_manifest, gc_review_after(), 'manifest_upload')
$$;

-- ---- reviewing -------------------------------------------------------------------------------

-- One batch of manifest reviews: up to p_limit due entries, oldest first. An entry whose
-- manifest a push holds is looked at again in a second; one whose manifest is gone is dropped.
-- A manifest is kept when a tag names it, an index of its repository lists it, its subject is in
-- its repository, or a later entry of its own is not due yet (pushed again: in review); else it
-- is deleted, and what it held is due at once. claimed: entries taken; reviewed: manifests
-- looked at; deleted: manifests deleted.
CREATE OR REPLACE FUNCTION gc_review_manifests(p_limit integer, OUT claimed integer,
                                               OUT reviewed integer, OUT deleted integer)
LANGUAGE plpgsql AS $$
DECLARE
    e record;
    m record;
BEGIN
    claimed := 0;
    reviewed := 0;
    deleted := 0;
    PERFORM set_config('registry.gc_cascade', 'on', true);
    FOR e IN SELECT q.id, q.manifest_id FROM gc_manifest_queue q
              WHERE q.review_after <= now()
              ORDER BY q.review_after
              LIMIT p_limit
                FOR UPDATE SKIP LOCKED LOOP
        claimed := claimed + 1;
        SELECT x.id, x.repository_id, x.digest, x.subject_digest INTO m
          FROM manifests x WHERE x.id = e.manifest_id
           FOR UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            IF EXISTS (SELECT 1 FROM manifests x WHERE x.id = e.manifest_id) THEN
                UPDATE gc_manifest_queue SET review_after = now() + interval '1 second'
                 WHERE id = e.id;
            ELSE
                DELETE FROM gc_manifest_queue WHERE id = e.id;
            END IF;
            CONTINUE;
        END IF;
        reviewed := reviewed + 1;
        IF EXISTS (SELECT 1 FROM tags t WHERE t.manifest_id = m.id)
           OR EXISTS (SELECT 1 FROM manifest_references r JOIN manifests p ON p.id = r.parent_id
                       WHERE r.child_digest = m.digest AND p.repository_id = m.repository_id
                         AND p.id <> m.id)
           OR (m.subject_digest IS NOT NULL
               AND EXISTS (SELECT 1 FROM manifests s
                            WHERE s.repository_id = m.repository_id
                              AND s.digest = m.subject_digest AND s.id <> m.id))
           OR EXISTS (SELECT 1 FROM gc_manifest_queue q
                       WHERE q.manifest_id = m.id AND q.review_after > now()) THEN
            DELETE FROM gc_manifest_queue WHERE id = e.id;
        ELSE
            DELETE FROM manifests WHERE id = m.id;
            DELETE FROM gc_manifest_queue WHERE id = e.id;
            deleted := deleted + 1;
        END IF;
    END LOOP;
END
$$;

-- One batch of blob reviews, as gc_review_manifests: a blob is kept when a manifest of any
-- repository references it, or a later entry of its own is not due yet (linked by an upload or a
-- mount within the delay); else its links and its row are deleted (the trigger queues its file),
-- with the other entries of the digest no review holds. bytes: the sizes of the deleted blobs.
CREATE OR REPLACE FUNCTION gc_review_blobs(p_limit integer, OUT claimed integer,
                                           OUT reviewed integer, OUT deleted integer,
                                           OUT bytes bigint)
LANGUAGE plpgsql AS $$
DECLARE
    e record;
    v_size bigint;
    v_links bigint;
    v_locked bigint;
BEGIN
    claimed := 0;
    reviewed := 0;
    deleted := 0;
    bytes := 0;
    PERFORM set_config('registry.gc_cascade', 'on', true);
    FOR e IN SELECT q.id, q.digest FROM gc_blob_queue q
              WHERE q.review_after <= now()
              ORDER BY q.review_after
              LIMIT p_limit
                FOR UPDATE SKIP LOCKED LOOP
        claimed := claimed + 1;
        SELECT b.size INTO v_size FROM blobs b WHERE b.digest = e.digest FOR UPDATE SKIP LOCKED;
        IF NOT FOUND THEN
            IF EXISTS (SELECT 1 FROM blobs b WHERE b.digest = e.digest) THEN
                UPDATE gc_blob_queue SET review_after = now() + interval '1 second'
                 WHERE id = e.id;
            ELSE
                DELETE FROM gc_blob_queue WHERE id = e.id;
            END IF;
            CONTINUE;
        END IF;
        reviewed := reviewed + 1;
        IF EXISTS (SELECT 1 FROM manifest_blobs mb WHERE mb.blob_digest = e.digest)
           OR EXISTS (SELECT 1 FROM gc_blob_queue q
                       WHERE q.digest = e.digest AND q.review_after > now()) THEN
            DELETE FROM gc_blob_queue WHERE id = e.id;
        ELSE
            -- its links, without waiting: one a writer holds (an unlink, a repository being
            -- deleted) makes us look again shortly, so a review never waits for a writer
            SELECT count(*) INTO v_links FROM repository_blobs rb WHERE rb.blob_digest = e.digest;
            SELECT count(*) INTO v_locked
              FROM (SELECT 1 FROM repository_blobs rb WHERE rb.blob_digest = e.digest
                       FOR UPDATE SKIP LOCKED) x;
            IF v_locked < v_links THEN
                UPDATE gc_blob_queue SET review_after = now() + interval '1 second'
                 WHERE id = e.id;
                CONTINUE;
            END IF;
            DELETE FROM repository_blobs WHERE blob_digest = e.digest;
            DELETE FROM blobs WHERE digest = e.digest;
            DELETE FROM gc_blob_queue
             WHERE id IN (SELECT q.id FROM gc_blob_queue q WHERE q.digest = e.digest
                             FOR UPDATE SKIP LOCKED);
            deleted := deleted + 1;
            bytes := bytes + v_size;
        END IF;
    END LOOP;
END
$$;

-- What the queues hold, for the metrics: entries, and how long the oldest due one has waited
-- past its review_after (0 when none is due; for files, since it was queued).
CREATE OR REPLACE FUNCTION gc_stats(OUT manifests bigint, OUT blobs bigint, OUT files bigint,
                                    OUT manifests_due_age double precision,
                                    OUT blobs_due_age double precision,
                                    OUT files_age double precision)
LANGUAGE sql STABLE AS $$
    SELECT (SELECT count(*) FROM gc_manifest_queue),
           (SELECT count(*) FROM gc_blob_queue),
           (SELECT count(*) FROM gc_blob_files),
           coalesce(extract(epoch FROM now() - (SELECT min(review_after) FROM gc_manifest_queue
                                                 WHERE review_after <= now())), 0)::float8,
           coalesce(extract(epoch FROM now() - (SELECT min(review_after) FROM gc_blob_queue
                                                 WHERE review_after <= now())), 0)::float8,
           coalesce(extract(epoch FROM now() - (SELECT min(queued_at) FROM gc_blob_files)),
                    0)::float8
$$;

-- ---- blob files (blobd, through metad's /internal/gc endpoints) --------------------------------

-- Up to p_limit files to delete for blobd on host p_host, with a lease of p_lease seconds: those
-- nobody claimed, those whose lease ran out, and this host's own unacknowledged ones (only the
-- holder of the storage's GC lock asks, so a claim of its host is a dead worker's). A row that a
-- blob has again (a safety net: gc_blob_hold removes it first) is dropped.
CREATE OR REPLACE FUNCTION gc_files_claim(p_host text, p_lease integer, p_limit integer)
RETURNS TABLE (digest text, size bigint)
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM gc_blob_files f
     WHERE f.digest IN (SELECT x.digest FROM gc_blob_files x
                         WHERE EXISTS (SELECT 1 FROM blobs b WHERE b.digest = x.digest)
                         ORDER BY x.queued_at LIMIT p_limit FOR UPDATE SKIP LOCKED);
    RETURN QUERY
    UPDATE gc_blob_files f
       SET claimed_by = p_host, claimed_until = now() + make_interval(secs => p_lease),
           attempts = f.attempts + 1
     WHERE f.digest IN (SELECT x.digest FROM gc_blob_files x
                         WHERE (x.claimed_by IS NULL OR x.claimed_by = p_host
                                OR x.claimed_until < now())
                           AND NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = x.digest)
                         ORDER BY x.queued_at LIMIT p_limit FOR UPDATE SKIP LOCKED)
    RETURNING f.digest, f.size;
END
$$;

-- blobd deleted these files (or found them gone): their rows go. The number acknowledged.
CREATE OR REPLACE FUNCTION gc_files_done(p_host text, p_digests text[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    DELETE FROM gc_blob_files WHERE digest = ANY (p_digests) AND claimed_by = p_host;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- Files blobd placed whose link never came (its placement journal, older than [gc]
-- orphan_grace): each one that no blob row names is queued for deletion, under the digest's lock
-- (gc_blob_hold takes it before a new row is born). Answers the digests queued.
CREATE OR REPLACE FUNCTION gc_files_orphans(p_digests text[]) RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    d text;
BEGIN
    FOR d IN SELECT DISTINCT x FROM unnest(p_digests) x ORDER BY x LOOP
        PERFORM pg_advisory_xact_lock(gc_lock_key(d));
        IF NOT EXISTS (SELECT 1 FROM blobs b WHERE b.digest = d) THEN
            INSERT INTO gc_blob_files (digest) VALUES (d) ON CONFLICT (digest) DO NOTHING;
            RETURN NEXT d;
        END IF;
    END LOOP;
END
$$;
