-- Failed sign-ins per account, across addresses (as GitLab locks an account after 10 failures
-- for 10 minutes): the count since the last success or lock, and until when the account is
-- locked (the lock's length is applied when it is taken).
ALTER TABLE users ADD COLUMN failed_attempts integer NOT NULL DEFAULT 0,
                  ADD COLUMN locked_until timestamptz;
