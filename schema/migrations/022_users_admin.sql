-- GitLab's ban: a banned user, like a blocked one, cannot sign in (credentials check for
-- 'active'); only active users are banned, and unbanning makes them active again.
ALTER TABLE users DROP CONSTRAINT users_state_check;
ALTER TABLE users ADD CONSTRAINT users_state_check
    CHECK (state IN ('active', 'blocked', 'banned'));

-- Impersonation tokens: personal access tokens an admin makes for a user, which sign in as that
-- user like the user's own but are listed and revoked under /users/:id/impersonation_tokens.
ALTER TABLE personal_access_tokens ADD COLUMN impersonation boolean NOT NULL DEFAULT false;

-- The user status (GitLab's user_statuses): an emoji, a message, an availability, and the time
-- it clears itself at (a status past it reads as none).
CREATE TABLE user_statuses (
    user_id bigint PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    emoji text NOT NULL,
    message text,
    availability text NOT NULL CHECK (availability IN ('not_set', 'busy')),
    clear_status_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now()
);
