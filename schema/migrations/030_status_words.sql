-- One set of status words for every write function (schema/functions/), in place of each
-- function's own text words and English messages. common/status.def mirrors this list and says
-- what each word tells a client; a word added later comes with its own migration
-- (ALTER TYPE status_word ADD VALUE) and its row in status.def.
CREATE TYPE status_word AS ENUM (
    'ok', 'not_found', 'parent_not_found', 'target_not_found', 'group_not_found',
    'namespace_not_found', 'user_not_found', 'member_not_found', 'link_not_found',
    'repository_not_found', 'tag_not_found', 'group_denied', 'forbidden', 'last_owner',
    'limit_reached', 'path_taken', 'taken', 'namespace_invalid', 'visibility',
    'visibility_parent', 'visibility_subgroups', 'visibility_projects', 'expires_past',
    'below_inherited', 'member_exists', 'already_shared', 'group_already_shared', 'same_group',
    'already_root', 'already_in_parent', 'transfer_forbidden', 'parent_has_path', 'into_subgroup',
    'transfer_refused', 'namespace_has_project', 'throttled', 'no_project', 'too_deep',
    'registry_disabled', 'repository_deleting', 'blob_unknown', 'manifest_unknown',
    'size_mismatch'
);

-- The write functions now answer status_word: their text versions go, and schema/functions/
-- defines them again (a result type cannot change in place).
DROP FUNCTION IF EXISTS group_create(bigint, boolean, text, text, bigint, text, text);
DROP FUNCTION IF EXISTS group_update(bigint, boolean, bigint, text, text, text, text, text);
DROP FUNCTION IF EXISTS group_delete(bigint, boolean, bigint, text);
DROP FUNCTION IF EXISTS group_transfer(bigint, boolean, bigint, text, bigint);
DROP FUNCTION IF EXISTS project_create(bigint, boolean, bigint, text, text, text, text, text);
DROP FUNCTION IF EXISTS project_update(bigint, boolean, bigint, text, text, text, text, text, text);
DROP FUNCTION IF EXISTS project_delete(bigint, boolean, bigint, text);
DROP FUNCTION IF EXISTS project_transfer(bigint, boolean, bigint, text, bigint, text);
DROP FUNCTION IF EXISTS member_add(bigint, boolean, text, bigint, text, bigint, integer, date);
DROP FUNCTION IF EXISTS member_update(bigint, boolean, text, bigint, text, bigint, integer, boolean,
                                      date);
DROP FUNCTION IF EXISTS member_remove(bigint, boolean, text, bigint, text, bigint);
DROP FUNCTION IF EXISTS project_share(bigint, boolean, bigint, text, bigint, integer, date);
DROP FUNCTION IF EXISTS project_unshare(bigint, boolean, bigint, text, bigint);
DROP FUNCTION IF EXISTS group_share(bigint, boolean, bigint, text, bigint, integer, date);
DROP FUNCTION IF EXISTS group_unshare(bigint, boolean, bigint, text, bigint);
DROP FUNCTION IF EXISTS registry_repository_delete(bigint, boolean, bigint, bigint);
DROP FUNCTION IF EXISTS registry_cleanup_request(bigint, boolean, bigint, bigint, jsonb);
DROP FUNCTION IF EXISTS registry_tag_delete(bigint, boolean, bigint, bigint, text);
DROP FUNCTION IF EXISTS registry_push_repository(text, boolean);
DROP FUNCTION IF EXISTS registry_link_blob(text, text, bigint);
DROP FUNCTION IF EXISTS registry_mount_blob(text, text, text, boolean, bigint, boolean, bigint);
DROP FUNCTION IF EXISTS registry_put_manifest(text, text, text, text, text, text, text, jsonb, bytea,
                                              text[], bigint[], text[], text);
