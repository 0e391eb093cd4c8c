-- As audit_events (051): ANALYZE and autovacuum hold their whole sample at once, 300 rows per
-- unit of a table's largest statistics target. manifests hold each manifest's bytes inline
-- (about 1 KiB), and hook_logs a delivery's payload and answer, for 7 days. At the default
-- target, an analyze of 60,000 manifests raised its backend's peak by 88 MiB (the sample of
-- 30,000 rows, and the payloads' own statistics); at 10 it is 7 MiB (3,000 rows). The queries
-- on both tables find rows by index (manifests: repository and digest, subject, id; hook_logs:
-- hook and id, creation time) and keep their plans at a target of 10; the columns no query
-- filters on keep no statistics.
ALTER TABLE manifests
    ALTER COLUMN id SET STATISTICS 10,
    ALTER COLUMN repository_id SET STATISTICS 10,
    ALTER COLUMN digest SET STATISTICS 10,
    ALTER COLUMN media_type SET STATISTICS 10,
    ALTER COLUMN artifact_type SET STATISTICS 10,
    ALTER COLUMN config_digest SET STATISTICS 10,
    ALTER COLUMN config_media_type SET STATISTICS 10,
    ALTER COLUMN subject_digest SET STATISTICS 10,
    ALTER COLUMN created_at SET STATISTICS 10,
    ALTER COLUMN schema_version SET STATISTICS 0,
    ALTER COLUMN annotations SET STATISTICS 0,
    ALTER COLUMN payload SET STATISTICS 0,
    ALTER COLUMN total_size SET STATISTICS 0;

ALTER TABLE hook_logs
    ALTER COLUMN id SET STATISTICS 10,
    ALTER COLUMN hook_id SET STATISTICS 10,
    ALTER COLUMN response_status SET STATISTICS 10,
    ALTER COLUMN created_at SET STATISTICS 10,
    ALTER COLUMN trigger SET STATISTICS 0,
    ALTER COLUMN url SET STATISTICS 0,
    ALTER COLUMN request_headers SET STATISTICS 0,
    ALTER COLUMN request_data SET STATISTICS 0,
    ALTER COLUMN response_headers SET STATISTICS 0,
    ALTER COLUMN response_body SET STATISTICS 0,
    ALTER COLUMN execution_duration SET STATISTICS 0,
    ALTER COLUMN internal_error_message SET STATISTICS 0;
