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
