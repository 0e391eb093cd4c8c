-- registry_put_manifest takes the grant on its path itself (it resolves the path once for the
-- grant check, the repository and the tag's protection); the old argument list goes.
DROP FUNCTION IF EXISTS registry_put_manifest(text, text, text, text, text, text, text, jsonb, bytea,
                                              text[], bigint[], text[], text, bigint, boolean, jsonb);
