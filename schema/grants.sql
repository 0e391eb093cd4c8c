-- What metad's database role may do when it is not the schema's owner ([authd] metad_role;
-- docs/INTERNALS.md, "Privilege separation"). The role that owns the schema (authd's) applies
-- this after the migrations and the functions, at every start, in one transaction; the setting
-- registry.metad_role names the role, created (NOLOGIN) when it does not exist yet, for a
-- deployment to grant to metad's login role.
--
-- metad gets the metadata and nothing of the credentials: no table that holds a secret (a column
-- named *_hash or *_lookup: password and token hashes, token lookup prefixes) and no rate-limit
-- rows, except the other columns of users and deploy_tokens, which rights, member lists and the
-- catalog read. A new secret column named that way stays authd's alone.
DO $grants$
DECLARE
    r text := current_setting('registry.metad_role');
    t regclass;
    cols text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
        EXECUTE format('CREATE ROLE %I NOLOGIN', r);
    END IF;
    IF pg_has_role(r, current_user, 'USAGE') THEN
        RAISE EXCEPTION 'role % has the privileges of the schema''s owner %: it would read '
                        'the credentials', r, current_user;
    END IF;
    EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO %I',
                   current_schema(), r);
    EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO %I', current_schema(), r);
    -- the schema's version: metad reads it to wait for the owner, never writes it
    EXECUTE format('REVOKE INSERT, UPDATE, DELETE ON schema_migrations, schema_functions FROM %I',
                   r);
    -- the audit events are append-only (schema/functions/audit.sql): metad records and reads them
    EXECUTE format('REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM %I', r);
    FOR t IN
        SELECT DISTINCT a.attrelid::regclass
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p')
          AND NOT a.attisdropped AND (a.attname LIKE '%\_hash' OR a.attname LIKE '%\_lookup')
        UNION SELECT 'auth_failures'::regclass
    LOOP
        EXECUTE format('REVOKE ALL ON %s FROM %I', t, r);
        IF t IN ('users'::regclass, 'deploy_tokens'::regclass) THEN
            SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO cols
            FROM pg_attribute
            WHERE attrelid = t AND attnum > 0 AND NOT attisdropped
              AND attname NOT LIKE '%\_hash' AND attname NOT LIKE '%\_lookup';
            EXECUTE format('GRANT SELECT (%s) ON %s TO %I', cols, t, r);
        END IF;
    END LOOP;
END
$grants$;
