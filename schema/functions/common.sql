-- Small helpers every area uses: GitLab's time format, search patterns, role names.

-- Timestamps as GitLab's API prints them: 2026-11-28T10:00:00.123Z
CREATE OR REPLACE FUNCTION gl_time(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

-- The ILIKE pattern matching q anywhere, with q's own wildcards taken literally.
CREATE OR REPLACE FUNCTION like_pattern(q text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT '%' || replace(replace(replace(q, '\', '\\'), '%', '\%'), '_', '\_') || '%'
$$;

-- GitLab's role names, as its messages print them.
CREATE OR REPLACE FUNCTION access_level_name(l integer) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE l WHEN 10 THEN 'Guest' WHEN 20 THEN 'Reporter' WHEN 30 THEN 'Developer'
                  WHEN 40 THEN 'Maintainer' WHEN 50 THEN 'Owner' ELSE 'No access' END
$$;

-- The end of the WAL record at lsn's position: pg_current_wal_insert_lsn() points past the next
-- page's header (24 bytes, 40 at a segment's start) when the last record ended exactly at a page
-- boundary, where a replica's pg_last_wal_replay_lsn() stops; a read's fence is the record's end.
CREATE OR REPLACE FUNCTION wal_end_of_record(lsn pg_lsn) RETURNS pg_lsn
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN pos % pg_size_bytes(current_setting('wal_segment_size')) = 40 THEN lsn - 40
                WHEN pos % current_setting('wal_block_size')::numeric = 24 THEN lsn - 24
                ELSE lsn END
    FROM (SELECT lsn - '0/0'::pg_lsn AS pos) p
$$;

-- The WAL position the server's writes so far reached, as a replica's replay position counts it.
CREATE OR REPLACE FUNCTION wal_written_lsn() RETURNS pg_lsn
LANGUAGE sql VOLATILE AS $$
    SELECT wal_end_of_record(pg_current_wal_insert_lsn())
$$;
