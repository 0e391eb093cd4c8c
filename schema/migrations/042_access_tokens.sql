-- Project and group access tokens (GitLab's resource access tokens). Each token is a personal
-- access token of a bot user made for it: users.user_type 'project_bot' (GitLab's name for the
-- bots of projects and groups alike), tied to its project or group, whose deletion takes the
-- bot, its membership and its tokens with it. The secrets stay in personal_access_tokens, which
-- only authd's role reads; user_type and the bot's resource are plain columns of users.
ALTER TABLE users
    ADD COLUMN user_type text NOT NULL DEFAULT 'human' CHECK (user_type IN ('human', 'project_bot')),
    ADD COLUMN bot_project_id bigint REFERENCES projects (id) ON DELETE CASCADE,
    ADD COLUMN bot_group_id bigint REFERENCES namespaces (id) ON DELETE CASCADE,
    ADD CONSTRAINT users_bot_resource
        CHECK ((user_type = 'project_bot') = (num_nonnulls(bot_project_id, bot_group_id) = 1));
CREATE INDEX users_bot_project_idx ON users (bot_project_id) WHERE bot_project_id IS NOT NULL;
CREATE INDEX users_bot_group_idx ON users (bot_group_id) WHERE bot_group_id IS NOT NULL;

-- the refusals of the access tokens' writes (common/status.def)
ALTER TYPE status_word ADD VALUE 'unauthorized';
ALTER TYPE status_word ADD VALUE 'not_allowed';
ALTER TYPE status_word ADD VALUE 'token_create_denied';
ALTER TYPE status_word ADD VALUE 'token_owner_level';
ALTER TYPE status_word ADD VALUE 'token_level_above';
ALTER TYPE status_word ADD VALUE 'token_rotate_level';
ALTER TYPE status_word ADD VALUE 'token_expires_past';
ALTER TYPE status_word ADD VALUE 'token_expires_far';
ALTER TYPE status_word ADD VALUE 'token_revoked';
ALTER TYPE status_word ADD VALUE 'token_revoke_denied';
ALTER TYPE status_word ADD VALUE 'token_not_found';
