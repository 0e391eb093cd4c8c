-- ANALYZE (and autovacuum's) samples 300 rows per unit of the largest statistics target among a
-- table's columns, and holds the whole rows of its sample in memory at once. audit_events only
-- grows, and its rows are wide (a details document, names, paths): at the default target of 100
-- each analyze of it held 30,000 of them, 17 MiB in an autovacuum worker. Its queries find rows
-- by index (entity, id, created_at, author) and no plan needs finer statistics than a target of
-- 10 gives (3,000 rows); the columns no query filters on keep none.
ALTER TABLE audit_events
    ALTER COLUMN id SET STATISTICS 10,
    ALTER COLUMN author_id SET STATISTICS 10,
    ALTER COLUMN entity_type SET STATISTICS 10,
    ALTER COLUMN entity_id SET STATISTICS 10,
    ALTER COLUMN created_at SET STATISTICS 10,
    ALTER COLUMN author_name SET STATISTICS 0,
    ALTER COLUMN author_email SET STATISTICS 0,
    ALTER COLUMN entity_path SET STATISTICS 0,
    ALTER COLUMN target_id SET STATISTICS 0,
    ALTER COLUMN target_type SET STATISTICS 0,
    ALTER COLUMN target_details SET STATISTICS 0,
    ALTER COLUMN ip_address SET STATISTICS 0,
    ALTER COLUMN details SET STATISTICS 0;
