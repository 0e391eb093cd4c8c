-- Upload sessions of blobd's S3 storage (migration 040; docs/INTERNALS.md, "Blob storage"). Every
-- change is a compare-and-set on the session's version: of two requests that read one version,
-- one moves it on and the other gets 'upload_moved', so no byte is counted twice or lost.

-- A new session (its multipart upload made already).
CREATE OR REPLACE FUNCTION upload_session_create(p_id text, p_repository text, p_project_id bigint,
                                                 p_generation bigint, p_algorithm text,
                                                 p_hash_state text, p_upload_id text,
                                                 OUT status status_word)
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO upload_sessions (id, repository, project_id, generation, algorithm, hash_state,
                                 upload_id)
    VALUES (p_id, p_repository, p_project_id, p_generation, p_algorithm, p_hash_state,
            p_upload_id)
    ON CONFLICT (id) DO NOTHING;
    status := CASE WHEN FOUND THEN 'ok' ELSE 'taken' END;
END
$$;

-- A writer that read p_version reserves p_parts part numbers (from first_part on) before it
-- sends them, and the session's next version is its own: a writer that read the same version
-- gets 'upload_moved' before it sends a byte, and no two writers ever send the same part number.
-- The writer p_holder holds the session for 15 seconds, renewed by each reservation it makes at
-- the version it holds (blobd renews it before a part once it is 5 seconds old), until its save:
-- another writer gets 'upload_busy' meanwhile. (blobd numbers parts by their place in the blob
-- and reserves none: p_parts stays for older nodes during a rollout.)
CREATE OR REPLACE FUNCTION upload_session_reserve(p_id text, p_version bigint, p_parts integer,
                                                  p_holder text, OUT status status_word,
                                                  OUT version bigint, OUT first_part integer)
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE upload_sessions s
       SET version = s.version + 1, next_part = s.next_part + greatest(p_parts, 0),
           holder = p_holder, held_until = now() + interval '15 seconds', updated_at = now()
     WHERE s.id = p_id AND s.version = p_version
       AND (s.holder IS NULL OR s.holder = p_holder OR s.held_until < now())
    RETURNING s.version, s.next_part - greatest(p_parts, 0) INTO version, first_part;
    IF FOUND THEN
        status := 'ok';
    ELSIF EXISTS (SELECT 1 FROM upload_sessions s WHERE s.id = p_id AND s.version = p_version) THEN
        status := 'upload_busy';
    ELSIF EXISTS (SELECT 1 FROM upload_sessions s WHERE s.id = p_id) THEN
        status := 'upload_moved';
    ELSE
        status := 'not_found';
    END IF;
END
$$;

-- A writer's bytes are in S3: the session's count, hash state, new parts and tail, if the
-- session is still at the version its reservation made. old_tail: the tail object it replaced.
CREATE OR REPLACE FUNCTION upload_session_save(p_id text, p_version bigint, p_byte_count bigint,
                                               p_hash_state text, p_parts jsonb,
                                               p_tail_name text, p_tail_length bigint,
                                               OUT status status_word, OUT version bigint,
                                               OUT old_tail text)
LANGUAGE plpgsql AS $$
BEGIN
    SELECT s.tail_name INTO old_tail FROM upload_sessions s
     WHERE s.id = p_id AND s.version = p_version FOR UPDATE;
    IF NOT FOUND THEN
        status := CASE WHEN EXISTS (SELECT 1 FROM upload_sessions s WHERE s.id = p_id)
                       THEN 'upload_moved' ELSE 'not_found' END;
        RETURN;
    END IF;
    UPDATE upload_sessions s
       SET byte_count = p_byte_count, hash_state = p_hash_state,
           parts = s.parts || coalesce(p_parts, '[]'), tail_name = p_tail_name,
           tail_length = p_tail_length, version = s.version + 1, holder = NULL,
           held_until = NULL, updated_at = now()
     WHERE s.id = p_id
    RETURNING s.version INTO version;
    status := 'ok';
END
$$;

-- The session goes (finished, cancelled, or purged): at the version read when p_version is given.
CREATE OR REPLACE FUNCTION upload_session_delete(p_id text, p_version bigint,
                                                 OUT status status_word)
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM upload_sessions s
     WHERE s.id = p_id AND (p_version IS NULL OR s.version = p_version);
    IF FOUND THEN
        status := 'ok';
    ELSIF EXISTS (SELECT 1 FROM upload_sessions s WHERE s.id = p_id) THEN
        status := 'upload_moved';
    ELSE
        status := 'not_found';
    END IF;
END
$$;
