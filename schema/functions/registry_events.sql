-- The registry's events, told by the tables: one trigger per change feeds both queues of
-- hook_deliveries, the webhooks' (hooks_enqueue, hooks.sql: GitLab's container_registry events)
-- and the notification endpoints' (notify_enqueue, notifications.sql: Distribution's envelopes),
-- in that order, in the transaction of the change. The two differ where their models do: a
-- webhook's tag delete carries the digest and a manifest's delete is told per tag, while
-- Distribution names a deleted tag alone, a deleted manifest by its digest, and tells a pushed
-- manifest without a tag.

-- Whether the repository p_repo is not being deleted (its own event tells then).
CREATE OR REPLACE FUNCTION registry_events_repository_live(p_repo bigint) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM repositories r WHERE r.id = p_repo AND r.status IS NULL)
$$;

-- A manifest was stored: Distribution's push without a tag, unless the push names a tag (the
-- tag's event then reports it). Webhooks tell tags only.
CREATE OR REPLACE FUNCTION registry_events_manifest_pushed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(registry_request_context() ->> 'tag', '') = '' THEN
        PERFORM notify_enqueue(NEW.repository_id, 'push', NULL, NEW.id);
    END IF;
    RETURN NULL;
END
$$;

-- A tag was created or moved: a push event of its manifest with the tag.
CREATE OR REPLACE FUNCTION registry_events_tag_pushed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM hooks_enqueue(NEW.repository_id, 'push', NEW.name, NEW.manifest_id);
    PERFORM notify_enqueue(NEW.repository_id, 'push', NEW.name, NEW.manifest_id);
    RETURN NULL;
END
$$;

-- A tag was deleted: a delete event, unless its repository is going or its manifest went first
-- (their own events report that): the webhooks' with the digest, Distribution's with the tag.
CREATE OR REPLACE FUNCTION registry_events_tag_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF registry_events_repository_live(OLD.repository_id)
       AND EXISTS (SELECT 1 FROM manifests m WHERE m.id = OLD.manifest_id) THEN
        PERFORM hooks_enqueue(OLD.repository_id, 'delete', OLD.name, OLD.manifest_id);
        PERFORM notify_enqueue(OLD.repository_id, 'delete', OLD.name, NULL);
    END IF;
    RETURN NULL;
END
$$;

-- A manifest is about to be deleted with its tags (a /v2 delete by digest), unless its repository
-- is going: a webhook delete event for each tag and Distribution's with the digest, while the
-- manifest is still there to describe.
CREATE OR REPLACE FUNCTION registry_events_manifest_deleting() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    t record;
BEGIN
    IF registry_events_repository_live(OLD.repository_id) THEN
        FOR t IN SELECT name FROM tags WHERE manifest_id = OLD.id ORDER BY name LOOP
            PERFORM hooks_enqueue(OLD.repository_id, 'delete', t.name, OLD.id);
        END LOOP;
        PERFORM notify_enqueue(OLD.repository_id, 'delete', NULL, OLD.id);
    END IF;
    RETURN OLD;
END
$$;

-- A repository is deleted: the webhooks' repository_delete event (the hooks of a project deleted
-- with it are gone already) and Distribution's delete naming the repository alone.
CREATE OR REPLACE FUNCTION registry_events_repository_deleting() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM hooks_enqueue(OLD.id, 'repository_delete', NULL, NULL);
    PERFORM notify_enqueue(OLD.id, 'delete', NULL, NULL);
    RETURN OLD;
END
$$;

-- The triggers each queue had of its own until both were fed from here.
DROP TRIGGER IF EXISTS hooks_tag_pushed ON tags;
DROP TRIGGER IF EXISTS hooks_tag_deleted ON tags;
DROP TRIGGER IF EXISTS hooks_manifest_deleting ON manifests;
DROP TRIGGER IF EXISTS hooks_repository_deleting ON repositories;
DROP TRIGGER IF EXISTS notify_manifest_pushed ON manifests;
DROP TRIGGER IF EXISTS notify_tag_pushed ON tags;
DROP TRIGGER IF EXISTS notify_tag_deleted ON tags;
DROP TRIGGER IF EXISTS notify_manifest_deleting ON manifests;
DROP TRIGGER IF EXISTS notify_repository_deleting ON repositories;
DROP FUNCTION IF EXISTS hooks_tag_pushed(), hooks_tag_deleted(), hooks_manifest_deleting(),
    hooks_repository_deleting(), notify_manifest_pushed(), notify_tag_pushed(),
    notify_tag_deleted(), notify_manifest_deleting(), notify_repository_deleting();

CREATE OR REPLACE TRIGGER registry_events_manifest_pushed AFTER INSERT ON manifests
    FOR EACH ROW EXECUTE FUNCTION registry_events_manifest_pushed();
CREATE OR REPLACE TRIGGER registry_events_tag_pushed AFTER INSERT OR UPDATE OF manifest_id ON tags
    FOR EACH ROW EXECUTE FUNCTION registry_events_tag_pushed();
CREATE OR REPLACE TRIGGER registry_events_tag_deleted AFTER DELETE ON tags
    FOR EACH ROW EXECUTE FUNCTION registry_events_tag_deleted();
CREATE OR REPLACE TRIGGER registry_events_manifest_deleting BEFORE DELETE ON manifests
    FOR EACH ROW EXECUTE FUNCTION registry_events_manifest_deleting();
CREATE OR REPLACE TRIGGER registry_events_repository_deleting BEFORE DELETE ON repositories
    FOR EACH ROW EXECUTE FUNCTION registry_events_repository_deleting();
