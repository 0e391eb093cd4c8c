-- The rules of rights got one home each (schema/functions/rights.sql): the pull right is
-- registry_can_pull() for every caller, and registry_api_can() takes the registry action whose
-- role it needs instead of a number. The old definitions go; the functions are (re)defined after
-- the migrations.
DROP FUNCTION IF EXISTS registry_user_can_pull(bigint, boolean, bigint);
DROP FUNCTION IF EXISTS registry_api_can(bigint, boolean, bigint, integer);
