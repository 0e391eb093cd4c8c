-- Exact container registry usage, and storage limits per top-level namespace.
--
-- Usage is GitLab's: the distinct layer and config blobs (manifest_blobs) of every manifest a tag
-- reaches, directly or through tagged indexes (nested), each blob counted once per project and
-- once per top-level namespace however many repositories share it. The triggers of
-- schema/functions/usage.sql keep reference counts current with every change, so that a read is
-- one row:
--
--   registry_usage_manifests      manifests a tag reaches: refs = the tags naming it + the
--                                 reachable indexes of its repository listing its digest
--   registry_usage_project_blobs  refs = the reachable manifests of the project naming the blob
--   registry_usage_root_blobs     refs = the projects of the top-level namespace counting it
--   registry_usage_projects       one row per project: its size and the top-level namespace it
--                                 counts in (a transfer locks it while it moves the project)
--   registry_usage_roots          a top-level namespace's size (no row: 0)
--   registry_usage_pending        a transaction's changes to what projects and namespaces share,
--                                 applied at its commit in one ordered pass
--
-- A count going 0 <-> 1 moves the size above it. No table here has a foreign key: rows go with
-- the triggers, in the order the triggers choose, never with a cascade's own.

ALTER TYPE status_word ADD VALUE 'quota_exceeded';
ALTER TYPE status_word ADD VALUE 'limit_not_root';

-- bytes; 0: no limit. Only a top-level namespace's counts.
ALTER TABLE namespaces ADD COLUMN container_registry_storage_limit bigint NOT NULL DEFAULT 0
    CHECK (container_registry_storage_limit >= 0);

-- Settings of the whole instance (one row). metad writes default_container_registry_storage_limit
-- from its configuration when a worker starts; a namespace that becomes top-level takes it.
CREATE TABLE application_settings (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    default_container_registry_storage_limit bigint NOT NULL DEFAULT 0
        CHECK (default_container_registry_storage_limit >= 0)
);
INSERT INTO application_settings DEFAULT VALUES;

CREATE TABLE registry_usage_projects (
    project_id bigint PRIMARY KEY,
    root_id bigint NOT NULL,
    size bigint NOT NULL DEFAULT 0
);
CREATE INDEX registry_usage_projects_root_idx ON registry_usage_projects (root_id);

CREATE TABLE registry_usage_roots (
    namespace_id bigint PRIMARY KEY,
    size bigint NOT NULL
);

CREATE TABLE registry_usage_manifests (
    manifest_id bigint PRIMARY KEY,
    project_id bigint NOT NULL,
    repository_id bigint NOT NULL,
    refs integer NOT NULL
);
CREATE INDEX registry_usage_manifests_project_idx ON registry_usage_manifests (project_id);

CREATE TABLE registry_usage_project_blobs (
    project_id bigint NOT NULL,
    blob_digest text COLLATE "C" NOT NULL,
    refs integer NOT NULL,
    PRIMARY KEY (project_id, blob_digest)
);

CREATE TABLE registry_usage_root_blobs (
    root_id bigint NOT NULL,
    blob_digest text COLLATE "C" NOT NULL,
    refs integer NOT NULL,
    PRIMARY KEY (root_id, blob_digest)
);

-- (every row lives for one transaction: vacuumed often, so that it stays a page or two)
CREATE TABLE registry_usage_pending (
    xid xid8 PRIMARY KEY,
    project_ids bigint[] NOT NULL,   -- a blob counted in a project or not (namespace: read then)
    root_ids bigint[] NOT NULL,      -- or in a namespace (project NULL)
    blob_digests text[] NOT NULL,
    deltas integer[] NOT NULL
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000,
        autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 1000);

-- A manifest pushed again under an index that names its digest (usage: is it reachable?) is
-- found by manifest_references_child_idx, which 033_gc.sql made.

-- The counts of what is there already, as usage_recount() of schema/functions/usage.sql has them
-- (spelled out: migrations run before the functions are defined).
INSERT INTO registry_usage_projects (project_id, root_id)
SELECT p.id, coalesce(n.traversal_ids[1], n.id)
  FROM projects p JOIN namespaces n ON n.id = p.namespace_id;

WITH RECURSIVE reach(manifest_id, repository_id) AS (
    SELECT m.id, m.repository_id FROM manifests m WHERE EXISTS (SELECT 1 FROM tags t
                                                                 WHERE t.manifest_id = m.id)
    UNION
    SELECT c.id, c.repository_id
      FROM reach r
      JOIN manifest_references mr ON mr.parent_id = r.manifest_id
      JOIN manifests c ON c.repository_id = r.repository_id AND c.digest = mr.child_digest
)
INSERT INTO registry_usage_manifests (manifest_id, project_id, repository_id, refs)
SELECT r.manifest_id, rp.project_id, r.repository_id,
       (SELECT count(*) FROM tags t WHERE t.manifest_id = r.manifest_id)
       + (SELECT count(*) FROM manifest_references mr
            JOIN reach pr ON pr.manifest_id = mr.parent_id AND pr.repository_id = r.repository_id
           WHERE mr.child_digest = m.digest)
  FROM reach r JOIN manifests m ON m.id = r.manifest_id
  JOIN repositories rp ON rp.id = r.repository_id;

INSERT INTO registry_usage_project_blobs (project_id, blob_digest, refs)
SELECT u.project_id, mb.blob_digest, count(*)
  FROM registry_usage_manifests u JOIN manifest_blobs mb ON mb.manifest_id = u.manifest_id
 GROUP BY u.project_id, mb.blob_digest;

INSERT INTO registry_usage_root_blobs (root_id, blob_digest, refs)
SELECT p.root_id, pb.blob_digest, count(*)
  FROM registry_usage_project_blobs pb JOIN registry_usage_projects p ON p.project_id = pb.project_id
 GROUP BY p.root_id, pb.blob_digest;

UPDATE registry_usage_projects p SET size = s.size
  FROM (SELECT pb.project_id, sum(b.size) AS size
          FROM registry_usage_project_blobs pb JOIN blobs b ON b.digest = pb.blob_digest
         GROUP BY pb.project_id) s
 WHERE s.project_id = p.project_id;

INSERT INTO registry_usage_roots (namespace_id, size)
SELECT rb.root_id, sum(b.size)
  FROM registry_usage_root_blobs rb JOIN blobs b ON b.digest = rb.blob_digest
 GROUP BY rb.root_id;
