-- Exact container registry usage (GitLab's definition) and the storage limits of top-level
-- namespaces (tables: migrations/034_usage.sql).
--
-- Usage is the distinct layer and config blobs (manifest_blobs) of every manifest a tag reaches,
-- directly or through tagged indexes, nested: per project over its repositories, per top-level
-- namespace over its projects, each blob once however many repositories share it. Triggers on
-- tags, manifests, manifest_blobs, manifest_references, projects and namespaces keep reference
-- counts at three levels, and a count going 0 <-> 1 moves the level above:
--
--   tag added / removed, index reached   -> registry_usage_manifests.refs      (per manifest)
--   manifest reachable / not any more    -> registry_usage_project_blobs.refs  (per project, blob)
--   blob counted in a project / not      -> the project's size, and
--                                           registry_usage_root_blobs.refs     (per namespace, blob)
--   blob counted in a namespace / not    -> the namespace's size, and its stored size (the
--                                           bytes its blobs take on disk, for administrators)
--   a blob's stored size changed         -> the stored size of the namespaces counting it
--                                           (usage_blob_stored_set)
--
-- Exact under concurrency: every count row changes by INSERT ... ON CONFLICT DO UPDATE or
-- UPDATE, which serialise on the row, and the one transaction that moves a count 0 <-> 1 (it reads
-- the new value back) is the one that moves the level above. Two pushes tagging images that share
-- a blob cannot both count it, nor both take it back.
--
-- What a push holds, and for how long. The counts of manifests and of a project's blobs are
-- changed by the push's own statement, before it locks its repository's row (the tag triggers
-- run before registry.sql's tags_version triggers, by name) and in one pass ordered by key. What
-- projects and namespaces share (sizes, a namespace's blobs) is queued (registry_usage_pending)
-- and applied when the transaction commits, by a deferred trigger, in one order for everyone:
-- project rows, then a namespace's blob rows by (namespace, digest), then namespace rows. The
-- namespace a project's change counts in is read there, under the project's row lock, which a
-- transfer holds (after every repository of the projects it moves) while it moves their blobs:
-- the change counts where the project is when it commits. So no two writers wait on each other
-- in a circle, and the repository row pushes take turns on is held for little more than the
-- commit.
--
-- Deletes: a manifest or a project is forgotten by a row trigger before its delete, while what it
-- names is still there; the cascades that follow find nothing to count (PostgreSQL fires a
-- cascade's statement triggers after the parent's, when the rows they would read are gone).
--
-- What runs on every push is planned as key lookups whatever the statistics say: each row of an
-- array probes an index, and "OFFSET 0" keeps the planner from turning a probe into a scan. Its
-- statements are planned once per connection (plan_cache_mode = force_generic_plan): with array
-- parameters PostgreSQL otherwise judged a plan for each call's values worth making again on
-- every call, which was a third of a push's instructions.

-- ---- sizes as people read them -----------------------------------------------------------------

-- "9.5 MiB (9961472 bytes)", "512 bytes".
CREATE OR REPLACE FUNCTION usage_size_text(p_bytes bigint) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_bytes < 1024 THEN p_bytes || ' bytes'
                ELSE to_char(p_bytes / 1024.0 ^ e, 'FM9999990.0') || ' '
                     || (ARRAY['KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'])[e]
                     || ' (' || p_bytes || ' bytes)' END
      FROM (SELECT least(6, floor(log(1024.0, greatest(p_bytes, 1)::numeric)))::integer AS e) x
$$;

-- ---- counting ------------------------------------------------------------------------------------

-- The top-level namespace a project is in now.
CREATE OR REPLACE FUNCTION usage_project_root(p_project bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT coalesce(n.traversal_ids[1], n.id)
      FROM projects p JOIN namespaces n ON n.id = p.namespace_id WHERE p.id = p_project
$$;

-- Queues changes for the commit (usage_apply_pending): a blob counted in a project or not any
-- more (p_projects, with NULL namespaces: the commit reads the project's), or in a namespace
-- (p_roots, with NULL projects).
CREATE OR REPLACE FUNCTION usage_queue(p_projects bigint[], p_roots bigint[], p_digests text[],
                                       p_deltas integer[]) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO registry_usage_pending AS q (xid, project_ids, root_ids, blob_digests, deltas)
    SELECT pg_current_xact_id(), p_projects, p_roots, p_digests, p_deltas
     WHERE cardinality(p_digests) > 0
    ON CONFLICT (xid) DO UPDATE
        SET project_ids = q.project_ids || EXCLUDED.project_ids,
            root_ids = q.root_ids || EXCLUDED.root_ids,
            blob_digests = q.blob_digests || EXCLUDED.blob_digests,
            deltas = q.deltas || EXCLUDED.deltas
$$;

-- Adds p_deltas to the counts of blobs in projects (reachable manifests naming them came or
-- went), in one pass ordered by (project, digest), and queues those that start or stop counting.
CREATE OR REPLACE FUNCTION usage_blob_deltas(p_projects bigint[], p_digests text[],
                                             p_deltas integer[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_down boolean;
BEGIN
    WITH d AS (
        SELECT x.p, x.dg, sum(x.delta)::integer AS delta
          FROM unnest(p_projects, p_digests, p_deltas) AS x(p, dg, delta)
         GROUP BY x.p, x.dg HAVING sum(x.delta) <> 0),
    up AS (
        INSERT INTO registry_usage_project_blobs AS u (project_id, blob_digest, refs)
        SELECT d.p, d.dg, d.delta FROM d ORDER BY d.p, d.dg
        ON CONFLICT (project_id, blob_digest) DO UPDATE SET refs = u.refs + EXCLUDED.refs
        RETURNING u.project_id, u.blob_digest, u.refs),
    changed AS (
        SELECT up.project_id, up.blob_digest,
               CASE WHEN up.refs > 0 AND up.refs - d.delta <= 0 THEN 1
                    WHEN up.refs <= 0 AND up.refs - d.delta > 0 THEN -1 END AS dir
          FROM up JOIN d ON d.p = up.project_id AND d.dg = up.blob_digest),
    queued AS (
        INSERT INTO registry_usage_pending AS q (xid, project_ids, root_ids, blob_digests, deltas)
        SELECT pg_current_xact_id(), array_agg(c.project_id), array_agg(NULL::bigint),
               array_agg(c.blob_digest), array_agg(c.dir)
          FROM changed c WHERE c.dir IS NOT NULL HAVING count(*) > 0
        ON CONFLICT (xid) DO UPDATE
            SET project_ids = q.project_ids || EXCLUDED.project_ids,
                root_ids = q.root_ids || EXCLUDED.root_ids,
                blob_digests = q.blob_digests || EXCLUDED.blob_digests,
                deltas = q.deltas || EXCLUDED.deltas)
    SELECT bool_or(d.delta < 0) INTO v_down FROM d;
    IF v_down THEN
        DELETE FROM registry_usage_project_blobs u
         USING unnest(p_projects, p_digests) AS x(p, dg)
         WHERE u.project_id = x.p AND u.blob_digest = x.dg AND u.refs <= 0;
    END IF;
END
$$;

-- Adds p_deltas to the reference counts of manifests p_ids (a tag came or went, or an index
-- naming it became reachable or not), then follows each manifest that becomes reachable (0 -> n)
-- or unreachable (n -> 0) to the manifests its index lists in its repository, level by level,
-- and at the end to the blobs of all of them (usage_blob_deltas, one ordered pass).
CREATE OR REPLACE FUNCTION usage_manifest_deltas(p_ids bigint[], p_deltas integer[]) RETURNS void
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    v_ids bigint[] := p_ids;
    v_deltas integer[] := p_deltas;
    v_counted bigint[];
    v_down boolean;
    v_up bigint[];
    v_level integer := 0;
    v_bprojects bigint[] := '{}';
    v_bdigests text[] := '{}';
    v_bdirs integer[] := '{}';
    b record;
BEGIN
    WHILE cardinality(v_ids) > 0 LOOP
        v_level := v_level + 1;
        IF v_level > 64 THEN  -- digests make cycles impossible; depth is what clients nest
            RAISE EXCEPTION 'usage: manifests nested more than 64 deep';
        END IF;
        v_counted := v_ids;
        -- the counts (one pass by id); of the manifests whose reachability changed (+1
        -- reachable, -1 not), the blobs they name and the manifests their indexes list
        WITH d AS (
            SELECT x.id, sum(x.delta)::integer AS delta
              FROM unnest(v_ids, v_deltas) AS x(id, delta)
             GROUP BY x.id HAVING sum(x.delta) <> 0),
        inc AS (
            INSERT INTO registry_usage_manifests AS u (manifest_id, project_id, repository_id, refs)
            SELECT d.id, m.project_id, m.repository_id, d.delta
              FROM d CROSS JOIN LATERAL (SELECT r.project_id, m.repository_id FROM manifests m
                                           JOIN repositories r ON r.id = m.repository_id
                                          WHERE m.id = d.id OFFSET 0) m
             WHERE d.delta > 0
             ORDER BY d.id
            ON CONFLICT (manifest_id) DO UPDATE SET refs = u.refs + EXCLUDED.refs
            RETURNING u.manifest_id, u.project_id, u.repository_id, u.refs),
        dec AS (
            UPDATE registry_usage_manifests u SET refs = u.refs + d.delta
              FROM d WHERE d.delta < 0 AND u.manifest_id = d.id
            RETURNING u.manifest_id, u.project_id, u.repository_id, u.refs, d.delta),
        changed AS (
            SELECT i.manifest_id, i.project_id, i.repository_id, 1 AS dir
              FROM inc i JOIN d ON d.id = i.manifest_id WHERE i.refs = d.delta
            UNION ALL
            SELECT c.manifest_id, c.project_id, c.repository_id, -1 FROM dec c
             WHERE c.refs <= 0 AND c.refs - c.delta > 0)
        SELECT dn.down, bl.p, bl.dg, bl.dir, ch.ids, ch.dirs
          INTO b
          FROM (SELECT bool_or(delta < 0) AS down FROM d) dn,
               (SELECT array_agg(c.project_id) AS p, array_agg(mb.blob_digest) AS dg,
                       array_agg(c.dir) AS dir
                  FROM changed c
                 CROSS JOIN LATERAL (SELECT mb.blob_digest FROM manifest_blobs mb
                                      WHERE mb.manifest_id = c.manifest_id OFFSET 0) mb) bl,
               (SELECT array_agg(m.id) AS ids, array_agg(c.dir) AS dirs
                  FROM changed c
                 CROSS JOIN LATERAL (SELECT mr.child_digest FROM manifest_references mr
                                      WHERE mr.parent_id = c.manifest_id OFFSET 0) mr
                 CROSS JOIN LATERAL (SELECT m.id FROM manifests m
                                      WHERE m.repository_id = c.repository_id
                                        AND m.digest = mr.child_digest OFFSET 0) m) ch;
        IF b.down THEN
            DELETE FROM registry_usage_manifests u USING unnest(v_counted) AS x(id)
             WHERE u.manifest_id = x.id AND u.refs <= 0;
        END IF;
        IF b.p IS NOT NULL THEN
            v_bprojects := v_bprojects || b.p;
            v_bdigests := v_bdigests || b.dg;
            v_bdirs := v_bdirs || b.dir;
        END IF;
        v_ids := b.ids;
        v_deltas := b.dirs;
        IF v_ids IS NOT NULL AND 1 = ANY (v_deltas) THEN
            -- one about to be counted is locked first, so that a concurrent delete of it either
            -- waits for this transaction or is seen by it (and it is left out)
            v_up := ARRAY(SELECT m.id FROM manifests m
                           WHERE m.id = ANY (ARRAY(SELECT x.id FROM unnest(v_ids, v_deltas)
                                                                    AS x(id, delta)
                                                    WHERE x.delta > 0))
                           ORDER BY m.id FOR KEY SHARE);
            SELECT array_agg(x.id), array_agg(x.delta) INTO v_ids, v_deltas
              FROM unnest(v_ids, v_deltas) AS x(id, delta)
             WHERE x.delta < 0 OR x.id = ANY (v_up);
        END IF;
    END LOOP;
    IF cardinality(v_bprojects) > 0 THEN
        PERFORM usage_blob_deltas(v_bprojects, v_bdigests, v_bdirs);
    END IF;
END
$$;

-- Applies the transaction's queue when it commits (the constraint trigger registry_usage_commit):
-- the blobs' rows held (their stored sizes), projects' sizes and their namespaces (read here,
-- under the projects' row locks), namespaces' blob counts in (namespace, digest) order, then
-- namespaces' sizes and stored sizes.
CREATE OR REPLACE FUNCTION usage_apply_pending() RETURNS trigger
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
DECLARE
    q registry_usage_pending%ROWTYPE;
    v_others bigint[];
    v_roots bigint[];
    v_digests text[];
BEGIN
    DELETE FROM registry_usage_pending WHERE xid = pg_current_xact_id() RETURNING * INTO q;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    -- the blobs' rows, in digest order, held until the commit (FOR KEY SHARE, as a push holds
    -- what it names): a change of a blob's stored size (usage_blob_stored_set) locks its row FOR
    -- UPDATE before it reads which namespaces count the blob, so either it waits for this commit
    -- and finds the namespaces it adds, or this pass waits for it and reads the new stored size
    PERFORM 1 FROM blobs b WHERE b.digest = ANY (q.blob_digests) ORDER BY b.digest FOR KEY SHARE;
    -- the projects' rows, locked in id order (one project, the usual case: the UPDATE below
    -- locks it)
    v_others := array_remove(array_remove(q.project_ids, NULL),
                             (array_remove(q.project_ids, NULL))[1]);
    IF cardinality(v_others) > 0 THEN
        PERFORM 1 FROM registry_usage_projects WHERE project_id = ANY (q.project_ids)
         ORDER BY project_id FOR UPDATE;
    END IF;
    WITH x AS (
        SELECT x.p, x.r, x.dg, x.delta, b.size, b.stored
          FROM unnest(q.project_ids, q.root_ids, q.blob_digests, q.deltas) AS x(p, r, dg, delta)
         CROSS JOIN LATERAL (SELECT b.size, coalesce(b.stored_size, b.size) AS stored
                               FROM blobs b WHERE b.digest = x.dg OFFSET 0) b),
    sized AS (  -- the projects' sizes, and the namespaces they count in now
        UPDATE registry_usage_projects u SET size = u.size + s.delta
          FROM (SELECT x.p, sum(x.delta * x.size) AS delta FROM x
                 WHERE x.p IS NOT NULL GROUP BY x.p) s
         WHERE u.project_id = s.p
        RETURNING u.project_id, u.root_id),
    e AS (
        SELECT coalesce(x.r, sized.root_id) AS r, x.dg, x.delta, x.size, x.stored
          FROM x LEFT JOIN sized ON sized.project_id = x.p),
    d AS (
        SELECT e.r, e.dg, sum(e.delta)::integer AS delta, min(e.size) AS size,
               min(e.stored) AS stored FROM e
         WHERE e.r IS NOT NULL GROUP BY e.r, e.dg HAVING sum(e.delta) <> 0),
    up AS (
        INSERT INTO registry_usage_root_blobs AS u (root_id, blob_digest, refs)
        SELECT d.r, d.dg, d.delta FROM d ORDER BY d.r, d.dg
        ON CONFLICT (root_id, blob_digest) DO UPDATE SET refs = u.refs + EXCLUDED.refs
        RETURNING u.root_id, u.blob_digest, u.refs),
    dirs AS (
        SELECT up.root_id, d.size, d.stored,
               CASE WHEN up.refs > 0 AND up.refs - d.delta <= 0 THEN 1
                    WHEN up.refs <= 0 AND up.refs - d.delta > 0 THEN -1
                    ELSE 0 END AS dir
          FROM up JOIN d ON d.r = up.root_id AND d.dg = up.blob_digest),
    sizes AS (
        SELECT dirs.root_id, sum(dirs.dir * dirs.size)::bigint AS delta,
               sum(dirs.dir * dirs.stored)::bigint AS stored
          FROM dirs GROUP BY dirs.root_id),
    grown AS (
        INSERT INTO registry_usage_roots AS u (namespace_id, size, stored_size)
        SELECT s.root_id, s.delta, s.stored FROM sizes s
         WHERE s.delta <> 0 OR s.stored <> 0 ORDER BY s.root_id
        ON CONFLICT (namespace_id) DO UPDATE
            SET size = u.size + EXCLUDED.size, stored_size = u.stored_size + EXCLUDED.stored_size)
    SELECT array_agg(d.r), array_agg(d.dg) INTO v_roots, v_digests FROM d WHERE d.delta < 0;
    IF v_roots IS NOT NULL THEN  -- counts and sizes that went down may have reached 0
        DELETE FROM registry_usage_root_blobs u
         USING unnest(v_roots, v_digests) AS x(r, dg)
         WHERE u.root_id = x.r AND u.blob_digest = x.dg AND u.refs <= 0;
        DELETE FROM registry_usage_roots
         WHERE namespace_id = ANY (v_roots) AND size = 0 AND stored_size = 0;
    END IF;
    RETURN NULL;
END
$$;

-- (a constraint trigger cannot be replaced in place: it is made again)
DROP TRIGGER IF EXISTS registry_usage_commit ON registry_usage_pending;
CREATE CONSTRAINT TRIGGER registry_usage_commit AFTER INSERT ON registry_usage_pending
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION usage_apply_pending();

-- Moves projects whose top-level namespace changed (a transfer of the project or of a group
-- above it): every repository of theirs and their usage rows are locked (pushes in flight finish
-- first), and their blobs leave the old namespace's counts and join the new one's at the commit.
-- Cost: the projects' distinct blobs.
CREATE OR REPLACE FUNCTION usage_move_projects(p_projects bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v record;
BEGIN
    PERFORM 1 FROM repositories WHERE project_id = ANY (p_projects) ORDER BY id
        FOR NO KEY UPDATE;
    FOR v IN SELECT u.project_id, u.root_id AS old_root
               FROM registry_usage_projects u
              WHERE u.project_id = ANY (p_projects)
              ORDER BY u.project_id FOR UPDATE LOOP
        PERFORM usage_queue(array_agg(NULL::bigint), array_agg(x.r), array_agg(x.dg),
                            array_agg(x.delta))
           FROM (SELECT v.old_root AS r, pb.blob_digest AS dg, -1 AS delta
                   FROM registry_usage_project_blobs pb
                  WHERE pb.project_id = v.project_id AND pb.refs > 0
                 UNION ALL
                 SELECT usage_project_root(v.project_id), pb.blob_digest, 1
                   FROM registry_usage_project_blobs pb
                  WHERE pb.project_id = v.project_id AND pb.refs > 0) x
          WHERE usage_project_root(v.project_id) IS DISTINCT FROM v.old_root;
        UPDATE registry_usage_projects SET root_id = usage_project_root(v.project_id)
         WHERE project_id = v.project_id AND root_id IS DISTINCT FROM usage_project_root(v.project_id);
    END LOOP;
END
$$;

-- ---- the triggers ------------------------------------------------------------------------------

-- A tag added or moved, removed. Named to run before registry.sql's tags_version triggers
-- (PostgreSQL runs a table's triggers of one kind in name order), which lock the tag's
-- repository row until the commit: the counting is done by then.
CREATE OR REPLACE FUNCTION usage_tag_written() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        -- another tag of a manifest counted already: one more reference, nothing else
        UPDATE registry_usage_manifests SET refs = refs + 1 WHERE manifest_id = NEW.manifest_id;
        IF NOT FOUND THEN
            PERFORM usage_manifest_deltas(ARRAY[NEW.manifest_id], ARRAY[1]);
        END IF;
    ELSIF NEW.manifest_id <> OLD.manifest_id THEN
        PERFORM usage_manifest_deltas(ARRAY[OLD.manifest_id, NEW.manifest_id], ARRAY[-1, 1]);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION usage_tags_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_ids bigint[];
BEGIN
    v_ids := ARRAY(SELECT manifest_id FROM old_rows);
    IF cardinality(v_ids) > 0 THEN
        PERFORM usage_manifest_deltas(v_ids, array_fill(-1, ARRAY[cardinality(v_ids)]));
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER tags_usage_write AFTER INSERT OR UPDATE OF manifest_id ON tags
    FOR EACH ROW EXECUTE FUNCTION usage_tag_written();
CREATE OR REPLACE TRIGGER tags_usage_delete AFTER DELETE ON tags
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION usage_tags_deleted();

-- A manifest stored where a reachable index of its repository names its digest (pushed again
-- after a delete) is reachable from the start.
CREATE OR REPLACE FUNCTION usage_manifests_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_ids bigint[];
    v_deltas integer[];
BEGIN
    IF NOT EXISTS (SELECT 1 FROM new_rows n
                    CROSS JOIN LATERAL (SELECT 1 FROM manifest_references mr
                                         WHERE mr.child_digest = n.digest LIMIT 1) mr) THEN
        RETURN NULL;
    END IF;
    SELECT array_agg(n.id), array_agg(c.refs) INTO v_ids, v_deltas
      FROM new_rows n
     CROSS JOIN LATERAL (SELECT count(*)::integer AS refs
                           FROM (SELECT mr.parent_id FROM manifest_references mr
                                  WHERE mr.child_digest = n.digest OFFSET 0) mr
                          CROSS JOIN LATERAL (SELECT 1 FROM registry_usage_manifests u
                                               WHERE u.manifest_id = mr.parent_id
                                                 AND u.repository_id = n.repository_id
                                              OFFSET 0) u) c
     WHERE c.refs > 0;
    IF v_ids IS NOT NULL THEN
        PERFORM usage_manifest_deltas(v_ids, v_deltas);
        -- its blobs and index entries, written next, count too (the row triggers below)
        PERFORM set_config('registry.usage_new_reachable', 'on', true);
    END IF;
    RETURN NULL;
END
$$;

-- A manifest about to be deleted while reachable stops counting what it names (a row trigger
-- before the delete: its blobs and index entries are still there, the cascades that take them
-- and its tags come after and find it forgotten). A tag or an index being counted for it holds
-- a lock on its row that this delete waits for.
CREATE OR REPLACE FUNCTION usage_manifest_deleting() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_refs integer;
BEGIN
    SELECT refs INTO v_refs FROM registry_usage_manifests WHERE manifest_id = OLD.id;
    IF FOUND THEN
        PERFORM usage_manifest_deltas(ARRAY[OLD.id], ARRAY[-v_refs]);
    END IF;
    RETURN OLD;
END
$$;

CREATE OR REPLACE TRIGGER usage_manifests_insert AFTER INSERT ON manifests
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION usage_manifests_inserted();
CREATE OR REPLACE TRIGGER usage_manifests_delete BEFORE DELETE ON manifests
    FOR EACH ROW EXECUTE FUNCTION usage_manifest_deleting();

-- Blobs (manifest_blobs) or index entries (manifest_references) of a reachable manifest, added
-- or removed. Added: only to a manifest pushed again under a reachable index (the rows of a
-- manifest are written with it, in its transaction, and nothing else can make it reachable
-- meanwhile), so these run only after usage_manifests_inserted() found one (a setting of the
-- transaction, tested before any call). Removed: by hand (a deleted manifest is forgotten before
-- its cascades run).
CREATE OR REPLACE FUNCTION usage_manifest_blobs_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    b record;
BEGIN
    IF TG_LEVEL = 'ROW' THEN
        SELECT ARRAY[u.project_id] AS p, ARRAY[NEW.blob_digest] AS dg, ARRAY[1] AS dir INTO b
          FROM registry_usage_manifests u WHERE u.manifest_id = NEW.manifest_id;
    ELSE
        SELECT array_agg(u.project_id) AS p, array_agg(c.blob_digest) AS dg,
               array_agg(-1) AS dir INTO b
          FROM changed_rows c
         CROSS JOIN LATERAL (SELECT u.project_id FROM registry_usage_manifests u
                              WHERE u.manifest_id = c.manifest_id OFFSET 0) u;
    END IF;
    IF b.p IS NOT NULL THEN
        PERFORM usage_blob_deltas(b.p, b.dg, b.dir);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION usage_manifest_references_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_ids bigint[];
BEGIN
    IF TG_LEVEL = 'ROW' THEN
        v_ids := ARRAY(SELECT m.id FROM registry_usage_manifests u
                         JOIN manifests m ON m.repository_id = u.repository_id
                                         AND m.digest = NEW.child_digest
                        WHERE u.manifest_id = NEW.parent_id);
    ELSE
        v_ids := ARRAY(SELECT m.id FROM changed_rows c
                        CROSS JOIN LATERAL (SELECT u.repository_id FROM registry_usage_manifests u
                                             WHERE u.manifest_id = c.parent_id OFFSET 0) u
                        CROSS JOIN LATERAL (SELECT m.id FROM manifests m
                                             WHERE m.repository_id = u.repository_id
                                               AND m.digest = c.child_digest OFFSET 0) m);
    END IF;
    IF cardinality(v_ids) > 0 THEN
        PERFORM usage_manifest_deltas(v_ids, array_fill(CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END,
                                                        ARRAY[cardinality(v_ids)]));
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER usage_manifest_blobs_insert AFTER INSERT ON manifest_blobs
    FOR EACH ROW WHEN (current_setting('registry.usage_new_reachable', true) = 'on')
    EXECUTE FUNCTION usage_manifest_blobs_changed();
CREATE OR REPLACE TRIGGER usage_manifest_blobs_delete AFTER DELETE ON manifest_blobs
    REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION usage_manifest_blobs_changed();
CREATE OR REPLACE TRIGGER usage_manifest_references_insert AFTER INSERT ON manifest_references
    FOR EACH ROW WHEN (current_setting('registry.usage_new_reachable', true) = 'on')
    EXECUTE FUNCTION usage_manifest_references_changed();
CREATE OR REPLACE TRIGGER usage_manifest_references_delete AFTER DELETE ON manifest_references
    REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION usage_manifest_references_changed();

-- A new project gets its usage row (its size, the namespace it counts in).
CREATE OR REPLACE FUNCTION usage_projects_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO registry_usage_projects (project_id, root_id)
    SELECT n.id, usage_project_root(n.id) FROM new_rows n
    ON CONFLICT (project_id) DO NOTHING;
    RETURN NULL;
END
$$;

-- A project moved to another namespace.
CREATE OR REPLACE FUNCTION usage_project_moved() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM usage_move_projects(ARRAY[NEW.id]);
    RETURN NULL;
END
$$;

-- A project about to be deleted leaves its namespace's counts, and its own go (a row trigger
-- before the delete: the cascades that take its repositories come after and find nothing). Its
-- blob counts first, then its usage row: the order a push takes them in.
CREATE OR REPLACE FUNCTION usage_project_deleting() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_digests text[];
    v_root bigint;
BEGIN
    WITH gone AS (
        DELETE FROM registry_usage_project_blobs WHERE project_id = OLD.id AND refs > 0
        RETURNING blob_digest)
    SELECT array_agg(blob_digest) INTO v_digests FROM gone;
    DELETE FROM registry_usage_project_blobs WHERE project_id = OLD.id;
    SELECT root_id INTO v_root FROM registry_usage_projects WHERE project_id = OLD.id FOR UPDATE;
    IF v_digests IS NOT NULL THEN
        PERFORM usage_queue(array_fill(NULL::bigint, ARRAY[cardinality(v_digests)]),
                            array_fill(v_root, ARRAY[cardinality(v_digests)]), v_digests,
                            array_fill(-1, ARRAY[cardinality(v_digests)]));
    END IF;
    DELETE FROM registry_usage_manifests WHERE project_id = OLD.id;
    DELETE FROM registry_usage_projects WHERE project_id = OLD.id;
    RETURN OLD;
END
$$;

CREATE OR REPLACE TRIGGER usage_projects_insert AFTER INSERT ON projects
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION usage_projects_inserted();
CREATE OR REPLACE TRIGGER usage_projects_move AFTER UPDATE OF namespace_id ON projects
    FOR EACH ROW WHEN (OLD.namespace_id IS DISTINCT FROM NEW.namespace_id)
    EXECUTE FUNCTION usage_project_moved();
CREATE OR REPLACE TRIGGER usage_projects_delete BEFORE DELETE ON projects
    FOR EACH ROW EXECUTE FUNCTION usage_project_deleting();

-- A namespace whose top-level namespace changed (a group transfer moves every namespace below the
-- group): the projects right in it move.
CREATE OR REPLACE FUNCTION usage_namespace_moved() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM usage_move_projects(ARRAY(SELECT id FROM projects WHERE namespace_id = NEW.id));
    RETURN NULL;
END
$$;

-- A namespace that becomes top-level (created, or a group moved to the top) gets the instance's
-- default limit, unless it was given one.
CREATE OR REPLACE FUNCTION usage_namespace_limit_default() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.parent_id IS NULL AND (TG_OP = 'UPDATE' OR NEW.container_registry_storage_limit = 0) THEN
        NEW.container_registry_storage_limit :=
            coalesce((SELECT default_container_registry_storage_limit FROM application_settings), 0);
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE TRIGGER usage_namespaces_move AFTER UPDATE OF traversal_ids ON namespaces
    FOR EACH ROW WHEN (OLD.traversal_ids[1] IS DISTINCT FROM NEW.traversal_ids[1])
    EXECUTE FUNCTION usage_namespace_moved();
CREATE OR REPLACE TRIGGER usage_namespaces_limit_insert BEFORE INSERT ON namespaces
    FOR EACH ROW EXECUTE FUNCTION usage_namespace_limit_default();
CREATE OR REPLACE TRIGGER usage_namespaces_limit_top BEFORE UPDATE OF parent_id ON namespaces
    FOR EACH ROW WHEN (OLD.parent_id IS NOT NULL AND NEW.parent_id IS NULL)
    EXECUTE FUNCTION usage_namespace_limit_default();

-- ---- recount, check, repair --------------------------------------------------------------------

-- Every count the triggers keep, recomputed from the registry's tables: (kind, id, digest,
-- value), digest '' where it names none. manifest: refs; project_blob, root_blob: refs;
-- project_size, project_root, root_size, root_stored (a blob's stored size: NULL, as pushed).
CREATE OR REPLACE FUNCTION usage_recount()
RETURNS TABLE (kind text, id bigint, digest text, value bigint)
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE reach(manifest_id, repository_id) AS (
        SELECT m.id, m.repository_id FROM manifests m
         WHERE EXISTS (SELECT 1 FROM tags t WHERE t.manifest_id = m.id)
        UNION
        SELECT c.id, c.repository_id
          FROM reach r
          JOIN manifest_references mr ON mr.parent_id = r.manifest_id
          JOIN manifests c ON c.repository_id = r.repository_id AND c.digest = mr.child_digest
    ),
    roots AS (
        SELECT p.id AS project_id, coalesce(n.traversal_ids[1], n.id) AS root_id
          FROM projects p JOIN namespaces n ON n.id = p.namespace_id
    ),
    mrefs AS (
        SELECT r.manifest_id, rp.project_id,
               (SELECT count(*) FROM tags t WHERE t.manifest_id = r.manifest_id)
               + (SELECT count(*) FROM manifest_references mr
                    JOIN reach pr ON pr.manifest_id = mr.parent_id
                                 AND pr.repository_id = r.repository_id
                   WHERE mr.child_digest = m.digest) AS refs
          FROM reach r JOIN manifests m ON m.id = r.manifest_id
          JOIN repositories rp ON rp.id = r.repository_id
    ),
    pblobs AS (
        SELECT u.project_id, mb.blob_digest, count(*) AS refs
          FROM mrefs u JOIN manifest_blobs mb ON mb.manifest_id = u.manifest_id
         GROUP BY u.project_id, mb.blob_digest
    ),
    rblobs AS (
        SELECT ro.root_id, pb.blob_digest, count(*) AS refs
          FROM pblobs pb JOIN roots ro ON ro.project_id = pb.project_id
         GROUP BY ro.root_id, pb.blob_digest
    )
    SELECT 'manifest', manifest_id, '', refs FROM mrefs
    UNION ALL
    SELECT 'project_blob', project_id, blob_digest, refs FROM pblobs
    UNION ALL
    SELECT 'root_blob', root_id, blob_digest, refs FROM rblobs
    UNION ALL
    SELECT 'project_size', ro.project_id, '', coalesce(sum(b.size), 0)::bigint
      FROM roots ro LEFT JOIN pblobs pb ON pb.project_id = ro.project_id
      LEFT JOIN blobs b ON b.digest = pb.blob_digest
     GROUP BY ro.project_id
    UNION ALL
    SELECT 'project_root', project_id, '', root_id FROM roots
    UNION ALL
    SELECT 'root_size', rb.root_id, '', sum(b.size)::bigint
      FROM rblobs rb JOIN blobs b ON b.digest = rb.blob_digest
     GROUP BY rb.root_id
    UNION ALL
    SELECT 'root_stored', rb.root_id, '', sum(coalesce(b.stored_size, b.size))::bigint
      FROM rblobs rb JOIN blobs b ON b.digest = rb.blob_digest
     GROUP BY rb.root_id
$$;

-- The counts as the triggers keep them, in usage_recount()'s shape.
CREATE OR REPLACE FUNCTION usage_stored()
RETURNS TABLE (kind text, id bigint, digest text, value bigint)
LANGUAGE sql STABLE AS $$
    SELECT 'manifest', manifest_id, '', refs::bigint FROM registry_usage_manifests
    UNION ALL
    SELECT 'project_blob', project_id, blob_digest, refs::bigint FROM registry_usage_project_blobs
    UNION ALL
    SELECT 'root_blob', root_id, blob_digest, refs::bigint FROM registry_usage_root_blobs
    UNION ALL
    SELECT 'project_size', project_id, '', size FROM registry_usage_projects
    UNION ALL
    SELECT 'project_root', project_id, '', root_id FROM registry_usage_projects
    UNION ALL
    SELECT 'root_size', namespace_id, '', size FROM registry_usage_roots
    UNION ALL
    SELECT 'root_stored', namespace_id, '', stored_size FROM registry_usage_roots
$$;

-- Where the kept counts differ from a recount (no row: exact).
CREATE OR REPLACE FUNCTION usage_check()
RETURNS TABLE (kind text, id bigint, digest text, stored bigint, recounted bigint)
LANGUAGE sql STABLE AS $$
    SELECT kind, id, digest, s.value, r.value
      FROM usage_stored() s FULL JOIN usage_recount() r USING (kind, id, digest)
     WHERE s.value IS DISTINCT FROM r.value
     ORDER BY kind, id, digest
$$;

-- Rewrites the kept counts from a recount when they differ (an administrator's repair); returns
-- how many counts were wrong. Pushes and deletes wait for it (the usage tables are locked in
-- the order every change takes them).
CREATE OR REPLACE FUNCTION usage_repair() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    LOCK TABLE registry_usage_manifests, registry_usage_project_blobs, registry_usage_pending,
               registry_usage_projects, registry_usage_root_blobs, registry_usage_roots
        IN EXCLUSIVE MODE;
    SELECT count(*) INTO n FROM usage_check();
    IF n = 0 THEN
        RETURN 0;
    END IF;
    DROP TABLE IF EXISTS pg_temp.usage_repair_counts;
    CREATE TEMP TABLE usage_repair_counts ON COMMIT DROP AS SELECT * FROM usage_recount();
    DELETE FROM registry_usage_manifests;
    DELETE FROM registry_usage_project_blobs;
    DELETE FROM registry_usage_root_blobs;
    DELETE FROM registry_usage_roots;
    DELETE FROM registry_usage_projects;
    INSERT INTO registry_usage_projects (project_id, root_id, size)
    SELECT r.id, r.value, s.value FROM usage_repair_counts r
      JOIN usage_repair_counts s ON s.kind = 'project_size' AND s.id = r.id
     WHERE r.kind = 'project_root';
    INSERT INTO registry_usage_manifests (manifest_id, project_id, repository_id, refs)
    SELECT c.id, r.project_id, m.repository_id, c.value
      FROM usage_repair_counts c JOIN manifests m ON m.id = c.id
      JOIN repositories r ON r.id = m.repository_id
     WHERE c.kind = 'manifest';
    INSERT INTO registry_usage_project_blobs (project_id, blob_digest, refs)
    SELECT id, digest, value FROM usage_repair_counts WHERE kind = 'project_blob';
    INSERT INTO registry_usage_root_blobs (root_id, blob_digest, refs)
    SELECT id, digest, value FROM usage_repair_counts WHERE kind = 'root_blob';
    INSERT INTO registry_usage_roots (namespace_id, size, stored_size)
    SELECT s.id, s.value, coalesce(t.value, 0) FROM usage_repair_counts s
      LEFT JOIN usage_repair_counts t ON t.kind = 'root_stored' AND t.id = s.id
     WHERE s.kind = 'root_size';
    RETURN n;
END
$$;

-- ---- reading -----------------------------------------------------------------------------------

-- A top-level namespace's usage (bytes).
CREATE OR REPLACE FUNCTION usage_of_root(p_namespace bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT size FROM registry_usage_roots WHERE namespace_id = p_namespace), 0)
$$;

-- The bytes a top-level namespace's usage takes on disk (its blobs' stored sizes).
CREATE OR REPLACE FUNCTION usage_stored_of_root(p_namespace bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT stored_size FROM registry_usage_roots
                      WHERE namespace_id = p_namespace), 0)
$$;

-- The bytes a project's usage takes on disk, summed when read (its distinct counted blobs): kept
-- per project, a change of a blob's stored size would lock project rows after the blob's, and a
-- transfer, which holds its projects' rows before its commit locks their blobs, would wait on it
-- in a circle.
CREATE OR REPLACE FUNCTION usage_stored_of_project(p_project bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT coalesce(sum(coalesce(b.stored_size, b.size)), 0)::bigint
      FROM registry_usage_project_blobs pb JOIN blobs b ON b.digest = pb.blob_digest
     WHERE pb.project_id = p_project AND pb.refs > 0
$$;

-- ---- stored sizes ------------------------------------------------------------------------------

-- POST /internal/blobs/stored: blobd tells the bytes a blob's file takes on disk (after a
-- compression; p_stored = its size, or NULL: as pushed). The namespaces counting the blob move
-- by the difference. The blob's row is locked FOR UPDATE first (waiting, at most lock_timeout,
-- for pushes and commits that hold it FOR KEY SHARE: blobd asks again on an error), then the
-- namespaces' rows in id order, the order of usage_apply_pending. not_found: no such blob (its
-- row went with garbage collection), ok.
CREATE OR REPLACE FUNCTION usage_blob_stored_set(p_digest text, p_stored bigint,
                                                 OUT status status_word)
LANGUAGE plpgsql SET lock_timeout = '10s' AS $$
DECLARE
    v_size bigint;
    v_old bigint;
    v_new bigint;
BEGIN
    SELECT b.size, coalesce(b.stored_size, b.size) INTO v_size, v_old
      FROM blobs b WHERE b.digest = p_digest FOR UPDATE;
    IF NOT FOUND THEN
        status := 'not_found';
        RETURN;
    END IF;
    status := 'ok';
    v_new := coalesce(p_stored, v_size);
    IF v_new = v_old THEN
        RETURN;
    END IF;
    UPDATE blobs SET stored_size = nullif(v_new, v_size) WHERE digest = p_digest;
    INSERT INTO registry_usage_roots AS u (namespace_id, size, stored_size)
    SELECT rb.root_id, 0, v_new - v_old FROM registry_usage_root_blobs rb
     WHERE rb.blob_digest = p_digest AND rb.refs > 0 ORDER BY rb.root_id
    ON CONFLICT (namespace_id) DO UPDATE SET stored_size = u.stored_size + EXCLUDED.stored_size;
END
$$;

-- ---- limits ------------------------------------------------------------------------------------

-- Why a blob upload into a project may not start: its namespace has reached its limit (the
-- quota_exceeded detail), or NULL.
CREATE OR REPLACE FUNCTION usage_quota_upload(p_project bigint) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_root bigint;
    v_path text;
    v_limit bigint;
    v_used bigint;
BEGIN
    SELECT u.root_id, n.full_path, n.container_registry_storage_limit INTO v_root, v_path, v_limit
      FROM registry_usage_projects u JOIN namespaces n ON n.id = u.root_id
     WHERE u.project_id = p_project;
    IF coalesce(v_limit, 0) = 0 THEN
        RETURN NULL;
    END IF;
    v_used := usage_of_root(v_root);
    IF v_used < v_limit THEN
        RETURN NULL;
    END IF;
    RETURN format('namespace %s uses %s of its limit of %s', v_path, usage_size_text(v_used),
                  usage_size_text(v_limit));
END
$$;

-- Why tagging a manifest of repository p_repo that names p_blobs and the manifests p_children
-- may not be: the blobs it would add to its namespace (usage_new_bytes) take it over its limit
-- (the quota_exceeded detail), or NULL. What the namespace holds already always fits.
CREATE OR REPLACE FUNCTION usage_quota_manifest(p_repo bigint, p_blobs text[], p_children text[])
RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_root bigint;
    v_path text;
    v_limit bigint;
    v_used bigint;
    v_new bigint;
BEGIN
    -- (the same lookup as usage_quota_upload's, by repository: this runs on every tag)
    SELECT u.root_id, n.full_path, n.container_registry_storage_limit INTO v_root, v_path, v_limit
      FROM repositories r JOIN registry_usage_projects u ON u.project_id = r.project_id
      JOIN namespaces n ON n.id = u.root_id
     WHERE r.id = p_repo;
    IF coalesce(v_limit, 0) = 0 THEN
        RETURN NULL;
    END IF;
    v_used := usage_of_root(v_root);
    v_new := usage_new_bytes(v_root, p_repo, p_blobs, p_children);
    IF v_new = 0 OR v_used + v_new <= v_limit THEN
        RETURN NULL;
    END IF;
    RETURN format('namespace %s uses %s of its limit of %s, and this push adds %s', v_path,
                  usage_size_text(v_used), usage_size_text(v_limit), usage_size_text(v_new));
END
$$;

-- The bytes a manifest of repository p_repo naming p_blobs and the manifests p_children (its
-- children's blobs too, nested) would add to namespace p_root: those it does not count yet.
-- (jit off: the walk of an index's children is estimated at thousands of rows, which made
-- PostgreSQL compile the statement on every push under a limit, half a second each time)
CREATE OR REPLACE FUNCTION usage_new_bytes(p_root bigint, p_repo bigint, p_blobs text[],
                                           p_children text[]) RETURNS bigint
LANGUAGE plpgsql STABLE SET jit = off AS $$
DECLARE
    v_new bigint;
BEGIN
    -- (each a probe by key, as usage_blob_deltas' lookups)
    WITH RECURSIVE kids(id) AS (
        SELECT m.id FROM unnest(p_children) AS c(digest)
         CROSS JOIN LATERAL (SELECT m.id FROM manifests m
                              WHERE m.repository_id = p_repo AND m.digest = c.digest OFFSET 0) m
        UNION
        SELECT c.id FROM kids k
         CROSS JOIN LATERAL (SELECT mr.child_digest FROM manifest_references mr
                              WHERE mr.parent_id = k.id OFFSET 0) mr
         CROSS JOIN LATERAL (SELECT c.id FROM manifests c
                              WHERE c.repository_id = p_repo AND c.digest = mr.child_digest
                             OFFSET 0) c
    ),
    wanted(digest) AS (
        SELECT unnest(p_blobs)
        UNION
        SELECT mb.blob_digest FROM kids k
         CROSS JOIN LATERAL (SELECT mb.blob_digest FROM manifest_blobs mb
                              WHERE mb.manifest_id = k.id OFFSET 0) mb
    )
    SELECT coalesce(sum(b.size), 0) INTO v_new
      FROM wanted w
     CROSS JOIN LATERAL (SELECT b.size FROM blobs b WHERE b.digest = w.digest OFFSET 0) b
     WHERE NOT coalesce((SELECT true FROM registry_usage_root_blobs rb
                          WHERE rb.root_id = p_root AND rb.blob_digest = w.digest), false);
    RETURN v_new;
END
$$;

-- Whether a blob upload may start at p_path (POST /internal/uploads): why the path refuses pushes
-- (registry_push_repository), quota_exceeded (detail: the usage and the limit) once its
-- namespace has reached its limit (a quota_exceeded webhook event, hooks_quota_exceeded), or ok.
CREATE OR REPLACE FUNCTION registry_upload_check(p_path text, OUT status status_word,
                                                 OUT detail text)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT x.status INTO status FROM registry_push_repository(p_path, false) x;
    IF status <> 'ok' THEN
        RETURN;
    END IF;
    detail := usage_quota_upload((SELECT x.project_id FROM registry_resolve(p_path) x));
    IF detail IS NOT NULL THEN
        status := 'quota_exceeded';
        PERFORM hooks_quota_exceeded(p_path, NULL, detail, NULL);
    END IF;
END
$$;

-- PUT /namespaces/:id {container_registry_storage_limit} (admins): namespace_not_found,
-- limit_not_root (a subgroup counts in its top-level namespace), ok. A change is an audit event
-- of admin p_user on the group (or the user of a personal namespace).
CREATE OR REPLACE FUNCTION namespace_storage_limit_set(p_id bigint, p_ref text, p_limit bigint,
                                                       p_user bigint,
                                                       OUT status status_word,
                                                       OUT namespace_id bigint)
LANGUAGE plpgsql AS $$
DECLARE
    v_parent bigint;
    v_old bigint;
BEGIN
    SELECT n.id, n.parent_id, n.container_registry_storage_limit INTO namespace_id, v_parent, v_old
      FROM namespaces n WHERE n.id = namespace_ref(p_id, p_ref) FOR UPDATE;
    IF namespace_id IS NULL THEN
        status := 'namespace_not_found';
        RETURN;
    END IF;
    IF p_limit IS NOT NULL THEN
        IF v_parent IS NOT NULL THEN
            status := 'limit_not_root';
            RETURN;
        END IF;
        UPDATE namespaces SET container_registry_storage_limit = p_limit, updated_at = now()
         WHERE id = namespace_id;
        PERFORM audit_record(p_user, CASE WHEN n.kind = 'group' THEN 'Group' ELSE 'User' END,
                             CASE WHEN n.kind = 'group' THEN n.id ELSE n.owner_id END,
                             'Namespace', n.id::text, n.full_path,
                             jsonb_build_object('change', 'container_registry_storage_limit',
                                                'from', v_old::text, 'to', p_limit::text))
           FROM namespaces n WHERE n.id = namespace_id AND v_old IS DISTINCT FROM p_limit;
    END IF;
    status := 'ok';
END
$$;

-- The instance's default limit for new top-level namespaces ([metad]
-- default_container_registry_storage_limit), written when a metad worker starts.
CREATE OR REPLACE FUNCTION usage_default_limit_set(p_limit bigint) RETURNS void
LANGUAGE sql AS $$
    UPDATE application_settings SET default_container_registry_storage_limit = p_limit
     WHERE default_container_registry_storage_limit IS DISTINCT FROM p_limit
$$;
