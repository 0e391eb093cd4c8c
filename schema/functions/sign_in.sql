-- Counts a failed password sign-in of user p_user (any address). The p_max-th failure in a row
-- locks the account for p_minutes; a failure after a lock ran out starts a new count. Answers
-- whether the account is locked now. The failure is an audit event of the account, by someone
-- who did not sign in (GitLab's failed_login).
CREATE OR REPLACE FUNCTION user_sign_in_failed(p_user bigint, p_max integer, p_minutes integer)
RETURNS boolean LANGUAGE sql AS $$
    SELECT audit_record(-1, 'User', u.id, 'User', u.id::text, u.username,
                        jsonb_build_object('failed_login', 'STANDARD', 'author_name', u.username))
      FROM users u WHERE u.id = p_user;
    UPDATE users
       SET failed_attempts = CASE WHEN locked_until IS NOT NULL AND locked_until <= now() THEN 1
                                  ELSE failed_attempts + 1 END,
           locked_until = CASE
               WHEN locked_until > now() THEN locked_until
               WHEN (CASE WHEN locked_until IS NOT NULL THEN 1 ELSE failed_attempts + 1 END) >= p_max
                   THEN now() + make_interval(mins => p_minutes)
               ELSE NULL END
     WHERE id = p_user
    RETURNING locked_until > now();
$$;

-- A successful sign-in or an admin's unlock: the count starts afresh and any lock ends.
CREATE OR REPLACE FUNCTION user_sign_in_reset(p_user bigint) RETURNS boolean
LANGUAGE sql AS $$
    UPDATE users SET failed_attempts = 0, locked_until = NULL
     WHERE id = p_user AND (failed_attempts > 0 OR locked_until IS NOT NULL)
    RETURNING true;
$$;

-- A successful password sign-in of p_user: the count of failures starts afresh (and any lock
-- ends), and the sign-in is an audit event of the account (GitLab's "with": "standard").
CREATE OR REPLACE FUNCTION user_signed_in(p_user bigint) RETURNS void
LANGUAGE sql AS $$
    SELECT user_sign_in_reset(p_user);
    SELECT audit_record(p_user, 'User', p_user, 'User', p_user::text, NULL,
                        jsonb_build_object('with', 'standard'));
$$;
