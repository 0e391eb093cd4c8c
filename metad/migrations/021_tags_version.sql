-- A per-repository counter that moves with every change to the repository's tags, in the same
-- transaction. metad workers keep tags/list answers and ask PostgreSQL only whether the counter
-- they were built at is still current: listing a thousand tags costs far more than that check.
-- Triggers cover every path that writes tags: pushes, deletes by the API or by cleanup policies,
-- and the cascades from manifests. Pushes write one tag at a time, and a push that changes no tag
-- (the same manifest again) should cost nothing: row triggers. Deletes come in thousands: one
-- statement trigger.

ALTER TABLE repositories ADD COLUMN tags_version bigint NOT NULL DEFAULT 0;

CREATE FUNCTION tags_bump_version_row() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE repositories SET tags_version = tags_version + 1 WHERE id = NEW.repository_id;
    IF TG_OP = 'UPDATE' AND OLD.repository_id <> NEW.repository_id THEN
        UPDATE repositories SET tags_version = tags_version + 1 WHERE id = OLD.repository_id;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION tags_bump_version_deleted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE repositories SET tags_version = tags_version + 1
     WHERE id IN (SELECT repository_id FROM old_rows);
    RETURN NULL;
END
$$;

CREATE TRIGGER tags_version_write AFTER INSERT OR UPDATE ON tags
    FOR EACH ROW EXECUTE FUNCTION tags_bump_version_row();
CREATE TRIGGER tags_version_delete AFTER DELETE ON tags
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tags_bump_version_deleted();
