-- The request writing to an upload session in S3 holds it for a while (upload_session_reserve in
-- schema/functions/uploads.sql): it sends each part as it fills, and a part S3 received is part of
-- the multipart upload whether or not the session ever names it, which Ceph RGW refuses at
-- completion when the parts differ. So no other request takes the session over while its holder
-- may still be sending; the hold of a holder that died lapses at held_until.
ALTER TABLE upload_sessions ADD COLUMN holder text, ADD COLUMN held_until timestamptz;

-- The reservation names its holder now.
DROP FUNCTION IF EXISTS upload_session_reserve(text, bigint, integer);

-- A session another request is writing to.
ALTER TYPE status_word ADD VALUE 'upload_busy';
